import DNSWire
import DNSZone
import FuzzSupport

// The master-file parser (RFC 1035 §5, RFC 3597 §5, BIND directives) on arbitrary text, origin
// `fz.test.`. A zone that parses is then looked up at every owner name, each record is written to
// the wire and read back, and the zone is written back out in presentation format
// (`ResourceRecord.description`) and parsed again: the records must come back the same, so what
// `proxima check` prints can be loaded and what the server sends is what the file said.

let origin = try! DomainName(parsing: "fz.test.")

@_cdecl("LLVMFuzzerTestOneInput")
public func zoneFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    guard let zone = try? ZoneParser.parse(text: text, file: "fuzz.zone", origin: origin) else { return 0 }
    let records = zone.allRecords()
    for record in records {
        _ = zone.lookup(record.name, record.type)
        _ = zone.lookup(record.name, .any)
    }
    _ = zone.lookup(origin, .soa)

    // Every record goes through the wire writer and reader unchanged (RFC 1035 §4.1.3), as the
    // server will send it.
    for record in records {
        let message = Message(header: Header(id: 1, isResponse: true), answerSection: [record])
        let wire = message.serialized()
        guard let back = try? Message(parsing: wire), back.answerSection == [record] else {
            fatalError("\(record) does not come back from the wire: \(wire.map { String($0, radix: 16) })")
        }
    }

    let written = records.map { $0.description }.joined(separator: "\n")
    let again: Zone
    do {
        again = try ZoneParser.parse(text: written, file: "written.zone", origin: origin)
    } catch {
        fatalError("a parsed zone does not parse again after writing it out: \(error)\n--- written\n\(written)")
    }
    if Set(again.allRecords()) != Set(records) {
        fatalError("writing a zone out and parsing it changed its records\n--- written\n\(written)\n--- read back\n"
                   + again.allRecords().map { $0.description }.joined(separator: "\n"))
    }
    return 0
}

@main
struct ZoneFuzzer {
    static func main() { FuzzDriver.main(zoneFuzzerTestOneInput) }
}
