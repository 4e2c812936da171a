/// Parses a config byte size: a whole number of bytes (`1048576`), or a whole number followed by
/// an IEC unit, `KiB`, `MiB` or `GiB` (`64MiB`, `512KiB`, `1GiB`).
///
/// Returns nil for anything else: empty text, signs, fractions, spaces, other units (`MB` is
/// ambiguous, so it is refused rather than guessed), or values of 2^50 bytes or more.
public func parseByteSize(_ text: some StringProtocol) -> Int? {
    let s = Substring(text)
    let digits = s.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, digits.count <= 16, let number = Int(digits) else { return nil }
    let shift: Int
    switch s[digits.endIndex...] {
    case "": shift = 0
    case "KiB": shift = 10
    case "MiB": shift = 20
    case "GiB": shift = 30
    default: return nil
    }
    guard number < (1 << (50 - shift)) else { return nil }
    return number << shift
}

extension Int {
    /// The size in the config's own notation: the largest IEC unit that divides it exactly.
    public var byteSizeConfigText: String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where self != 0 && self % (1 << shift) == 0 {
            return "\(self >> shift)\(unit)"
        }
        return "\(self)"
    }
}

extension ValueDecoder {
    static func byteSize(_ v: YAMLValue, in range: ClosedRange<Int>, sink: IssueSink) -> Int? {
        guard let text = v.scalarText, v.kind == .int || v.kind == .string, let n = parseByteSize(text) else {
            expected("a size such as 64MiB, 512KiB, 1GiB or a number of bytes", v, sink: sink)
            return nil
        }
        guard range.contains(n) else {
            sink.add(.outOfRange, at: v, "\(text) is out of range \(range.lowerBound.byteSizeConfigText)...\(range.upperBound.byteSizeConfigText)")
            return nil
        }
        return n
    }
}

extension MappingReader {
    func byteSize(_ key: String, in range: ClosedRange<Int>) -> Int? {
        optional(key).flatMap { ValueDecoder.byteSize($0, in: range, sink: sink) }
    }
}
