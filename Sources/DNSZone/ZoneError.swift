/// One problem found while parsing or validating a zone, with the place it was found.
///
/// `description` is the familiar `file:line: message` form compilers and `named-checkzone` use,
/// e.g. `example.test.zone:14: bad IPv4 address "192.0.2.300" in A record`.
public struct ZoneIssue: Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem, as a small closed set (usable as a metric label, STYLE.md §4).
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// Tokenizer-level problem: unbalanced parentheses, unterminated string, missing fields.
        case syntax
        /// An unknown directive (`$DATE`, `$FOO`…), or `$INCLUDE` where no file reader was given.
        case unsupportedDirective
        /// An `$INCLUDE` that cannot be followed: unreadable file, a file outside the allowed
        /// directory tree, an include loop, nesting deeper than `Limits.maxIncludeDepth`.
        case include
        /// A `$GENERATE` that cannot be expanded: bad range or modifier, RDATA that does not parse
        /// for some iteration, more records than `Limits.maxGenerateRecords`.
        case generate
        /// An owner or RDATA domain name that is not a valid name.
        case badName
        /// A TTL that is malformed or out of range (RFC 2181 §8).
        case badTTL
        /// A class other than IN.
        case unsupportedClass
        /// An unknown type mnemonic, a meta type, or a type whose text form we do not parse.
        case badType
        /// RDATA that does not parse for its type.
        case badRData
        /// No SOA record at the apex (RFC 1035 §5.2).
        case missingSOA
        /// More than one SOA record.
        case multipleSOA
        /// An SOA record whose owner is not the origin.
        case soaNotAtApex
        /// No NS RRset at the apex (RFC 1034 §4.2.1).
        case missingApexNS
        /// A record whose owner lies outside the origin.
        case outOfZone
        /// CNAME and other data at one name, or more than one CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1).
        case cnameConflict
        /// An NS, MX or SRV target that is not a usable host name (RFC 1123 §2.1, RFC 2181 §10.3).
        case badTarget
        /// A record no TTL could be determined for, or TTLs differing within one RRset.
        case ttl
        /// Data at or below a zone cut that is not glue (RFC 1034 §4.2.1): loaded, never served.
        case occluded
        /// An in-zone NS target without any address record.
        case missingGlue
        /// Data whose special semantics Proxima does not implement (served as plain data).
        case unsupportedSemantics
        /// Two zones with the same origin in one `ZoneSet`.
        case duplicateZone
        /// RDATA longer than RDLENGTH can say (65,535 octets, RFC 1035 §3.2.1).
        case rdataTooLong
        /// An RRset that cannot fit one 65,535-octet message even alone (RFC 1035 §4.2.2): no
        /// transport could ever deliver it.
        case rrsetTooLarge
    }

    /// The kind of problem.
    public var code: Code
    /// The file name as given to the parser (only used in messages).
    public var file: String
    /// 1-based line number, when the problem belongs to one line.
    public var line: Int?
    /// Human-readable explanation naming the offending token.
    public var message: String
    /// The `$INCLUDE` directives that led to `file`, innermost first; empty for the zone file itself.
    public var includedFrom: [Site]

    /// One place in a file: the `$INCLUDE` line an included file was read from.
    public struct Site: Hashable, Sendable, CustomStringConvertible {
        /// The including file, as named in messages.
        public var file: String
        /// 1-based line of the `$INCLUDE` directive.
        public var line: Int

        /// Creates a site.
        public init(file: String, line: Int) {
            self.file = file
            self.line = line
        }

        /// `file:line`.
        public var description: String { "\(file):\(line)" }
    }

    /// Creates an issue.
    public init(_ code: Code, file: String, line: Int?, _ message: String, includedFrom: [Site] = []) {
        self.code = code
        self.file = file
        self.line = line
        self.message = message
        self.includedFrom = includedFrom
    }

    /// `file:line: message` (or `file: message` when no line applies), then
    /// `(included from a.zone:7)` for a problem inside an `$INCLUDE`d file.
    public var description: String {
        var s = line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
        if !includedFrom.isEmpty {
            s += " (included from " + includedFrom.map(\.description).joined(separator: ", ") + ")"
        }
        return s
    }

    /// Position in the document as read, for sorting: the line of each `$INCLUDE` from the
    /// outermost file in, then this line (issues without a line come last).
    var documentPosition: [Int] {
        includedFrom.reversed().map(\.line) + [line ?? Int.max]
    }
}

/// The one error type of DNSZone: every issue found in a zone (parsing continues after a bad
/// line, so an operator sees all problems at once), plus the warnings gathered on the way.
public struct ZoneError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Problems that prevent the zone from loading, in file order where they have a line.
    public var issues: [ZoneIssue]
    /// Problems that would not have prevented loading on their own.
    public var warnings: [ZoneIssue]
    /// Files `$INCLUDE` read or tried to read before the problems were found (as
    /// `ParsedZone.includedFiles`): fixing one of them may fix the zone, so they are worth watching.
    public var includedFiles: [String] = []

    /// Creates an error from its issues.
    public init(issues: [ZoneIssue], warnings: [ZoneIssue] = []) {
        self.issues = issues
        self.warnings = warnings
    }

    /// One issue per line, `file:line: message`.
    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
