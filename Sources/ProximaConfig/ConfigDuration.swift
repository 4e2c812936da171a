/// Parses a config duration: a non-negative number followed by a unit, `ms`, `s`, `m` or `h`
/// (`250ms`, `2s`, `1.5s`, `5m`, `1h`), or a bare number meaning seconds (`10`, `0.25`).
///
/// Returns nil for anything else: empty text, signs, exponents, spaces, unknown units, or values
/// beyond about 100 years (so arithmetic on the result cannot overflow). The result is exact to
/// the nanosecond for decimal input up to nine fractional digits of a second.
public func parseDuration(_ text: some StringProtocol) -> Duration? {
    let s = Substring(text)
    var numberEnd = s.startIndex
    while numberEnd < s.endIndex, s[numberEnd].isASCII, s[numberEnd].isNumber || s[numberEnd] == "." {
        numberEnd = s.index(after: numberEnd)
    }
    let number = s[s.startIndex..<numberEnd]
    let unit = s[numberEnd...]
    let nanosPerUnit: Int64
    switch unit {
    case "ms": nanosPerUnit = 1_000_000
    case "", "s": nanosPerUnit = 1_000_000_000
    case "m": nanosPerUnit = 60_000_000_000
    case "h": nanosPerUnit = 3_600_000_000_000
    default: return nil
    }
    guard let nanos = decimalTimes(number, nanosPerUnit) else { return nil }
    return .nanoseconds(nanos)
}

/// `number × scale` for a plain decimal (`12`, `1.5`, `.5`), truncated to whole units of the
/// result, or nil on bad syntax or when the result exceeds ~100 years in nanoseconds.
private func decimalTimes(_ number: Substring, _ scale: Int64) -> Int64? {
    let parts = number.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else { return nil }
    let whole = parts[0]
    let fraction = parts.count == 2 ? parts[1] : ""
    guard !(whole.isEmpty && fraction.isEmpty) else { return nil }
    guard parts.count == 1 || !fraction.isEmpty else { return nil }
    let limit: Int64 = 100 * 366 * 86_400 * 1_000_000_000
    var wholeValue: Int64 = 0
    for ch in whole.utf8 {
        let digit = Int64(ch - UInt8(ascii: "0"))
        guard wholeValue <= (limit - digit) / 10 else { return nil }
        wholeValue = wholeValue * 10 + digit
    }
    let (product, overflow) = wholeValue.multipliedReportingOverflow(by: scale)
    guard !overflow, product <= limit else { return nil }
    var result = product
    var place = scale
    for ch in fraction.utf8 {
        place /= 10
        if place == 0 { break }
        result += Int64(ch - UInt8(ascii: "0")) * place
    }
    guard result <= limit else { return nil }
    return result
}

extension Duration {
    /// The duration in (fractional) seconds, for APIs such as `HealthCheckSpec` that take `Double`.
    public var configSeconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    /// Renders the duration the way the config spells it (`250ms`, `2s`, `5m`, `1h`, `1.5s`).
    public var configText: String {
        let c = components
        let nanos = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
        if nanos % 3_600_000_000_000 == 0 && nanos != 0 { return "\(nanos / 3_600_000_000_000)h" }
        if nanos % 60_000_000_000 == 0 && nanos != 0 { return "\(nanos / 60_000_000_000)m" }
        if nanos % 1_000_000_000 == 0 { return "\(nanos / 1_000_000_000)s" }
        if nanos % 1_000_000 == 0 { return "\(nanos / 1_000_000)ms" }
        return "\(configSeconds)s"
    }
}
