import DNSWire
import FuzzSupport

// The DDNS API's request-body validation (`DDNSRequestValidation.parseSiloBody`, the body of
// `PUT /silos/{id}`) on arbitrary bytes. Like fuzz-admin, it compiles the pure files themselves
// (symbolic links to Sources/DDNS and Sources/AdminAPI/StrictJSON.swift), not the DDNS module,
// which links GRDB, PostgresNIO and SwiftNIO.
//
// Input: byte 0 picks the rules (bits 0-1: max records 1, 4, 64, 10000; bit 2: absolute names
// allowed under example.test.; bit 3: the name policy refuses www.example.test.); the rest is
// the body. Checks: an accepted silo keeps the rules — at most max records, LDH lowercased
// hostnames or absolute names in an allowed zone, served names ≤ 255 octets, no duplicate
// (hostname, family), TTLs 1...86400, sorted — and every refusal is a 400 or 413 with a message;
// and the one-pass reader of plain bodies (`plainRecords`) returns, whenever it accepts a body,
// exactly the records the document parser reads from it.
//
// Bit 4 of byte 0 switches to the API's routing (`DDNSCall`, symbolic link to Sources/DDNS): the
// rest is `METHOD SP request-target`. Checks: routing and query decoding never trap; decoding
// never grows a value and leaves text without escapes as it is; a silo id is routed only from the
// silo paths, never empty; a 405 does not refuse an allowed method.
//
// Bit 5 of byte 0 switches to the listener's HTTP parser (`DDNSHTTPParser`, symbolic link): byte
// 1 is a piece size, the rest a connection's bytes. Checks: read whole and read in pieces of that
// size (as a slow client sends them), the requests (heads, body bytes, ends) and the refusal are
// the same; bodies never hold more bytes than were sent; a refusal's status is 400, 431, 501 or
// 505 with a message; heads have a token method, a non-empty target, version 1.0 or 1.1.

let zone = try! DomainName(parsing: "dyn.example.test.")
let allowed = try! DomainName(parsing: "example.test.")
let refused = try! DomainName(parsing: "www.example.test.")

@_cdecl("LLVMFuzzerTestOneInput")
public func ddnsFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let body = Array(input.dropFirst())
    if control & 32 != 0 {
        http(body)
        return 0
    }
    if control & 16 != 0 {
        route(String(decoding: body, as: UTF8.self))
        return 0
    }
    let maxRecords = [1, 4, 64, 10_000][Int(control & 3)]
    let rules = DDNSValidationRules(zone: zone, allowNamesIn: control & 4 != 0 ? [allowed] : [],
                                    maxRecordsPerSilo: maxRecords)
    let policy = control & 8 != 0
    // The one-pass reader of plain bodies agrees with the document parser on all it accepts.
    if let plain = DDNSRequestValidation.plainRecords(body, maxRecords: maxRecords) {
        do throws(DDNSAPIError) {
            let full = try DDNSRequestValidation.documentRecords(body, siloID: "s1", rules: rules)
            precondition(plain == full, "plain reader \(plain) differs from the document's \(full)")
        } catch {
            preconditionFailure("plain reader accepted a body the document parser refuses: \(error)")
        }
    }
    do throws(DDNSAPIError) {
        let silo = try DDNSRequestValidation.parseSiloBody(body, siloID: "s1", rules: rules) { name in
            policy && name == refused ? "refused by policy" : nil
        }
        precondition(silo.records.count <= maxRecords, "\(silo.records.count) records over \(maxRecords)")
        var seen = Set<String>()
        for record in silo.records {
            let served = DDNSRequestValidation.servedName(hostname: record.hostname, siloID: "s1", zone: zone)
            precondition(served != nil && served!.wire.count <= 255, "bad served name for \(record.hostname)")
            precondition(record.hostname == record.hostname.lowercased(), "hostname not lowercased")
            if record.hostname.hasSuffix(".") {
                precondition(served!.isSubdomain(of: allowed) && !served!.isSubdomain(of: zone), "absolute name outside allowed zones")
                precondition(!(policy && served! == refused), "policy ignored")
            } else {
                precondition(DDNSRequestValidation.isLDHLabel(Array(record.hostname.utf8)), "bad label \(record.hostname)")
            }
            if let ttl = record.ttl { precondition((1...86_400).contains(ttl), "ttl \(ttl)") }
            precondition(seen.insert("\(record.hostname) \(record.address.bitWidth)").inserted, "duplicate")
        }
        precondition(silo.records == silo.records.sorted(by: DDNSRequestValidation.recordOrder), "not sorted")
    } catch {
        precondition(error.httpStatus == 400 || error.httpStatus == 413, "status \(error.httpStatus)")
        precondition(!error.message.isEmpty, "empty message")
    }
    return 0
}

func route(_ line: String) {
    let space = line.firstIndex(of: " ") ?? line.endIndex
    let method = String(line[..<space])
    let target = space == line.endIndex ? "" : line[line.index(after: space)...]
    let question = target.firstIndex(of: "?")
    let path = target[..<(question ?? target.endIndex)]
    let query = question.map { target[target.index(after: $0)...] } ?? ""
    switch DDNSCall(method: method, path: path) {
    case .getSilo(let id), .putSilo(let id), .deleteSilo(let id), .makeToken(let id):
        precondition(path.split(separator: "/").first == "silos", "silo id routed from \(path)")
        precondition(!id.isEmpty, "empty silo id from \(path)")
    case .ping, .ip, .listSilos, .dyndns2:
        precondition(method == "GET", "\(method) routed to a GET call")
    case .methodNotAllowed(let allowed):
        precondition(!allowed.split(separator: ",").map { $0.trimmingPrefix(" ") }.contains(Substring(method)),
                     "\(method) refused though allowed")
    case .unknown:
        break
    }
    for key in ["hostname", "myip", ""] {
        guard let value = DDNSCall.queryValue(query, key) else { continue }
        precondition(value.utf8.count <= query.utf8.count, "a decoded value longer than the query")
    }
    if let decoded = DDNSCall.percentDecoded(path) {
        precondition(decoded.utf8.count <= path.utf8.count, "decoding grew the text")
        precondition(path.utf8.contains(UInt8(ascii: "%")) || decoded == String(path),
                     "a path without escapes changed when decoded")
    }
}

/// One connection's requests as the parser read them, and its refusal if any.
struct HTTPReading: Equatable {
    var heads: [DDNSHTTPRequestHead] = []
    var bodies: [[UInt8]] = []
    var ended: [Bool] = []
    var failure: DDNSHTTPFailure?
}

/// Feeds `input` to a parser in pieces of `piece` bytes (0: whole), keeping what it did not
/// consume, as `DDNSRequestHandler` does.
func readHTTP(_ input: [UInt8], piece: Int) -> HTTPReading {
    var parser = DDNSHTTPParser()
    var reading = HTTPReading()
    var unread: [UInt8] = []
    var fed = 0
    while true {
        let step: (event: DDNSHTTPParser.Event?, consumed: Int)
        do {
            step = try unread.withUnsafeBytes { try parser.next($0) }
        } catch {
            reading.failure = error as? DDNSHTTPFailure
            return reading
        }
        precondition(step.consumed >= 0 && step.consumed <= unread.count, "consumed \(step.consumed) of \(unread.count)")
        switch step.event {
        case .head(let head):
            reading.heads.append(head)
            reading.bodies.append([])
            reading.ended.append(false)
        case .body(let range):
            precondition(!reading.heads.isEmpty && !reading.ended.last!, "body outside a request")
            precondition(!range.isEmpty && range.upperBound <= step.consumed, "body range \(range) past \(step.consumed)")
            reading.bodies[reading.bodies.count - 1] += unread[range]
        case .end:
            precondition(!reading.heads.isEmpty && !reading.ended.last!, "end outside a request")
            reading.ended[reading.ended.count - 1] = true
        case nil:
            break
        }
        unread.removeFirst(step.consumed)
        if step.event == nil {
            guard fed < input.count else { return reading }
            let next = piece == 0 ? input.count : min(input.count, fed + piece)
            unread += input[fed..<next]
            fed = next
        }
    }
}

func http(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let input = Array(bytes.dropFirst())
    let whole = readHTTP(input, piece: 0)
    let pieces = readHTTP(input, piece: Int(first % 17) + 1)
    precondition(whole == pieces, "whole \(whole) differs from pieces of \(Int(first % 17) + 1): \(pieces)")
    precondition(whole.bodies.reduce(0) { $0 + $1.count } <= input.count, "more body than input")
    for head in whole.heads {
        precondition(!head.method.isEmpty && head.method.utf8.allSatisfy(DDNSHTTPParser.isTokenByte), "method \(head.method)")
        precondition(!head.target.isEmpty && !head.target.utf8.contains(0x20), "target \(head.target)")
        precondition(head.minorVersion == 0 || head.minorVersion == 1, "version 1.\(head.minorVersion)")
        if let length = head.fields.contentLength { precondition(length >= 0, "negative length") }
    }
    if let failure = whole.failure {
        precondition([400, 431, 501, 505].contains(failure.status) && !failure.message.isEmpty, "refusal \(failure)")
    }
}

@main
struct DDNSFuzzer {
    static func main() { FuzzDriver.main(ddnsFuzzerTestOneInput) }
}
