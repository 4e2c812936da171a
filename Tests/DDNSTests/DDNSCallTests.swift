@testable import DDNS
import DNSWire
import XCTest

/// The DDNS API's routing and its percent-decoding of path and query (the HTTP layer the API's
/// live tests reach through real sockets).
final class DDNSCallTests: XCTestCase {
    func testRoutes() {
        XCTAssertEqual(DDNSCall(method: "GET", path: "/ping"), .ping)
        XCTAssertEqual(DDNSCall(method: "GET", path: "/ip/"), .ip)
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos"), .listSilos)
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos/s1"), .getSilo("s1"))
        XCTAssertEqual(DDNSCall(method: "PUT", path: "/silos/s1"), .putSilo("s1"))
        XCTAssertEqual(DDNSCall(method: "DELETE", path: "/silos/s1"), .deleteSilo("s1"))
        XCTAssertEqual(DDNSCall(method: "POST", path: "/silos/s1/token"), .makeToken("s1"))
        XCTAssertEqual(DDNSCall(method: "GET", path: "/nic/update"), .dyndns2)
        XCTAssertEqual(DDNSCall(method: "POST", path: "/silos/s1"), .methodNotAllowed(allowed: "GET, PUT, DELETE"))
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos/s1/token"), .methodNotAllowed(allowed: "POST"))
        XCTAssertEqual(DDNSCall(method: "HEAD", path: "/ping"), .methodNotAllowed(allowed: "GET"))
        XCTAssertEqual(DDNSCall(method: "GET", path: "/"), .unknown)
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos/a/b"), .unknown)
        XCTAssertEqual(DDNSCall(method: "GET", path: "/nic/update/x"), .unknown)
        // A silo id is percent-decoded; a malformed escape is passed on as typed (and then
        // refused by the id's validation, 400).
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos/%73ilo1"), .getSilo("silo1"))
        XCTAssertEqual(DDNSCall(method: "GET", path: "/silos/s%zz"), .getSilo("s%zz"))
    }

    func testQueryValues() {
        let query: Substring = "hostname=a.s1.dyn.example.test&myip=2001%3Adb8%3A%3A1&myip=192.0.2.9&empty=&flag&sp=a+b"
        XCTAssertEqual(DDNSCall.queryValue(query, "hostname"), "a.s1.dyn.example.test")
        XCTAssertEqual(DDNSCall.queryValue(query, "myip"), "2001:db8::1", "the first of repeated keys")
        XCTAssertEqual(DDNSCall.queryValue(query, "empty"), "")
        XCTAssertEqual(DDNSCall.queryValue(query, "flag"), "")
        XCTAssertEqual(DDNSCall.queryValue(query, "sp"), "a b")
        XCTAssertNil(DDNSCall.queryValue(query, "missing"))
        XCTAssertNil(DDNSCall.queryValue("myip=%4", "myip"), "a truncated escape")
        XCTAssertNil(DDNSCall.queryValue("myip=%ff", "myip"), "not UTF-8")
    }

    /// The hand-written JSON of a silo (every update's reply) is byte for byte what JSONEncoder
    /// writes, escapes included.
    func testSiloDocumentJSONMatchesJSONEncoder() throws {
        let zone = try DomainName(parsing: "dyn.example.test.")
        let strange = ["a\"b", "back\\slash", "tab\there", "nl\n", "cr\r", "\u{08}\u{0C}", "\u{01}\u{1F}\u{7F}", "sl/ash", "é✓", "\u{2028}"]
        var silos = [Silo(id: "s1", records: []),
                     Silo(id: "s1", records: [DDNSRecord(hostname: "www", address: IPAddress("192.0.2.1")!),
                                              DDNSRecord(hostname: "db", address: IPAddress("2001:db8::7")!, ttl: 30),
                                              DDNSRecord(hostname: "host.example.test.", address: IPAddress("192.0.2.2")!, ttl: 0)])]
        silos += strange.map { Silo(id: $0, records: [DDNSRecord(hostname: $0, address: IPAddress("192.0.2.3")!, ttl: UInt32.max)]) }
        // Zones whose text needs JSON escapes too (the plain served name is written straight).
        let zones = [zone, try DomainName(parsing: "DYN.Example.TEST."), .root,
                     try DomainName(parsing: #"we\"ird\\.example.test."#), try DomainName(parsing: #"tab\009.test."#)]
        for zone in zones {
            for silo in silos {
                let document = SiloDocument(silo, zone: zone)
                XCTAssertEqual(SiloDocument.jsonText(silo, zone: zone, zoneText: SiloDocument.zoneText(zone)),
                               DDNSReply.json(200, document).body, "\(silo) in \(zone)")
            }
        }
    }

    /// The served name spelled directly equals the DomainName path's, for plain and odd labels.
    func testServedNameTextMatchesTheDomainNamePath() throws {
        let long = String(repeating: "a", count: 63)
        let zones = ["dyn.example.test.", "DYN.Example.TEST.", ".",
                     Array(repeating: long, count: 3).joined(separator: ".") + ".x."]
        let labels = ["www", "db-1", "0", long, "A", "Ab", "a_b", "a.b", "", String(repeating: "b", count: 64),
                      "host.example.test.", "é", "a b", "-x"]
        for zoneText in zones {
            let zone = try DomainName(parsing: zoneText)
            let printed = SiloDocument.zoneText(zone)
            for hostname in labels {
                for silo in ["s1", long, "S1", "s_1"] {
                    let expected = DDNSRequestValidation.servedName(hostname: hostname, siloID: silo, zone: zone)
                        .map { "\($0)" } ?? hostname
                    XCTAssertEqual(SiloDocument.servedNameText(hostname: hostname, siloID: silo, zone: zone, zoneText: printed),
                                   expected, "\(hostname) in \(silo) under \(zoneText)")
                }
            }
        }
    }
}
