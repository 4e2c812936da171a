import Foundation
import Logging
import ProximaConfig
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where formatted log entries go (config `log`): stderr, a file reopened on SIGUSR1, or the
/// systemd journal's native protocol. One sink is shared by every `Logger`; writes are
/// serialized so lines never interleave.
public final class LogSink: Sendable {
    enum Output {
        case descriptor(Int32)
        case journald(socket: Int32, address: UnixDatagramAddress)
    }

    public let settings: LogSettings
    /// The syslog identifier sent to the journal (`SYSLOG_IDENTIFIER`).
    let identifier: String
    private let output: Mutex<Output>

    /// Opens the target (a file is created with mode 0640 when missing).
    public init(settings: LogSettings, identifier: String = "proxima") throws(LoadProblem) {
        self.settings = settings
        self.identifier = identifier
        switch settings.target {
        case .stderr:
            output = Mutex(.descriptor(STDERR_FILENO))
        case .file(let path):
            output = Mutex(.descriptor(try LogSink.openFile(path)))
        case .journald(socket: let path):
            guard let address = UnixDatagramAddress(path) else { throw LoadProblem("log.journal_socket: '\(path)' is not a socket path") }
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw LoadProblem("log: socket: \(String(cString: strerror(errno)))") }
            output = Mutex(.journald(socket: fd, address: address))
        }
    }

    static func openFile(_ path: String) throws(LoadProblem) -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw LoadProblem("log.path: cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// The log file's path, when the target is a file (handed to `user` before dropping root).
    public var filePath: String? {
        if case .file(let p) = settings.target { return p }
        return nil
    }

    /// Reopens a log file at its path (after logrotate renamed it); nil on success, else why the
    /// old file stays in use. Other targets have nothing to reopen.
    public func reopen() -> String? {
        guard case .file(let path) = settings.target else { return nil }
        let fd: Int32
        do { fd = try LogSink.openFile(path) } catch { return error.description }
        output.withLock { out in
            if case .descriptor(let old) = out, old != STDERR_FILENO { close(old) }
            out = .descriptor(fd)
        }
        return nil
    }

    /// Writes one entry.
    func write(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) {
        let now = Date()
        output.withLock { out in
            switch out {
            case .descriptor(let fd):
                let line: String
                switch settings.format {
                case .text: line = LogSink.textLine(now, level: level, label: label, message: message, metadata: metadata)
                case .json: line = LogSink.jsonLine(now, level: level, label: label, message: message, metadata: metadata)
                }
                LogSink.writeAll(fd, Array(line.utf8))
            case .journald(let fd, let address):
                let entry = LogSink.journalEntry(level: level, label: label, message: message, metadata: metadata,
                                                 identifier: identifier)
                if address.send(entry, from: fd) != 0 {
                    // No journal: the entry still reaches someone (systemd captures stderr).
                    LogSink.writeAll(STDERR_FILENO, Array(LogSink.textLine(now, level: level, label: label, message: message,
                                                                             metadata: metadata).utf8))
                }
            }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }

    // MARK: Formats

    static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int((date.timeIntervalSince1970 - Double(t)) * 1000)
        return String(format: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ld.%03ldZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), min(max(ms, 0), 999))
    }

    /// `2026-11-30T15:00:00.123Z notice proxima : key=value message` (the shape of swift-log's
    /// stream handler, which the stderr target keeps using).
    static func textLine(_ date: Date, level: Logger.Level, label: String, message: String,
                         metadata: Logger.Metadata) -> String {
        let meta = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(timestamp(date)) \(level) \(label) :\(meta.isEmpty ? "" : " " + meta) \(message)\n"
    }

    /// One JSON object: `{"time":…,"level":…,"label":…,"message":…,"metadata":{…}}`.
    static func jsonLine(_ date: Date, level: Logger.Level, label: String, message: String,
                         metadata: Logger.Metadata) -> String {
        var s = #"{"time":"\#(timestamp(date))","level":"\#(level)","label":"# + jsonString(label)
            + #","message":"# + jsonString(message)
        if !metadata.isEmpty {
            s += #","metadata":{"#
            s += metadata.sorted { $0.key < $1.key }.map { jsonString($0.key) + ":" + jsonString("\($0.value)") }
                .joined(separator: ",")
            s += "}"
        }
        return s + "}\n"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// syslog(3) priorities, as journald's PRIORITY field wants them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The largest entry sent; longer messages are cut (a datagram has to fit the socket buffer).
    static let maxJournalValue = 48 * 1024

    /// A journal entry in the native protocol (systemd-journald.socket, "Native Protocol"): one
    /// `FIELD=value\n` per field, or for a value with a newline `FIELD\n`, its length as 64-bit
    /// little-endian, the bytes, `\n`. Metadata keys become upper-case field names.
    static func journalEntry(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata,
                             identifier: String) -> [UInt8] {
        var out: [UInt8] = []
        func field(_ name: String, _ value: String) {
            let bytes = Array(value.utf8.prefix(maxJournalValue))
            out += Array(name.utf8)
            if bytes.contains(UInt8(ascii: "\n")) {
                out.append(UInt8(ascii: "\n"))
                var n = UInt64(bytes.count).littleEndian
                withUnsafeBytes(of: &n) { out += $0 }
                out += bytes
            } else {
                out.append(UInt8(ascii: "="))
                out += bytes
            }
            out.append(UInt8(ascii: "\n"))
        }
        field("MESSAGE", message)
        field("PRIORITY", String(priority(level)))
        field("SYSLOG_IDENTIFIER", identifier)
        field("PROXIMA_LOGGER", label)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            field("PROXIMA_" + journalFieldName(key), "\(value)")
        }
        return out
    }

    /// `A-Z`, `0-9` and `_` only (journald drops other field names).
    static func journalFieldName(_ key: String) -> String {
        String(key.uppercased().unicodeScalars.prefix(48).map {
            ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") ? Character($0) : "_"
        })
    }

    deinit {
        output.withLock { out in
            switch out {
            case .descriptor(let fd): if fd != STDERR_FILENO { close(fd) }
            case .journald(let fd, _): close(fd)
            }
        }
    }
}

/// The swift-log handler that writes to a `LogSink`.
public struct SinkLogHandler: LogHandler {
    let sink: LogSink
    let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, sink: LogSink, level: Logger.Level) {
        self.label = label
        self.sink = sink
        self.logLevel = level
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let m = event.metadata { all.merge(m) { _, new in new } }
        sink.write(level: event.level, label: label, message: event.message.description, metadata: all)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// Things to reopen on SIGUSR1 (after logrotate): the log file, the query log, anything that
/// registers. Actions run in registration order; each reports its own failure.
public final class ReopenRegistry: Sendable {
    private let actions = Mutex<[(name: String, action: @Sendable () -> String?)]>([])

    public init() {}

    /// Adds an action; it returns nil on success, else why it failed (logged).
    public func add(_ name: String, _ action: @escaping @Sendable () -> String?) {
        actions.withLock { $0.append((name, action)) }
    }

    /// Runs every action; returns (name, failure) for those that failed.
    public func reopenAll() -> [(name: String, failure: String)] {
        let list = actions.withLock { $0 }
        return list.compactMap { entry in entry.action().map { (name: entry.name, failure: $0) } }
    }

    public var names: [String] { actions.withLock { $0.map(\.name) } }
}
