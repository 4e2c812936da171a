import Yams

/// Collects issues while the document is walked, so one pass reports everything.
final class IssueSink {
    let file: String
    private(set) var issues: [ConfigIssue] = []
    /// Key path → line of every value read, for `ConfigSourceMap`.
    private(set) var lines: [String: Int] = [:]

    init(file: String) {
        self.file = file
    }

    func record(_ value: YAMLValue) {
        if let line = value.line { lines[value.path.description] = line }
    }

    func add(_ code: ConfigIssue.Code, line: Int?, path: KeyPath, _ message: String) {
        issues.append(ConfigIssue(code: code, file: file, line: line, keyPath: path.description, message: message))
    }

    func add(_ code: ConfigIssue.Code, at value: YAMLValue, _ message: String) {
        add(code, line: value.line, path: value.path, message)
    }
}

/// The YAML types the schema distinguishes, named as error messages name them.
enum YAMLKind: Equatable {
    case null, bool, int, float, string, mapping, sequence

    var noun: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .float: return "a number"
        case .string: return "a string"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

/// A YAML node together with its key path: the unit every typed accessor works on.
struct YAMLValue {
    let node: Node
    let path: KeyPath
    /// Line of the node itself (for a missing key: the line of the enclosing mapping).
    let line: Int?

    init(node: Node, path: KeyPath, line: Int? = nil) {
        self.node = node
        self.path = path
        self.line = line ?? node.mark?.line
    }

    var kind: YAMLKind {
        switch node {
        case .mapping: return .mapping
        case .sequence: return .sequence
        case .alias: return .string
        case .scalar:
            switch node.tag.name {
            case .null: return .null
            case .bool: return .bool
            case .int: return .int
            case .float: return .float
            default: return .string
            }
        }
    }

    /// The raw scalar text (for any scalar that is not null), else nil.
    var scalarText: String? {
        guard case .scalar(let scalar) = node, kind != .null else { return nil }
        return scalar.string
    }

    /// Describes what was found, for "expected X, found Y" messages.
    var found: String {
        switch kind {
        case .mapping, .sequence, .null: return kind.noun
        default: return "\(kind.noun) '\(node.scalar?.string ?? "")'"
        }
    }
}

extension Tag {
    /// The resolved tag name (Yams keeps `name` internal; its description is the raw value).
    var name: Tag.Name { Tag.Name(rawValue: description) }
}

/// Typed, strict access to one YAML mapping: every key read is remembered, and `finish()` reports
/// the keys nobody asked for as unknown. Wrong types are reported once and read as absent, so the
/// caller just falls back to its default and carries on collecting issues.
final class MappingReader {
    let value: YAMLValue
    let sink: IssueSink
    private var entries: [(key: String, keyLine: Int?, value: Node)] = []
    private var consumed: Set<String> = []
    private let allowed: [String]

    /// Reads `value` as a mapping with exactly the `allowed` keys; nil (with an issue) when it is
    /// not a mapping.
    init?(_ value: YAMLValue, allowed: [String], sink: IssueSink) {
        self.value = value
        self.sink = sink
        self.allowed = allowed
        guard case .mapping(let mapping) = value.node else {
            sink.add(.wrongType, at: value, "expected \(YAMLKind.mapping.noun), found \(value.found)")
            return nil
        }
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                sink.add(.wrongType, line: keyNode.mark?.line, path: value.path, "mapping keys must be plain strings")
                continue
            }
            entries.append((keyScalar.string, keyNode.mark?.line, valueNode))
        }
        readDuplicateMarkers()
    }

    /// Duplicate keys arrive renamed (see `DuplicateKeys`); report them here where the path is known.
    private func readDuplicateMarkers() {
        var kept: [(key: String, keyLine: Int?, value: Node)] = []
        for entry in entries {
            if let original = DuplicateKeys.originalKey(entry.key) {
                let others = entries.filter { $0.key == original }.compactMap(\.keyLine)
                let also = others.isEmpty ? "" : " (also at line \(others.map(String.init).joined(separator: ", ")))"
                sink.add(.duplicateKey, line: entry.keyLine, path: value.path.appending(original),
                         "duplicate key '\(original)'\(also); each key may appear once")
            } else {
                kept.append(entry)
            }
        }
        entries = kept
    }

    /// The keys present, in document order (for free-form mappings like `routing.names`).
    var keys: [(key: String, line: Int?)] {
        entries.map { ($0.key, $0.keyLine) }
    }

    /// The value at `key`, or nil when absent. An explicit YAML null counts as absent.
    func optional(_ key: String) -> YAMLValue? {
        consumed.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let v = YAMLValue(node: entry.value, path: value.path.appending(key),
                          line: entry.value.mark?.line ?? entry.keyLine)
        sink.record(v)
        return v.kind == .null ? nil : v
    }

    /// The value at `key`; reports `missingKey` (at this mapping's line) when absent or null.
    func required(_ key: String, what: String) -> YAMLValue? {
        if let v = optional(key) { return v }
        sink.add(.missingKey, line: value.line, path: value.path.appending(key), "required key is missing (\(what))")
        return nil
    }

    /// Reports every key that was not read as unknown, naming the keys that are allowed here.
    func finish() {
        for entry in entries where !consumed.contains(entry.key) && !allowed.contains(entry.key) {
            var message = "unknown key"
            if let suggestion = Self.closest(to: entry.key, in: allowed) {
                message += " (did you mean '\(suggestion)'?)"
            }
            sink.add(.unknownKey, line: entry.keyLine, path: value.path.appending(entry.key),
                     "\(message); expected one of: \(allowed.joined(separator: ", "))")
        }
    }

    /// The allowed key within edit distance 2 of `key` (the closest), for typo hints.
    static func closest(to key: String, in allowed: [String]) -> String? {
        let k = Array(key.lowercased().utf8)
        guard k.count <= 64 else { return nil }
        var best: (String, Int)?
        for candidate in allowed {
            let c = Array(candidate.utf8)
            // Levenshtein distance, one row at a time.
            var previous = Array(0...c.count)
            for i in 1...max(k.count, 1) where !k.isEmpty {
                var current = [i] + Array(repeating: 0, count: c.count)
                for j in 1...max(c.count, 1) where !c.isEmpty {
                    let cost = k[i - 1] == c[j - 1] ? 0 : 1
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                }
                previous = current
            }
            let distance = k.isEmpty ? c.count : previous[c.count]
            if distance <= 2, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        return best?.0
    }

    // MARK: Typed accessors

    func string(_ key: String) -> String? {
        optional(key).flatMap { ValueDecoder.string($0, sink: sink) }
    }

    func bool(_ key: String) -> Bool? {
        optional(key).flatMap { ValueDecoder.bool($0, sink: sink) }
    }

    func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        optional(key).flatMap { ValueDecoder.int($0, in: range, sink: sink) }
    }

    func double(_ key: String, in range: ClosedRange<Double>) -> Double? {
        optional(key).flatMap { ValueDecoder.double($0, in: range, sink: sink) }
    }

    func duration(_ key: String, in range: ClosedRange<Duration>) -> Duration? {
        optional(key).flatMap { ValueDecoder.duration($0, in: range, sink: sink) }
    }

    func sequence(_ key: String) -> [YAMLValue]? {
        optional(key).flatMap { ValueDecoder.sequence($0, sink: sink) }
    }
}

/// Typed decoding of single values; each reports its own issue and returns nil on failure.
enum ValueDecoder {
    static func expected(_ what: String, _ v: YAMLValue, sink: IssueSink) {
        sink.add(.wrongType, at: v, "expected \(what), found \(v.found)")
    }

    /// Any non-null scalar as its text (so `token: 12345` is the string "12345").
    static func string(_ v: YAMLValue, sink: IssueSink) -> String? {
        guard let text = v.scalarText else {
            expected(YAMLKind.string.noun, v, sink: sink)
            return nil
        }
        return text
    }

    static func bool(_ v: YAMLValue, sink: IssueSink) -> Bool? {
        guard v.kind == .bool, let b = v.node.bool else {
            expected("a boolean (true or false)", v, sink: sink)
            return nil
        }
        return b
    }

    static func int(_ v: YAMLValue, in range: ClosedRange<Int>, sink: IssueSink) -> Int? {
        guard v.kind == .int else {
            expected("an integer", v, sink: sink)
            return nil
        }
        guard let i = v.node.int else {
            sink.add(.outOfRange, at: v, "\(v.scalarText ?? "") is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        guard range.contains(i) else {
            sink.add(.outOfRange, at: v, "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return i
    }

    static func double(_ v: YAMLValue, in range: ClosedRange<Double>, sink: IssueSink) -> Double? {
        guard v.kind == .int || v.kind == .float, let d = v.node.float, d.isFinite else {
            expected("a finite number", v, sink: sink)
            return nil
        }
        guard range.contains(d) else {
            sink.add(.outOfRange, at: v, "\(v.scalarText ?? "\(d)") is out of range \(format(range.lowerBound))...\(format(range.upperBound))")
            return nil
        }
        return d
    }

    static func duration(_ v: YAMLValue, in range: ClosedRange<Duration>, sink: IssueSink) -> Duration? {
        guard let text = v.scalarText, v.kind != .bool, let d = parseDuration(text) else {
            expected("a duration such as 250ms, 2s, 5m or 1h", v, sink: sink)
            return nil
        }
        guard range.contains(d) else {
            let text = v.scalarText ?? d.configText
            if d < range.lowerBound {
                let rule = range.lowerBound <= .nanoseconds(1) ? "must be greater than 0"
                    : "must be at least \(range.lowerBound.configText)"
                sink.add(.outOfRange, at: v, "\(text) is too short; \(rule)")
            } else {
                sink.add(.outOfRange, at: v, "\(text) is too long; must be at most \(range.upperBound.configText)")
            }
            return nil
        }
        return d
    }

    static func sequence(_ v: YAMLValue, sink: IssueSink) -> [YAMLValue]? {
        guard case .sequence(let seq) = v.node else {
            expected(YAMLKind.sequence.noun, v, sink: sink)
            return nil
        }
        let items = seq.enumerated().map { YAMLValue(node: $1, path: v.path.appending(index: $0)) }
        items.forEach(sink.record)
        return items
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }
}
