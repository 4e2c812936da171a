import Logging

/// A logger that drops everything (keeps test output readable).
let quietLogger = Logger(label: "quiet", factory: { _ in SwiftLogNoOpLogHandler() })
