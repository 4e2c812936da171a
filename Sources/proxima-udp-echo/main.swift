// proxima-udp-echo: the bare UDP fast path (`DNSServer.UDPServer`) with a fixed-answer worker, to
// measure the transport alone against gdnsd (Scripts/bench, DESIGN §5). Not a DNS server: it
// answers every well-formed query with one A record, 192.0.2.1, TTL 60.
//
//   proxima-udp-echo [--listen 127.0.0.1:5300] [--threads 1] [--gso on|off]
//
// `--gso off` sends every reply on its own (UDPServer's segmented replies off): the per-datagram
// transport floor.
//
// Prints `listening on ADDR:PORT` once bound, then serves until SIGINT/SIGTERM.
#if canImport(Glibc)
import Glibc
#endif
import DNSServer
import DNSWire

/// Answers every query that has QR=0 and one question with `A 192.0.2.1`: the header and question
/// are copied, then one RR with a compression pointer to the question name (RFC 1035 §4.1.4).
final class FixedAnswerWorker: QueryWorker {
    func handle(query: UnsafeRawBufferPointer, client: ClientEndpoint,
                output: UnsafeMutableRawBufferPointer, sink: ReplySink) -> QueryDisposition {
        guard query.count >= 17, query[2] & 0x80 == 0, query[4] == 0, query[5] == 1 else { return .drop }
        var offset = 12
        while offset < query.count, query[offset] != 0 {
            let length = Int(query[offset])
            guard length < 64 else { return .drop }
            offset += 1 + length
        }
        offset += 5  // root label, QTYPE, QCLASS
        let length = offset + 16
        guard offset <= query.count, length <= output.count else { return .drop }
        output.copyMemory(from: UnsafeRawBufferPointer(rebasing: query[0..<offset]))
        output[2] = 0x84 | (query[2] & 0x79)  // QR, AA; opcode and RD copied
        output[3] = 0                          // NOERROR, no RA
        output[6] = 0; output[7] = 1           // ANCOUNT 1
        for i in 8..<12 { output[i] = 0 }      // no NS/AR (the query's OPT is not echoed)
        let rr: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
            = (0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
        withUnsafeBytes(of: rr) { output.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: 16) }
        return .reply(length: length)
    }
}

/// Makes one `FixedAnswerWorker` per UDP thread.
struct FixedAnswerHandler: QueryHandler {
    func makeWorker() -> QueryWorker { FixedAnswerWorker() }
}

/// Writes to standard error (fd 2; the C `stderr` global is not concurrency-safe in Swift 6).
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0x0a)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    printError("usage: proxima-udp-echo [--listen ADDR:PORT] [--threads N] [--gso on|off]")
    exit(2)
}

var endpoint = ServerEndpoint(address: .v4(0x7f00_0001), port: 5300)
var threads = 1
var gso = true
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { usage() }
    switch flag {
    case "--listen":
        guard let parsed = ServerEndpoint(value) else { usage() }
        endpoint = parsed
    case "--threads":
        guard let n = Int(value), n >= 0 else { usage() }
        threads = n
    case "--gso":
        guard value == "on" || value == "off" else { usage() }
        gso = value == "on"
    default:
        usage()
    }
}

// Block the stop signals in every thread (the workers inherit the mask) and wait for them here.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)

let server = UDPServer(endpoint: endpoint, handler: FixedAnswerHandler(),
                       configuration: .init(threads: threads, gso: gso))
do {
    let bound = try server.start()
    print("listening on \(bound) with \(server.threadCount) thread(s)")
    fflush(nil)
} catch {
    printError("proxima-udp-echo: \(error)")
    exit(1)
}
var received: Int32 = 0
sigwait(&signals, &received)
server.stop()
