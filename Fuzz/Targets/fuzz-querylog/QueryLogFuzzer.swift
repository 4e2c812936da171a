import DNSWire
import Foundation
import FuzzSupport
import QueryEngine

// The query log's byte formatter (`QueryLogFormatter`) on arbitrary query and response bytes.
//
// Input: byte 0 picks the line's facts (bit 0: TCP; bits 1-3: placement, mod 5; bit 4: a routed
// name the labels know, bit 5: one they do not; bit 6: the response was cut; bit 7: an IPv6
// client); byte 1 says how many of the remaining bytes are the query (mod their count + 1); the
// rest is the response. Checks: no trap; the line is exactly what the `Message`-based formatter it
// replaced writes (`QueryLogReference`: the same acceptance of malformed messages, the same
// presentation format and escaping); one line, valid UTF-8, a JSON object (`JSONSerialization`).

let labels = ReferenceLabels(
    routes: [(nameHash: 0x5eed, name: "www.geo.test.", pools: ["web", "spare"]),
             (nameHash: 0x1dea, name: "q\"\\\u{1}\u{e9}.test.", pools: ["p\n"])],
    members: ["web": [IPAddress("192.0.2.10")!: "lon", IPAddress("2001:db8::10")!: "lon6"],
              "spare": [IPAddress("192.0.2.20")!: "spare \"one\""],
              "p\n": [IPAddress("192.0.2.30")!: "m\u{7f}\u{2603}"]])
let encoded = labels.encoded

@_cdecl("LLVMFuzzerTestOneInput")
public func queryLogFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard input.count >= 2 else { return 0 }
    let control = input[0]
    let rest = Array(input.dropFirst(2))
    let split = Int(input[1]) % (rest.count + 1)
    let query = Array(rest[..<split]), response = Array(rest[split...])
    let hash: UInt64 = control & 0x10 != 0 ? 0x5eed : control & 0x20 != 0 ? 0x1dea + 1 : 0
    let client = control & 0x80 != 0 ? IPAddress("2001:db8::7")! : IPAddress("198.51.100.7")!
    // A small first buffer: long lines exercise its growth.
    var formatter = QueryLogFormatter(capacity: 64)
    var expected = ""
    query.withUnsafeBytes { q in
        response.withUnsafeBytes { r in
            let e = QueryLogEntry(seconds: 1_700_000_000 + Int64(control), nanoseconds: Int64(split) * 3_900_000,
                                  client: client, port: UInt16(size & 0xffff), tcp: control & 1 != 0,
                                  placement: PlacementKind(rawValue: (control >> 1 & 7) % 5)!, routeNameHash: hash,
                                  query: q, response: r, responseCut: control & 0x40 != 0)
            expected = QueryLogReference.line(e, labels: labels) + "\n"
            formatter.append(e, labels: encoded)
        }
    }
    let line = Array(formatter.bytes)
    precondition(String(validating: line, as: UTF8.self) != nil, "not UTF-8")
    let text = String(decoding: line, as: UTF8.self)
    precondition(text == expected, "differs from the reference:\n\(text)\(expected)")
    precondition(line.firstIndex(of: 10) == line.count - 1, "not one line")
    let object = try? JSONSerialization.jsonObject(with: Data(line.dropLast()))
    precondition(object is [String: Any], "not a JSON object: \(text)")
    return 0
}

@main
struct QueryLogFuzzer {
    static func main() { FuzzDriver.main(queryLogFuzzerTestOneInput) }
}
