/// Parsing of the duration strings used in `geo_data.json` and the YAML config
/// (`250ms`, `2s`, `5m`, `1h`, or a bare number of seconds).
public enum DurationText {
    /// Seconds for `text`, or nil when it is not a non-negative finite duration.
    ///
    /// Accepted: digits with an optional fraction (`1.5`), followed by nothing (seconds) or one of
    /// the units `ms`, `s`, `m`, `h`. No sign, no spaces, no exponent.
    public static func seconds(_ text: String) -> Double? {
        let utf8 = Array(text.utf8)
        var i = 0
        var sawDigit = false
        var sawDot = false
        while i < utf8.count {
            let c = utf8[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                sawDigit = true
            } else if c == UInt8(ascii: "."), !sawDot, sawDigit {
                sawDot = true
            } else {
                break
            }
            i += 1
        }
        guard sawDigit, utf8[i - 1] != UInt8(ascii: ".") else { return nil }
        let numberText = String(decoding: utf8[0..<i], as: UTF8.self)
        let unit = String(decoding: utf8[i...], as: UTF8.self)
        guard let value = Double(numberText), value.isFinite else { return nil }
        let scale: Double
        switch unit {
        case "": scale = 1
        case "ms": scale = 0.001
        case "s": scale = 1
        case "m": scale = 60
        case "h": scale = 3600
        default: return nil
        }
        let seconds = value * scale
        return seconds.isFinite ? seconds : nil
    }
}
