/// Decoding of the ipstack cost limits (`geoip.ipstack.max_per_minute`, `monthly_quota`,
/// `usage_file`, `max_pending`; issue #8 item 8): anyone can send ECS, and every new network can
/// cost a paid lookup, so the number of lookups is bounded per minute, per month and in flight.
extension DecodeContext {
    static let ipstackLimitKeys = ["max_per_minute", "monthly_quota", "usage_file", "max_pending"]

    /// The limit keys of one `geoip.ipstack` mapping, defaults where absent.
    func decodeIPStackLimits(_ map: MappingReader) -> IPStackLimitValues {
        let d = IPStackSettings()
        return IPStackLimitValues(
            maxPerMinute: map.int("max_per_minute", in: 1...100_000) ?? d.maxPerMinute,
            monthlyQuota: map.int("monthly_quota", in: 0...1_000_000_000) ?? d.monthlyQuota,
            usageFile: map.optional("usage_file").flatMap { path($0) } ?? d.usageFile,
            maxPending: map.int("max_pending", in: 1...65_536) ?? d.maxPending)
    }
}

/// The decoded limit keys, merged into `IPStackSettings` by `withLimits`.
struct IPStackLimitValues {
    var maxPerMinute: Int
    var monthlyQuota: Int
    var usageFile: String
    var maxPending: Int
}

extension IPStackSettings {
    /// These settings with the limit keys applied.
    func withLimits(_ limits: IPStackLimitValues) -> IPStackSettings {
        var s = self
        s.maxPerMinute = limits.maxPerMinute
        s.monthlyQuota = limits.monthlyQuota
        s.usageFile = limits.usageFile
        s.maxPending = limits.maxPending
        return s
    }
}
