import QueryEngine

/// Decoding of the operations keys (issue #11): `log`, `lock_file`, `user`, `group`, `identity`.
extension DecodeContext {
    static let operationsKeys = ["log", "lock_file", "user", "group", "identity"]
    static let logKeys = ["target", "path", "format", "journal_socket"]
    static let identityKeys = ["id", "version"]

    struct Operations {
        var log = LogSettings()
        var process = ProcessSettings()
        var identity: ServerIdentity?
    }

    func decodeOperations(_ root: MappingReader) -> Operations {
        var out = Operations()
        if let v = root.optional("log") { out.log = decodeLog(v) }
        out.process.lockFile = root.optional("lock_file").flatMap { path($0) }
        out.process.user = root.optional("user").flatMap { accountName($0) }
        out.process.group = root.optional("group").flatMap { accountName($0) }
        if out.process.group != nil, out.process.user == nil, let g = root.optional("group") {
            sink.add(.missingKey, line: g.line, path: KeyPath.root.appending("user"),
                     "group is set but user is not; privileges are dropped only to a user (and its group)")
        }
        out.identity = root.optional("identity").flatMap { decodeIdentity($0) }
        return out
    }

    func decodeLog(_ v: YAMLValue) -> LogSettings {
        guard let map = MappingReader(v, allowed: Self.logKeys, sink: sink) else { return LogSettings() }
        defer { map.finish() }
        var settings = LogSettings()
        if let f = map.optional("format"), let text = ValueDecoder.string(f, sink: sink) {
            if let format = LogFormat(rawValue: text) {
                settings.format = format
            } else {
                sink.add(.invalidValue, at: f, "unknown log format '\(text)'; expected text or json")
            }
        }
        let pathValue = map.optional("path")
        let socketValue = map.optional("journal_socket")
        let target = map.optional("target").flatMap { ValueDecoder.string($0, sink: sink) } ?? "stderr"
        switch target {
        case "stderr":
            settings.target = .stderr
        case "file":
            guard let p = pathValue else {
                sink.add(.missingKey, line: v.line, path: v.path.appending("path"),
                         "required key is missing (target: file needs the log file's path)")
                break
            }
            if let resolved = path(p) { settings.target = .file(resolved) }
        case "journald":
            let socket = socketValue.flatMap { path($0) } ?? LogSettings.defaultJournalSocket
            settings.target = .journald(socket: socket)
        default:
            if let t = map.optional("target") {
                sink.add(.invalidValue, at: t, "unknown log target '\(target)'; expected stderr, file or journald")
            }
        }
        if let p = pathValue, target != "file" {
            sink.add(.conflict, at: p, "path is only used with target: file")
        }
        if let s = socketValue, target != "journald" {
            sink.add(.conflict, at: s, "journal_socket is only used with target: journald")
        }
        return settings
    }

    /// A user or group name (as in /etc/passwd, looked up when the server starts) or a numeric id.
    func accountName(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let valid = (1...32).contains(text.utf8.count) && !text.hasPrefix("-") && text.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "._-$".unicodeScalars.contains($0)
        }
        guard valid else {
            sink.add(.invalidValue, at: v, "'\(text)' is not a user or group name (1-32 of letters, digits, . _ - $) or id")
            return nil
        }
        guard text != "root", text != "0" else {
            sink.add(.invalidValue, at: v, "switching to root drops nothing; name an unprivileged account or omit the key")
            return nil
        }
        return text
    }

    func decodeIdentity(_ v: YAMLValue) -> ServerIdentity? {
        guard let map = MappingReader(v, allowed: Self.identityKeys, sink: sink) else { return nil }
        defer { map.finish() }
        let id = map.required("id", what: "this server's name, e.g. ns1-fra").flatMap { identityText($0) }
        var version: [UInt8]?
        if let vv = map.optional("version"), let text = ValueDecoder.string(vv, sink: sink), text != "hide" {
            version = identityText(vv)
        }
        guard let id else { return nil }
        return ServerIdentity(id: id, version: version)
    }

    /// 1...255 printable ASCII bytes: one TXT character-string (RFC 1035 §3.3.14) and an NSID payload.
    func identityText(_ v: YAMLValue) -> [UInt8]? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let bytes = Array(text.utf8)
        guard (1...255).contains(bytes.count), bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else {
            sink.add(.invalidValue, at: v, "must be 1 to 255 printable ASCII characters (it is sent as a TXT string and the NSID)")
            return nil
        }
        return bytes
    }
}
