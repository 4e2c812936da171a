import CProximaNet
import DNSServer
import DNSWire
import QueryEngine
import Synchronization

/// One query thread's counters (a UDP worker or a TCP event loop): a flat block of 64-bit
/// counters that only its thread writes, with relaxed atomic stores (plain moves: no lock prefix,
/// no shared cache line), and that a scrape reads and sums over every thread
/// (`QueryCounterRegistry`). DESIGN §4: the metrics step's per-thread state.
public final class QueryCounterBlock: @unchecked Sendable {
    // @unchecked: `base` is written only by the owning thread through relaxed atomic stores and read
    // elsewhere only through relaxed/acquire atomic loads (CProximaNet's counter functions).

    /// Record types with their own `qtype` label; everything else is `other`.
    static let qtypes: [(UInt16, String)] = [
        (1, "A"), (2, "NS"), (5, "CNAME"), (6, "SOA"), (12, "PTR"), (15, "MX"), (16, "TXT"), (28, "AAAA"),
        (33, "SRV"), (35, "NAPTR"), (43, "DS"), (48, "DNSKEY"), (64, "SVCB"), (65, "HTTPS"), (99, "SPF"),
        (251, "IXFR"), (252, "AXFR"), (255, "ANY"), (257, "CAA"),
    ]
    static let qtypeBuckets = qtypes.count + 1
    static let rcodes = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
                         "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15"]
    static let transports = ["udp", "tcp"]

    // Layout (indices into the block).
    static let queriesBase = 0
    static let queriesCount = 2 * qtypeBuckets * 16
    static let ecsPresent = queriesCount            // answered queries carrying Client Subnet
    static let ecsAbsent = ecsPresent + 1
    static let truncated = ecsAbsent + 1            // [transport]
    static let dropped = truncated + 2              // [transport][reason: 0 rrl, 1 unanswerable]
    static let rrlSlipped = dropped + 4
    static let placements = rrlSlipped + 1          // [PlacementKind.rawValue]
    static let deferred = placements + 8            // [transport]: answered later (ipstack, forwarder)
    static let routedOverflow = deferred + 2        // routed answers not counted per member (table full)
    static let logDropped = routedOverflow + 1      // query-log lines dropped (ring full)
    static let logSampledOut = logDropped + 1       // not sampled (`query_log.sample`)
    static let fixedCount = 704                     // rounded up to a multiple of 8 (64-byte lines)
    /// Routed answers per (name, member): open-addressed entries of four words
    /// (name hash — written last, with release —, address high, address low, count).
    static let routedSlots = 512
    static let routedBase = fixedCount
    static let totalWords = fixedCount + routedSlots * 4

    let base: UnsafeMutablePointer<UInt64>

    init() {
        precondition(Self.logSampledOut < Self.fixedCount)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Self.totalWords * 8, alignment: 128)
        base = raw.bindMemory(to: UInt64.self, capacity: Self.totalWords)
        base.initialize(repeating: 0, count: Self.totalWords)
    }

    deinit { base.deallocate() }

    /// The owning thread's writer of this block.
    var writer: QueryCounterWriter { QueryCounterWriter(base: base) }

    @inline(__always)
    func load(_ index: Int) -> UInt64 { cproxima_counter_load(base + index) }

    @inline(__always)
    static func qtypeIndex(_ t: UInt16) -> Int {
        switch t {
        case 1: return 0
        case 2: return 1
        case 5: return 2
        case 6: return 3
        case 12: return 4
        case 15: return 5
        case 16: return 6
        case 28: return 7
        case 33: return 8
        case 35: return 9
        case 43: return 10
        case 48: return 11
        case 64: return 12
        case 65: return 13
        case 99: return 14
        case 251: return 15
        case 252: return 16
        case 255: return 17
        case 257: return 18
        default: return 19
        }
    }

    @inline(__always)
    static func queryIndex(transport: Int, qtype: Int, rcode: Int) -> Int {
        queriesBase + (transport * qtypeBuckets + qtype) * 16 + rcode
    }

    /// The routed entries: (name hash, address high, address low, count).
    func routedEntries() -> [(UInt64, UInt64, UInt64, UInt64)] {
        var out: [(UInt64, UInt64, UInt64, UInt64)] = []
        for slot in 0..<Self.routedSlots {
            let e = base + Self.routedBase + slot * 4
            let tag = cproxima_load_acquire(e)
            guard tag != 0 else { continue }
            out.append((tag, cproxima_counter_load(e + 1), cproxima_counter_load(e + 2), cproxima_counter_load(e + 3)))
        }
        return out
    }

    /// An address as the two words of a routed entry: IPv4 has the all-ones high word (never a
    /// backend's IPv6 prefix).
    @inline(__always)
    static func words(v4 a: UInt32) -> (UInt64, UInt64) { (.max, UInt64(a)) }

    static func address(hi: UInt64, lo: UInt64) -> IPAddress {
        hi == .max ? .v4(UInt32(truncatingIfNeeded: lo)) : .v6(hi, lo)
    }
}

/// The owning thread's view of its `QueryCounterBlock`: the block's words without a reference to
/// the block, so counting a query retains nothing (the registry keeps every block for the
/// server's life; the worker holds its block too).
struct QueryCounterWriter {
    let base: UnsafeMutablePointer<UInt64>

    @inline(__always)
    func add(_ index: Int, _ n: UInt64 = 1) { cproxima_counter_add(base + index, n) }

    /// Counts one pool answer of `address` for the routed name with hash `nameHash`.
    @inline(__always)
    func countRouted(nameHash: UInt64, hi: UInt64, lo: UInt64) {
        var h = (nameHash ^ hi ^ (lo &* 0x9e37_79b9_7f4a_7c15)) &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 29
        let mask = QueryCounterBlock.routedSlots - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        for _ in 0..<16 {
            let e = base + QueryCounterBlock.routedBase + slot * 4
            let tag = e.pointee   // only this thread writes it
            if tag == nameHash && e[1] == hi && e[2] == lo {
                cproxima_counter_add(e + 3, 1)
                return
            }
            if tag == 0 {
                cproxima_counter_add(e + 1, hi)
                cproxima_counter_add(e + 2, lo)
                cproxima_counter_add(e + 3, 1)
                cproxima_store_release(e, nameHash)   // published last: a scrape sees whole entries
                return
            }
            slot = (slot + 1) & mask
        }
        add(QueryCounterBlock.routedOverflow)
    }
}

/// Every query thread's counter block, summed on scrape. Blocks are registered when a worker is
/// made (once per thread at start) and live as long as the server.
public final class QueryCounterRegistry: Sendable {
    private let blocks = Mutex<[QueryCounterBlock]>([])

    public init() {}

    /// A new block for one query thread.
    func makeBlock() -> QueryCounterBlock {
        let b = QueryCounterBlock()
        blocks.withLock { $0.append(b) }
        return b
    }

    /// The sum of one counter over every thread.
    func sum(_ index: Int) -> UInt64 {
        blocks.withLock { $0.reduce(0) { $0 &+ $1.load(index) } }
    }

    /// Every fixed counter summed over the threads (index → value).
    func sums() -> [UInt64] {
        let all = blocks.withLock { $0 }
        var out = [UInt64](repeating: 0, count: QueryCounterBlock.fixedCount)
        for b in all { for i in 0..<QueryCounterBlock.fixedCount { out[i] &+= b.load(i) } }
        return out
    }

    /// Routed answers summed over the threads: (name hash, address) → count.
    func routedSums() -> [RoutedKey: UInt64] {
        let all = blocks.withLock { $0 }
        var out: [RoutedKey: UInt64] = [:]
        for b in all {
            for (name, hi, lo, count) in b.routedEntries() {
                out[RoutedKey(nameHash: name, address: QueryCounterBlock.address(hi: hi, lo: lo)), default: 0] &+= count
            }
        }
        return out
    }

    struct RoutedKey: Hashable {
        var nameHash: UInt64
        var address: IPAddress
    }
}
