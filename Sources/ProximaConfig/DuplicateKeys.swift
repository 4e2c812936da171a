import Yams

/// Turns Yams' all-or-nothing duplicate-key failure into ordinary, located issues.
///
/// `Yams.compose` rejects a mapping with a repeated key and reports only the first occurrence's
/// position, without a key path. To report the path (and keep checking everything else), the
/// loader marks that occurrence in the text by prefixing the key with a sentinel, composes again,
/// and `MappingReader` reports each sentinel key as a duplicate where the key path is known. The
/// prefix keeps lines intact, so every other mark is unchanged.
enum DuplicateKeys {
    static let prefix = "__proxima_duplicate_"
    /// Upper bound on rewrite rounds, so a hostile file cannot make loading quadratic forever.
    static let maxRounds = 64

    /// The text with the key starting at `line`:`column` (1-based, columns in Unicode scalars)
    /// renamed to a sentinel carrying the original; nil when the position is not in the text.
    static func markKey(in yaml: String, line: Int, column: Int, round: Int) -> String? {
        let scalars = Array(yaml.unicodeScalars)
        var index = 0
        var currentLine = 1
        while currentLine < line {
            guard let next = scalars[index...].firstIndex(of: "\n") else { return nil }
            index = next + 1
            currentLine += 1
        }
        index += column - 1
        guard index >= 0, index <= scalars.count else { return nil }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[..<index])
        out.append(contentsOf: "\(prefix)\(round)__".unicodeScalars)
        out.append(contentsOf: scalars[index...])
        return String(out)
    }

    /// The key a sentinel stands for (quotes removed), or nil for an ordinary key.
    static func originalKey(_ key: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        guard let end = rest.firstRange(of: "__") else { return nil }
        var original = rest[end.upperBound...]
        if original.count >= 2, let first = original.first, first == "\"" || first == "'", original.last == first {
            original = original.dropFirst().dropLast()
        }
        return String(original)
    }
}
