import DNSWire

/// What one zone file may make the loader do (STYLE.md §10): `$GENERATE` and `$INCLUDE` turn a
/// few lines into unbounded work unless each is capped. The numbers sit with DNSWire's `Limits`
/// so every bound stays in one place.
extension Limits {
    /// Records one `$GENERATE` directive may produce: a /16 of reverse names (BIND has no cap).
    public static let maxGenerateRecords = 65_536
    /// Records all `$GENERATE` directives of one zone (its included files too) may produce together.
    public static let maxGeneratedRecordsPerZone = 262_144
    /// Characters of owner and RDATA text all `$GENERATE` directives of one zone may expand to,
    /// so a long RDATA template times many iterations cannot take unbounded time.
    public static let maxGeneratedTextPerZone = 64 << 20
    /// Largest field width in a `${offset,width,base}` modifier (a name is at most 255 octets).
    public static let maxGenerateWidth = 255
    /// `$INCLUDE` nesting below the zone file: the zone file is depth 0, a file it includes 1.
    public static let maxIncludeDepth = 16
    /// `$INCLUDE` directives followed per zone, so a file included twice at every level cannot
    /// make 2^16 reads.
    public static let maxIncludesPerZone = 1_024
}
