/// Everything wrong with one config file, found in a single pass (not only the first problem).
///
/// `description` renders one issue per line as `file:line: key.path: message`, the form editors
/// and CI logs link to.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The issues in file order (by line, then in the order they were found).
    public var issues: [ConfigIssue]

    /// Creates an error from its issues.
    public init(issues: [ConfigIssue]) {
        self.issues = issues
    }

    /// One line per issue.
    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}

/// One problem in a config file, with where it is.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// A small, bounded classification (usable as a metric label).
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The text is not valid YAML.
        case syntax
        /// A key the schema does not have.
        case unknownKey
        /// The same key twice in one mapping.
        case duplicateKey
        /// A required key is absent.
        case missingKey
        /// A value of the wrong YAML type (e.g. a list where a number belongs).
        case wrongType
        /// A value of the right type that is not acceptable (bad name, address, duration…).
        case invalidValue
        /// A number or duration outside its allowed range.
        case outOfRange
        /// Values that are fine alone but not together (e.g. `all_down: fallback` without a pool).
        case conflict
    }

    /// What kind of problem this is.
    public var code: Code
    /// The config file as the caller named it.
    public var file: String
    /// 1-based line of the offending key or value, when known.
    public var line: Int?
    /// Where in the document: `zones[1].file`, `routing.names."www.example.test.".answers`;
    /// empty for the document itself.
    public var keyPath: String
    /// What is wrong, and what was expected.
    public var message: String

    /// Creates an issue.
    public init(code: Code, file: String, line: Int?, keyPath: String, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line: key.path: message` (the line and key path are left out when unknown/empty).
    public var description: String {
        var out = file
        if let line { out += ":\(line)" }
        out += ": "
        if !keyPath.isEmpty { out += keyPath + ": " }
        return out + message
    }
}

/// A position in the document as a key path, rendered as the schema documents it.
struct KeyPath: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = KeyPath()

    /// The path of `key` inside this mapping.
    func appending(_ key: String) -> KeyPath {
        KeyPath(components: components + [.key(key)])
    }

    /// The path of element `index` of this sequence.
    func appending(index: Int) -> KeyPath {
        KeyPath(components: components + [.index(index)])
    }

    /// `a.b[2].c`, with keys that are not plain identifiers quoted: `names."www.example.test."`.
    var description: String {
        var out = ""
        for component in components {
            switch component {
            case .index(let i):
                out += "[\(i)]"
            case .key(let k):
                if !out.isEmpty { out += "." }
                let plain = !k.isEmpty && k.utf8.allSatisfy { c in
                    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                        || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
                }
                if plain {
                    out += k
                } else {
                    var escaped = ""
                    for ch in k {
                        if ch == "\"" || ch == "\\" { escaped.append("\\") }
                        escaped.append(ch)
                    }
                    out += "\"" + escaped + "\""
                }
            }
        }
        return out
    }
}
