import GeoRouting

/// The coordinates of a database's records by data-section offset, in about 14 bytes a record
/// (issue #12.3): the sorted offsets, each record's latitude and longitude as 1e-4 degree fixed
/// point packed into one word, and a bucket index over the offsets' high bits, so a lookup reads
/// one index pair and scans a couple of neighbouring offsets. GeoLite2-City's 458k records take
/// 6 MiB here where a `[UInt32: Coordinate]` dictionary took 20.
///
/// Exact: a coordinate is stored in fixed point only when dividing the fixed-point integer by
/// 10,000 gives back the database's `Double` bit for bit (MaxMind publishes at most four decimal
/// places, and an IEEE division is correctly rounded, so that is every GeoLite2 record); any
/// other coordinate keeps its `Double` in a side table. `coordinate(ofRecord:)` therefore returns
/// exactly what decoding the record returns, and rankings cannot differ from `lookup`'s.
///
/// Immutable after `init`; read by any thread.
public final class CoordinateTable: Sendable {
    /// Offsets of the records with valid coordinates, ascending.
    let offsets: [UInt32]
    /// Per record: latitude × 1e4 in the high 32 bits, longitude × 1e4 in the low 32 bits (both
    /// as `Int32` bit patterns); `CoordinateTable.inExceptions` when the `Double` is kept aside.
    let packed: [UInt64]
    /// `offsets[bucketStart[b]..<bucketStart[b + 1]]` are the offsets whose `>> shift` is `b`.
    let bucketStart: [UInt32]
    let shift: UInt32
    /// Coordinates that fixed point would not reproduce exactly.
    let exceptions: [UInt32: Coordinate]

    /// The packed value of a record whose coordinate is in `exceptions` (no real latitude has
    /// `Int32.min` ten-thousandths).
    static let inExceptions = UInt64(UInt32(bitPattern: Int32.min)) << 32
    static let scale = 10_000.0

    /// Builds the table from `(offset, coordinate)` pairs in ascending offset order (duplicates
    /// are not expected; a repeated offset keeps its first coordinate). `limit` bounds the
    /// offsets (the data section's size) and sizes the bucket index.
    init(sortedRecords records: [(offset: UInt32, coordinate: Coordinate)], limit: UInt32) {
        var offsets: [UInt32] = []
        var packed: [UInt64] = []
        var exceptions: [UInt32: Coordinate] = [:]
        offsets.reserveCapacity(records.count)
        packed.reserveCapacity(records.count)
        for (offset, c) in records {
            if let last = offsets.last, last >= offset { continue }
            offsets.append(offset)
            if let p = CoordinateTable.pack(c) {
                packed.append(p)
            } else {
                packed.append(CoordinateTable.inExceptions)
                exceptions[offset] = c
            }
        }
        // About two records a bucket: the index costs two bytes a record and a lookup scans ~2.
        var shift: UInt32 = 0
        let target = max(1, offsets.count / 2)
        while shift < 31 && (UInt64(limit) >> UInt64(shift)) > UInt64(target) { shift += 1 }
        let buckets = Int(UInt64(limit) >> UInt64(shift)) + 1
        var starts = [UInt32](repeating: 0, count: buckets + 1)
        var i = 0
        for b in 0...buckets {
            while i < offsets.count && Int(offsets[i] >> shift) < b { i += 1 }
            starts[b] = UInt32(i)
        }
        // Offsets at or past `limit` (a malformed tree) land in the last bucket.
        starts[buckets] = UInt32(offsets.count)
        self.offsets = offsets
        self.packed = packed
        self.bucketStart = starts
        self.shift = shift
        self.exceptions = exceptions
    }

    /// The fixed-point form of `c`, nil when it would not give `c` back exactly.
    static func pack(_ c: Coordinate) -> UInt64? {
        let lat = (c.latitude * scale).rounded()
        let lon = (c.longitude * scale).rounded()
        guard let la = Int32(exactly: lat), let lo = Int32(exactly: lon), la != Int32.min,
              Double(la) / scale == c.latitude, Double(lo) / scale == c.longitude,
              // -0.0 would come back as +0.0: keep the sign bit exact too.
              c.latitude.sign == (Double(la) / scale).sign, c.longitude.sign == (Double(lo) / scale).sign
        else { return nil }
        return UInt64(UInt32(bitPattern: la)) << 32 | UInt64(UInt32(bitPattern: lo))
    }

    /// Number of records with coordinates.
    public var count: Int { offsets.count }
    /// Records whose coordinate is kept as a `Double` (not representable in fixed point).
    public var exceptionCount: Int { exceptions.count }
    /// Approximate bytes held.
    public var byteCount: Int { offsets.count * 12 + bucketStart.count * 4 + exceptions.count * 40 }

    /// The coordinate of the record at data-section offset `record`, nil when it has none.
    @inline(__always)
    public func coordinate(ofRecord record: UInt32) -> Coordinate? {
        let b = min(Int(record >> shift), bucketStart.count - 2)
        var i = Int(bucketStart[b])
        let end = Int(bucketStart[b + 1])
        while i < end {
            let o = offsets[i]
            if o == record {
                let p = packed[i]
                if p == CoordinateTable.inExceptions { return exceptions[record] }
                return Coordinate(latitude: Double(Int32(truncatingIfNeeded: p >> 32)) / CoordinateTable.scale,
                                  longitude: Double(Int32(truncatingIfNeeded: p)) / CoordinateTable.scale)
            }
            if o > record { return nil }
            i += 1
        }
        return nil
    }
}
