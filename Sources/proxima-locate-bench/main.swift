// proxima-locate-bench: nanoseconds per client-location lookup.
//
//   proxima-locate-bench --database FILE [--iterations N] [--networks N] [--probe-only]
//
// (a) raw MaxMindDatabase.lookup of random IPv4 addresses (a tree walk + record decode each), and
// (b) GeoLocator.locate over a fixed set of ~10k client networks (varying host bits), which is the
// DNS hot path's repeat-network case served by the per-network cache;
// each on one thread and on two threads at once.
import DNSWire
import Dispatch
import GeoIP
import GeoRouting
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var database = ""
    var iterations = 2_000_000
    var networks = 10_000
    var probeOnly = false
}

nonisolated func parseOptions(_ arguments: [String]) -> Options? {
    var options = Options()
    var rest = arguments.dropFirst()
    while let flag = rest.popFirst() {
        switch flag {
        case "--database":
            guard let v = rest.popFirst() else { return nil }
            options.database = v
        case "--iterations":
            guard let v = rest.popFirst(), let n = Int(v), n > 0, n <= 1_000_000_000 else { return nil }
            options.iterations = n
        case "--probe-only":
            options.probeOnly = true
        case "--networks":
            guard let v = rest.popFirst(), let n = Int(v), n > 0, n <= 1_000_000 else { return nil }
            options.networks = n
        default:
            return nil
        }
    }
    return options.database.isEmpty ? nil : options
}

/// xorshift64*: deterministic pseudo-random addresses, no allocation.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

nonisolated func publicAddresses(count: Int, seed: UInt64) -> [IPAddress] {
    var random = Random(state: seed)
    var out: [IPAddress] = []
    out.reserveCapacity(count)
    while out.count < count {
        let a = IPAddress.v4(UInt32(truncatingIfNeeded: random.next() >> 32))
        if !a.isSpecialPurpose { out.append(a) }
    }
    return out
}

/// Runs `body(thread)` on `threads` threads at once; returns wall-clock nanoseconds.
nonisolated func timed(threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let start = ContinuousClock.now
    if threads == 1 {
        body(0)
    } else {
        DispatchQueue.concurrentPerform(iterations: threads) { body($0) }
    }
    let elapsed = ContinuousClock.now - start
    let (s, atto) = elapsed.components
    return Double(s) * 1e9 + Double(atto) / 1e9
}

final class Sink: @unchecked Sendable {
    var located = [Int](repeating: 0, count: 16)
}

nonisolated func run(_ options: Options) throws {
    let database = try MaxMindDatabase(path: options.database)
    let meta = database.metadata
    print("database: \(options.database) (\(meta.databaseType), built \(meta.buildDate), IPv\(meta.ipVersion), \(meta.nodeCount) nodes)")
    let n = options.iterations
    if options.probeOnly {
        probe(GeoLocator(database: database), n)
        return
    }
    let random = publicAddresses(count: 1 << 20, seed: 0x9E37_79B9_7F4A_7C15)
    let mask = random.count - 1

    let sink = Sink()
    for threads in [1, 2] {
        let perThread = n / threads
        let ns = timed(threads: threads) { t in
            var located = 0
            let offset = t * 7919
            for i in 0..<perThread {
                if case .located? = try? database.lookup(random[(i &+ offset) & mask]) { located += 1 }
            }
            sink.located[t] = located
        }
        let perLookup = ns / Double(perThread * threads) * Double(threads)
        print("raw database lookup, random IPv4, \(threads) thread(s): \(fmt(perLookup)) ns/lookup per thread, "
              + "\(fmt(ns / Double(perThread * threads))) ns/lookup aggregate, located \(sink.located[0])/\(perThread)")
    }

    // The DNS query path's lookup: precomputed record coordinates (no record decoding, no lock).
    let openStart = ContinuousClock.now
    let precomputed = try MaxMindDatabase(path: options.database, precomputeCoordinates: true)
    print("open with precomputed coordinates: \(ContinuousClock.now - openStart), \(precomputed.locatedRecordCount) records with coordinates")
    for threads in [1, 2] {
        let perThread = n / threads
        let ns = timed(threads: threads) { t in
            var located = 0
            let offset = t * 7919
            for i in 0..<perThread where precomputed.quickLocate(random[(i &+ offset) & mask]) != nil { located += 1 }
            sink.located[t] = located
        }
        let perLookup = ns / Double(perThread * threads) * Double(threads)
        print("quickLocate (query path), random IPv4, \(threads) thread(s): \(fmt(perLookup)) ns/lookup per thread, "
              + "\(fmt(ns / Double(perThread * threads))) ns/lookup aggregate, located \(sink.located[0])/\(perThread)")
    }

    let networks = publicAddresses(count: options.networks, seed: 42)
    let locator = GeoLocator(database: database)
    probe(locator, n)
    let now = ContinuousClock.now
    for a in networks { _ = locator.locate(a, now: now) }  // warm the per-network cache
    for threads in [1, 2] {
        let perThread = n / threads
        let ns = timed(threads: threads) { t in
            var located = 0
            for i in 0..<perThread {
                guard case .v4(let base) = networks[(i &+ t * 5003) % networks.count] else { continue }
                // Same /24 as the warmed address, different host.
                let host = IPAddress.v4((base & 0xFFFF_FF00) | UInt32(truncatingIfNeeded: i >> 3) & 0xFF)
                if case .located = locator.locate(host, now: now) { located += 1 }
            }
            sink.located[t] = located
        }
        let perLookup = ns / Double(perThread * threads) * Double(threads)
        print("GeoLocator repeat-network (\(networks.count) networks), \(threads) thread(s): \(fmt(perLookup)) ns/lookup per thread, "
              + "\(fmt(ns / Double(perThread * threads))) ns/lookup aggregate, located \(sink.located[0])/\(perThread)")
    }
}

/// Decomposition: one cached address, through `databaseAnswer` (cache only) and `locate`.
nonisolated func probe(_ locator: GeoLocator, _ n: Int) {
    let a = IPAddress.v4(0x5102_458E)  // 81.2.69.142
    _ = locator.locate(a, now: .now)
    let now = ContinuousClock.now
    let sink = Sink()
    let t1 = timed(threads: 1) { _ in
        var h = 0
        for _ in 0..<n where locator.databaseAnswer(a) != nil { h += 1 }
        sink.located[0] = h
    }
    let t2 = timed(threads: 1) { _ in
        var h = 0
        for _ in 0..<n { if case .located = locator.locate(a, now: now) { h += 1 } }
        sink.located[1] = h
    }
    print("one cached address: databaseAnswer \(fmt(t1 / Double(n))) ns, locate \(fmt(t2 / Double(n))) ns "
          + "(\(sink.located[0]), \(sink.located[1]))")
}

nonisolated func fmt(_ v: Double) -> String {
    let scaled = (v * 10).rounded() / 10
    return "\(scaled)"
}

guard let options = parseOptions(CommandLine.arguments) else {
    print("usage: proxima-locate-bench --database FILE [--iterations N] [--networks N] [--probe-only]")
    exit(64)
}
do {
    try run(options)
} catch {
    print("proxima-locate-bench: \(error)")
    exit(1)
}
