import DNSWire
import DNSZone
import GeoRouting
import QueryEngine
#if canImport(Glibc)
import Glibc
#endif

// qbench WORKLOAD QUERIES ZONEFILE: answers QUERIES queries of the bench's `static` or `synth` list through
// AnswerCache.answer (UDP, RRL on at rate 1e6 as Scripts/bench configures it), printing ns/query.
let args = CommandLine.arguments
let workload = args[1]
let count = Int(args[2])!
let zoneText = try! String(contentsOfFile: CommandLine.arguments[3], encoding: .utf8)
let zone = try! ZoneParser.parse(text: zoneText, file: "example.test.zone", origin: try! DomainName(parsing: "example.test."))
let template = try! NameTemplate.parse("ip-{ipv4}.synth.example.test.").get()
let rule = SynthesisRule(name: template, kind: .forward(.address(within: [IPNetwork("10.0.0.0/8")!])), ttl: 300,
                         source: SynthesisRuleSource(index: 0, file: "bench.yaml", line: 1))
let snap = EngineSnapshot(zones: try! ZoneSet([zone]), routes: [:], geoData: nil, locator: NoLocator(),
                          settings: EngineSettings(maxUDPPayload: 1232, rateLimit: RateLimitSettings(rate: 1_000_000)),
                          generation: 1, synthesis: [rule])
func query(_ name: String, _ type: RecordType, id: UInt16) -> [UInt8] {
    Message(header: Header(id: id, recursionDesired: true), questions: [Question(name: try! DomainName(parsing: name), type: type)],
            edns: EDNS(udpPayloadSize: 1232)).serialized()
}
var queries: [[UInt8]] = []
if workload == "static" {
    for (n, t) in [("www.example.test.", RecordType.a), ("mail.example.test.", .a), ("api.example.test.", .a),
                   ("ns1.example.test.", .a), ("example.test.", .mx), ("www.example.test.", .aaaa)] {
        queries.append(query(n, t, id: UInt16(queries.count)))
    }
} else {
    for i in 1...100_000 {
        queries.append(query("ip-10-\((i >> 16) & 255)-\((i >> 8) & 255)-\(i & 255).synth.example.test.", .a, id: UInt16(i & 0xffff)))
    }
}
var cache = AnswerCache(snapshot: snap, seed: 1)
var out = [UInt8](repeating: 0, count: 65535)
let source = IPAddress("127.0.0.1")!
let states = BackendStates()
var answered = 0
@MainActor func run(_ n: Int) {
    out.withUnsafeMutableBytes { ob in
        for k in 0..<n {
            let q = queries[k % queries.count]
            let r = q.withUnsafeBytes { qb in
                cache.answer(query: qb, source: source, transport: .udp, now: Double(k) * 1e-5, states: states,
                             statesGeneration: 1, output: ob)
            }
            if case .reply = r { answered += 1 }
        }
    }
}
run(min(count, 20_000))   // warm-up: caches learned, pages touched
answered = 0
/// The measured run, a function of its own: `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*measured*'` counts exactly the instructions executed inside it.
@MainActor @inline(never) func measured() { run(count) }
var t0 = timespec(), t1 = timespec()
clock_gettime(CLOCK_MONOTONIC, &t0)
measured()
clock_gettime(CLOCK_MONOTONIC, &t1)
let ns = Double(t1.tv_sec - t0.tv_sec) * 1e9 + Double(t1.tv_nsec - t0.tv_nsec)
print("\(workload): \(answered)/\(count) answered, \(Double(Int(ns / Double(count) * 10)) / 10) ns/query")
