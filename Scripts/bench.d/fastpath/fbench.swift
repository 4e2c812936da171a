import DNSWire
import Forwarder
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// fbench QUERIES: 1000 forwarded names (h0...h999.fwd.test A, as Scripts/bench's forward workload)
// answered from the forward cache the way EngineWorker.forward does on a hit; ns/query.
let count = Int(CommandLine.arguments[1])!
let hits = Atomic<Int>(0)
func name(_ s: String) -> DomainName { try! DomainName(parsing: s) }
let cache = ForwardCache(maxEntries: 100_000)
var queries: [[UInt8]] = []
for i in 0..<1000 {
    let q = Question(name: name("h\(i).fwd.test."), type: .a)
    var h = Header(id: 7, isResponse: true, authoritative: true, recursionDesired: true, recursionAvailable: false)
    h.rcodeLow = 0
    let up = Message(header: h, questions: [q], answerSection: [ResourceRecord(name: q.name, ttl: 86400, rdata: .a(IPAddress("198.51.100.\(i % 250 + 1)")!))],
                     edns: EDNS(udpPayloadSize: 4096)).serialized()
    let r = try! RelayedAnswer(upstream: up, question: q, maxTTL: 86_400, negativeTTL: 300)
    let b = Message(header: Header(id: UInt16(i), recursionDesired: true), questions: [q], edns: EDNS(udpPayloadSize: 1232)).serialized()
    let fq = b.withUnsafeBytes { ForwardQuery.parse($0)! }
    cache.insert(key: b.withUnsafeBytes { fq.key($0) }, hash: fq.hash, answer: r, now: 0, generation: 1)
    queries.append(b)
}
#if LOCAL
var local = ForwardLocalCache()
#endif
var out = [UInt8](repeating: 0, count: 65535)
var answered = 0
let memo = UnsafeMutablePointer<UInt64>.allocate(capacity: 1024)
memo.initialize(repeating: 0, count: 1024)
@MainActor func run(_ n: Int) {
    out.withUnsafeMutableBytes { ob in
        for k in 0..<n {
            let b = queries[k % queries.count]
            let r: Int? = b.withUnsafeBytes { qb in
                guard let q = ForwardQuery.parse(qb) else { return nil }
                let limit = q.sizeLimit(tcp: false, maxUDPPayload: 1232)
                if memo[Int(truncatingIfNeeded: q.hash) & 1023] == q.hash { return nil }
                let now = 1 + Double(k) * 1e-5
                #if LOCAL
                if let n = local.answer(query: qb, q: q, now: now, generation: 1, limit: limit, ourPayload: 1232, output: ob) {
                    hits.add(1, ordering: .relaxed)
                    return n
                }
                guard let hit = cache.lookup(query: qb, q: q, now: now, generation: 1) else { return nil }
                local.remember(hit, q: q, now: now)
                hits.add(1, ordering: .relaxed)
                return hit.render(query: qb, q: q, now: now, limit: limit, ourPayload: 1232, output: ob)
                #else
                guard let n = cache.answer(query: qb, q: q, now: now, generation: 1, limit: limit, ourPayload: 1232, output: ob) else { return nil }
                hits.add(1, ordering: .relaxed)
                return n
                #endif
            }
            if r != nil { answered += 1 }
        }
    }
}
run(min(count, 20_000))
answered = 0
/// The measured run, a function of its own: `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*measured*'` counts exactly the instructions executed inside it.
@MainActor @inline(never) func measured() { run(count) }
var t0 = timespec(), t1 = timespec()
clock_gettime(CLOCK_MONOTONIC, &t0)
measured()
clock_gettime(CLOCK_MONOTONIC, &t1)
let ns = Double(t1.tv_sec - t0.tv_sec) * 1e9 + Double(t1.tv_nsec - t0.tv_nsec)
print("forward: \(answered)/\(count) answered, \(Double(Int(ns / Double(count) * 10)) / 10) ns/query")
