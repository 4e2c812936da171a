import DNSWire

/// A sharded, lock-protected cache of database answers keyed by client network.
///
/// The difficulty is that the record's network is only known after the lookup. Every address is
/// therefore keyed by its /24 (IPv4) or /48 (IPv6) "block". When the record's network is at least
/// that wide, the block holds the answer itself (`.whole`); when records are narrower, the block
/// holds the few narrower answers seen so far (`.split`), scanned linearly — a /24 holds at most
/// a handful of distinct records in practice, and the list is bounded.
///
/// Shards keep the two DNS worker threads from contending on one mutex. A full shard is cleared
/// (cheap, and the database refills it at tree-walk speed).
final class NetworkCache: Sendable {
    static let blockV4 = 24
    static let blockV6 = 48
    static let maxSplitEntries = 32
    private static let shardBits = 6

    private struct Key: Hashable {
        var hi: UInt64
        var lo: UInt64
    }

    private enum Entry {
        case whole(MaxMindLookup)
        case split([MaxMindLookup])
    }

    private let shards: [LockedBox<[Key: Entry]>]
    private let perShardCapacity: Int

    init(capacity: Int) {
        let count = 1 << Self.shardBits
        perShardCapacity = max(16, capacity / count)
        shards = (0..<count).map { _ in LockedBox([Key: Entry]()) }
    }

    @inline(__always)
    private static func key(_ address: IPAddress) -> Key {
        switch address {
        case .v4(let a):
            // Bit 32 set: never collides with an IPv6 key, whose `lo` is always zero.
            return Key(hi: 0, lo: UInt64(a & 0xFFFF_FF00) | (1 << 32))
        case .v6(let hi, _):
            return Key(hi: hi & 0xFFFF_FFFF_FFFF_0000, lo: 0)
        }
    }

    @inline(__always)
    private func shard(_ key: Key) -> LockedBox<[Key: Entry]> {
        let mixed = (key.hi ^ key.lo) &* 0x9E37_79B9_7F4A_7C15
        return shards[Int(truncatingIfNeeded: mixed >> UInt64(64 - Self.shardBits))]
    }

    func get(_ address: IPAddress) -> MaxMindLookup? {
        let k = Self.key(address)
        return shard(k).withLock { table -> MaxMindLookup? in
            switch table[k] {
            case .none: return nil
            case .whole(let answer): return answer
            case .split(let answers):
                for answer in answers where answer.network.contains(address) { return answer }
                return nil
            }
        }
    }

    func put(_ address: IPAddress, _ answer: MaxMindLookup) {
        let k = Self.key(address)
        let block: Int
        switch address {
        case .v4: block = Self.blockV4
        case .v6: block = Self.blockV6
        }
        let capacity = perShardCapacity
        shard(k).withLock { table in
            if table.count >= capacity && table[k] == nil { table.removeAll(keepingCapacity: true) }
            if answer.network.prefixLength <= block {
                table[k] = .whole(answer)
                return
            }
            switch table[k] {
            case .split(var answers):
                guard answers.count < Self.maxSplitEntries,
                      !answers.contains(where: { $0.network == answer.network }) else { return }
                table[k] = nil  // keep the array uniquely referenced while appending
                answers.append(answer)
                table[k] = .split(answers)
            case .none, .whole:
                table[k] = .split([answer])
            }
        }
    }
}
