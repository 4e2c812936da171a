import FuzzSupport

// The admin API's request-body parsers (`AdminRequestParser`: POST /load form and JSON bodies,
// POST /backends/{ip}/force, addresses from paths) on arbitrary bytes.
//
// The parsers are pure, but their module (AdminAPI) links Hummingbird, SwiftNIO and
// AsyncHTTPClient, which would make the sanitizer build several times longer; so this target
// compiles the two parser files themselves (symbolic links to Sources/AdminAPI) into its own
// module. They import only DNSWire, GeoRouting and Foundation.
//
// Input: byte 0 picks the call (bits 0-1: load, force, address) and the Content-Type
// (bits 2-4); the rest is the body.

let contentTypes: [String?] = [nil, "application/json", "application/x-www-form-urlencoded", "text/plain; charset=utf-8",
                               "application/problem+json", "APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8", "", ";"]

@_cdecl("LLVMFuzzerTestOneInput")
public func adminFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let contentType = contentTypes[Int(control >> 2) & 7]
    switch control & 3 {
    case 0:
        if let reports = try? AdminRequestParser.parseLoad(body: body, contentType: contentType) {
            precondition(!reports.isEmpty && reports.count <= AdminRequestParser.maxBatch, "batch size \(reports.count)")
            for r in reports { precondition(r.load.isFinite && r.load >= 0, "accepted load \(r.load)") }
        }
    case 1:
        _ = try? AdminRequestParser.parseForce(body: body, contentType: contentType)
    case 2:
        _ = try? AdminRequestParser.parseForm(body)
    default:
        _ = try? AdminRequestParser.parseAddress(String(decoding: body, as: UTF8.self))
    }
    return 0
}

@main
struct AdminFuzzer {
    static func main() { FuzzDriver.main(adminFuzzerTestOneInput) }
}
