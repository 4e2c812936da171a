/// Everything wrong with one `geo_data.json`: the file name and every issue found (parsing does
/// not stop at the first one), each with a bounded code, the key path and the line.
///
/// Rendered one issue per line as `geo_data.json:12: pools.web.members[2].latitude: must be a
/// number between -90 and 90` (the line is left out when unknown).
public struct GeoDataError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem an issue is; small and bounded so it can be a metric label.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The bytes are not valid JSON (RFC 8259).
        case invalidJSON = "invalid_json"
        /// A key that the schema does not define (typos are not silently ignored).
        case unknownKey = "unknown_key"
        /// A required key is absent.
        case missingKey = "missing_key"
        /// A value of the wrong JSON type.
        case wrongType = "wrong_type"
        /// A number or string outside its allowed range or set.
        case invalidValue = "invalid_value"
        /// Text that is not an IPv4/IPv6 address, or an unusable one (unspecified).
        case badAddress = "bad_address"
        /// The same address twice in one pool.
        case duplicateAddress = "duplicate_address"
        /// A pool without members, or a file without pools.
        case emptyPool = "empty_pool"
        /// A duration that is not `250ms`, `2s`, `5m`, `1h` or a number of seconds, or is zero.
        case badDuration = "bad_duration"
        /// An expected HTTP status outside 100...599.
        case badStatusCode = "bad_status_code"
        /// `rise` or `fall` below 1.
        case badThreshold = "bad_threshold"
    }

    /// One problem at one place in the file.
    public struct Issue: Sendable, Hashable, CustomStringConvertible {
        /// The kind of problem.
        public var code: Code
        /// Key path from the document root, e.g. `pools.web.members[2].latitude` (empty for the
        /// root itself).
        public var path: String
        /// 1-based line of the offending value, when known.
        public var line: Int?
        /// Human-readable explanation.
        public var message: String

        /// Creates an issue.
        public init(code: Code, path: String, line: Int?, message: String) {
            self.code = code
            self.path = path
            self.line = line
            self.message = message
        }

        /// `path: message` (without the file).
        public var description: String { path.isEmpty ? message : "\(path): \(message)" }
    }

    /// The file name as given to `GeoData.parse` (used as the prefix of every line).
    public var file: String
    /// Every issue, in document order; never empty.
    public var issues: [Issue]

    /// Creates an error for `file` with `issues`.
    public init(file: String, issues: [Issue]) {
        self.file = file
        self.issues = issues
    }

    /// One line per issue: `file:line: path: message`.
    public var description: String {
        issues.map { issue in
            let location = issue.line.map { "\(file):\($0)" } ?? file
            return "\(location): \(issue.description)"
        }.joined(separator: "\n")
    }
}
