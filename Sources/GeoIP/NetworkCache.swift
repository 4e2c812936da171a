import DNSWire

/// A sharded, lock-protected cache of database answers keyed by client network.
///
/// The difficulty is that the record's network is only known after the lookup. Every address is
/// therefore keyed by its /24 (IPv4) or /48 (IPv6) "block". When the record's network is at least
/// that wide, the block holds the answer itself (`.whole`); when records are narrower, the block
/// holds the narrower answers seen so far: for IPv4 a 256-slot table indexed by the last octet
/// (one array read per lookup), for IPv6 a short bounded list scanned linearly.
///
/// Shards keep the two DNS worker threads from contending on one mutex. A full shard is cleared
/// (cheap, and the database refills it at tree-walk speed).
final class NetworkCache: Sendable {
    static let blockV4 = 24
    static let blockV6 = 48
    static let maxSplitEntries = 64
    private static let shardBits = 6

    private struct Key: Hashable {
        var hi: UInt64
        var lo: UInt64

        /// One `combine` instead of two: the keys are already well spread.
        func hash(into hasher: inout Hasher) {
            hasher.combine(hi ^ (lo &* 0x9E37_79B9_7F4A_7C15))
        }
    }

    /// A /24 holding records narrower than itself: `slots[lastOctet]` is 1 + the index of the
    /// answer covering that address (0 = not seen yet), so a lookup is one array read.
    private struct SplitV4 {
        var slots = [UInt8](repeating: 0, count: 256)
        var answers: [MaxMindLookup] = []
    }

    /// Boxed so that reading an entry out of the table copies one reference, not the whole
    /// `Location` (measured: the value copies dominated the cached path).
    private final class Answer: Sendable {
        let value: MaxMindLookup
        init(_ value: MaxMindLookup) { self.value = value }
    }

    private enum Entry {
        case whole(Answer)
        case splitV4(SplitV4)
        case splitV6([MaxMindLookup])
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
            case .whole(let answer): return answer.value
            case .splitV4(let split):
                guard case .v4(let a) = address else { return nil }
                let slot = Int(split.slots[Int(a & 0xFF)])
                return slot == 0 ? nil : split.answers[slot - 1]
            case .splitV6(let answers):
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
                table[k] = .whole(Answer(answer))
                return
            }
            if case .v4 = address, case .v4(let networkAddress) = answer.network.address {
                var split: SplitV4
                if case .splitV4(let existing) = table[k] { split = existing } else { split = SplitV4() }
                table[k] = nil  // keep the arrays uniquely referenced while mutating
                let first = Int(networkAddress & 0xFF)
                let count = 1 << (32 - answer.network.prefixLength)
                if split.slots[first] == 0 && split.answers.count < 255 {
                    split.answers.append(answer)
                    let index = UInt8(split.answers.count)
                    for i in first..<min(256, first + count) { split.slots[i] = index }
                }
                table[k] = .splitV4(split)
                return
            }
            switch table[k] {
            case .splitV6(var answers):
                guard answers.count < Self.maxSplitEntries,
                      !answers.contains(where: { $0.network == answer.network }) else { return }
                table[k] = nil  // keep the array uniquely referenced while appending
                answers.append(answer)
                table[k] = .splitV6(answers)
            case .none, .whole, .splitV4:
                table[k] = .splitV6([answer])
            }
        }
    }
}
