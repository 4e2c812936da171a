import DNSZone

/// Text rules for config values that are not YAML types: domain names and file paths.
enum ConfigText {
    /// Validates an absolute domain name in presentation form and returns it lowercased, or a
    /// message saying what is wrong.
    ///
    /// Accepted: the root `.`, or labels of letters, digits, `-` and `_` separated by dots and
    /// ending in a dot. RFC 1035 §2.3.4 limits: labels 1...63 octets, the whole name at most 255
    /// octets in wire form. Escapes and non-ASCII are rejected (write IDNs as A-labels).
    static func absoluteName(_ text: String) -> Result<String, NameProblem> {
        if text == "." { return .success(".") }
        guard !text.isEmpty else { return .failure(.init("a domain name must not be empty")) }
        guard text.hasSuffix(".") else {
            return .failure(.init("'\(text)' is not absolute; write it with a trailing dot: '\(text).'"))
        }
        let labels = text.dropLast().split(separator: ".", omittingEmptySubsequences: false)
        var wireLength = 1
        for label in labels {
            guard !label.isEmpty else { return .failure(.init("'\(text)' has an empty label")) }
            guard label.utf8.count <= 63 else {
                return .failure(.init("label '\(label)' is \(label.utf8.count) octets; the limit is 63 (RFC 1035 §2.3.4)"))
            }
            for ch in label.unicodeScalars {
                guard ch.isASCII else {
                    return .failure(.init("'\(text)' contains non-ASCII characters; write it as an A-label (xn--…)"))
                }
                let ok = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || ch == "-" || ch == "_"
                guard ok else {
                    return .failure(.init("'\(text)' contains '\(ch)'; only letters, digits, '-' and '_' are allowed in labels"))
                }
            }
            wireLength += label.utf8.count + 1
        }
        guard wireLength <= 255 else {
            return .failure(.init("'\(text)' is \(wireLength) octets in wire form; the limit is 255 (RFC 1035 §2.3.4)"))
        }
        return .success(text.lowercased())
    }

    /// A message explaining why a name is not acceptable.
    struct NameProblem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// True when `name` equals `origin` or lies below it (both lowercased, absolute).
    static func name(_ name: String, isInside origin: String) -> Bool {
        if origin == "." { return true }
        return name == origin || name.hasSuffix("." + origin)
    }

    /// The directory part of a path (`/a/b/c.yaml` → `/a/b`, `c.yaml` → ``, `/c.yaml` → `/`).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Resolves `path` against `base` (a directory) and normalizes `.`/`..` segments lexically.
    /// An absolute `path` ignores `base`. The result is absolute when either input is.
    static func resolve(_ path: String, against base: String) -> String {
        let joined: String
        if path.hasPrefix("/") || base.isEmpty {
            joined = path
        } else {
            joined = base.hasSuffix("/") ? base + path : base + "/" + path
        }
        return ZonePath.normalize(joined)
    }
}
