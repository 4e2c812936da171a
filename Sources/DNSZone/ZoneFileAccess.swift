/// How `$INCLUDE` reaches other files. DNSZone does no IO (DESIGN.md §4): the caller hands the
/// parser a reader and the directory tree included files must stay in.
public struct ZoneFileAccess: Sendable {
    /// Absolute directory an included file must lie in (the config file's directory). Checked on
    /// the path as written, so `..` cannot lead out of it.
    public var allowedRoot: String
    /// The same directory with symbolic links resolved; the real path the reader reports must lie
    /// in it, so a symbolic link cannot lead out either.
    public var allowedRealRoot: String
    /// Reads one file by absolute, normalized path; nil when it cannot be read.
    public var read: @Sendable (String) -> ZoneFileText?

    /// Creates an access with `allowedRoot` and its resolved form (both normalized here; the real
    /// root defaults to `allowedRoot`) and a reader.
    public init(allowedRoot: String, allowedRealRoot: String? = nil, read: @escaping @Sendable (String) -> ZoneFileText?) {
        self.allowedRoot = ZonePath.normalize(allowedRoot)
        self.allowedRealRoot = ZonePath.normalize(allowedRealRoot ?? allowedRoot)
        self.read = read
    }

    /// Files held in memory by absolute path (tests, tools): each file's real path is its own.
    public static func inMemory(_ files: [String: String], allowedRoot: String) -> ZoneFileAccess {
        var normalized: [String: String] = [:]
        for (path, text) in files { normalized[ZonePath.normalize(path)] = text }
        let files = normalized
        return ZoneFileAccess(allowedRoot: allowedRoot) { path in
            files[path].map { ZoneFileText(text: $0, realPath: path) }
        }
    }
}

/// The contents of one file read for `$INCLUDE`.
public struct ZoneFileText: Sendable {
    /// The file's text.
    public var text: String
    /// The path with symbolic links resolved (the path itself when there are none).
    public var realPath: String

    /// Creates file contents.
    public init(text: String, realPath: String) {
        self.text = text
        self.realPath = realPath
    }
}

/// POSIX path arithmetic on strings, no file system access.
public enum ZonePath {
    /// Removes empty and `.` segments and folds `..` into its parent (never above the root).
    public static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(segment)
                }
                continue
            }
            parts.append(segment)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// The directory part of `path` ("." for a bare file name).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// `path` made absolute against `directory` (when relative) and normalized.
    public static func resolve(_ path: String, against directory: String) -> String {
        if path.hasPrefix("/") { return normalize(path) }
        return normalize(directory + "/" + path)
    }

    /// True when normalized `path` is `root` or lies below it.
    public static func isInside(_ path: String, root: String) -> Bool {
        if root == "/" { return path.hasPrefix("/") }
        return path == root || path.hasPrefix(root + "/")
    }
}
