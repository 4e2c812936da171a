/// Where each value of a loaded configuration was written, so checks made after loading (a zone
/// file that does not exist, an origin that differs from the SOA owner, a pool missing from
/// `geo_data.json`) are reported in the same `file:line: key.path: message` form as load errors.
public struct ConfigSourceMap: Sendable, Hashable {
    /// The config file as the caller named it.
    public var file: String
    /// Key path (as rendered in issues, e.g. `zones[1].file`) → 1-based line.
    public var lines: [String: Int]

    /// Creates a source map.
    public init(file: String, lines: [String: Int] = [:]) {
        self.file = file
        self.lines = lines
    }

    /// The line of `keyPath`, or of its nearest ancestor that has one.
    public func line(of keyPath: String) -> Int? {
        var path = Substring(keyPath)
        while !path.isEmpty {
            if let line = lines[String(path)] { return line }
            guard let cut = ConfigSourceMap.parentEnd(of: path) else { break }
            path = path[..<cut]
        }
        return nil
    }

    /// An issue located at `keyPath`, e.g. `source.issue(at: "zones[0].file", "no such file")`.
    public func issue(_ code: ConfigIssue.Code = .invalidValue, at keyPath: String, _ message: String) -> ConfigIssue {
        ConfigIssue(code: code, file: file, line: line(of: keyPath), keyPath: keyPath, message: message)
    }

    /// Where the last path component starts (`a.b[2]` → before `[2]`, `a."x.y".c` → before `.c`).
    private static func parentEnd(of path: Substring) -> Substring.Index? {
        var inQuotes = false
        var escaped = false
        var cut: Substring.Index?
        var i = path.startIndex
        while i < path.endIndex {
            let ch = path[i]
            if escaped {
                escaped = false
            } else if ch == "\\" && inQuotes {
                escaped = true
            } else if ch == "\"" {
                inQuotes.toggle()
            } else if !inQuotes && (ch == "." || ch == "[") {
                cut = i
            }
            i = path.index(after: i)
        }
        return cut
    }
}

/// A file the configuration refers to, with where it is named (for existence checks by the caller).
public struct FileReference: Sendable, Hashable {
    /// The key path naming it, e.g. `zones[0].file`, `geoip.database`, `geo_data`.
    public var keyPath: String
    /// The absolute (resolved) path.
    public var path: String

    /// Creates a file reference.
    public init(keyPath: String, path: String) {
        self.keyPath = keyPath
        self.path = path
    }
}

extension ProximaConfiguration {
    /// Every file path in the configuration (zone files, the GeoIP database, `geo_data`), in file
    /// order, so the caller can check them and report `source.issue(at: ref.keyPath, "no such file")`.
    public var fileReferences: [FileReference] {
        var out = zones.enumerated().map { FileReference(keyPath: "zones[\($0.offset)].file", path: $0.element.file) }
        if let database = geoip.databasePath { out.append(FileReference(keyPath: "geoip.database", path: database)) }
        if let geoDataPath { out.append(FileReference(keyPath: "geo_data", path: geoDataPath)) }
        return out
    }
}
