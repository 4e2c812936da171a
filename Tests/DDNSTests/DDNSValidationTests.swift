@testable import DDNS
import DNSWire
import XCTest

/// The pure pieces: validation rules, the token bucket, tokens.
final class DDNSValidationTests: XCTestCase {
    private let rules = DDNSValidationRules(zone: try! DomainName(parsing: "dyn.example.test."),
                                            allowNamesIn: [try! DomainName(parsing: "example.test.")], maxRecordsPerSilo: 8)

    private func parse(_ body: String, silo: String = "s1") throws(DDNSAPIError) -> Silo {
        try DDNSRequestValidation.parseSiloBody(Array(body.utf8), siloID: silo, rules: rules) { _ in nil }
    }

    func testSiloIDs() throws {
        XCTAssertEqual(try DDNSRequestValidation.siloID("Branch-7"), "branch-7")
        for bad in ["", "-a", "a-", "a.b", "a_b", String(repeating: "x", count: 64), "é"] {
            XCTAssertThrowsError(try DDNSRequestValidation.siloID(bad), bad)
        }
        XCTAssertEqual(try DDNSRequestValidation.siloID(String(repeating: "x", count: 63)).count, 63)
    }

    func testOneHostnameMayHaveAnAAndAnAAAAStoredSortedAndLowercased() throws {
        let silo = try parse(#"{"dnsrecords": [{"hostname": "Web", "ip": "2001:db8::1"}, {"hostname": "web", "ip": "192.0.2.1"}, {"hostname": "WWW.Example.Test.", "ip": "192.0.2.2"}, {"hostname": "db", "ip": "192.0.2.3", "ttl": null}]}"#)
        XCTAssertEqual(silo.records.map(\.hostname), ["db", "web", "web", "www.example.test."])
        XCTAssertEqual(silo.records.map(\.address.bitWidth), [32, 32, 128, 32])
    }

    func testFullNameLength() throws {
        // 63 + silo 63 + zone: 1+63 + 1+63 + 18 = 146 octets: fine. The limit needs a long zone.
        let longZone = try DomainName(parsing: String(repeating: "z", count: 63) + "." + String(repeating: "y", count: 63) + ".example.test.")
        let tight = DDNSValidationRules(zone: longZone, allowNamesIn: [], maxRecordsPerSilo: 8)
        let label = String(repeating: "h", count: 63)
        let silo = String(repeating: "s", count: 50)
        // 1+63 + 1+50 + (1+63 + 1+63 + 1+7 + 1+4 + 1) = 257 > 255.
        XCTAssertThrowsError(try DDNSRequestValidation.parseSiloBody(Array(#"{"dnsrecords": [{"hostname": "\#(label)", "ip": "192.0.2.1"}]}"#.utf8),
                                                                    siloID: silo, rules: tight) { _ in nil }) { error in
            XCTAssertEqual((error as? DDNSAPIError)?.code, .badRequest)
            XCTAssertTrue((error as? DDNSAPIError)?.message.contains("257 octets long, over 255") ?? false, "\(error)")
        }
        // Two octets shorter is exactly 255: fine.
        let fits = try DDNSRequestValidation.parseSiloBody(Array(#"{"dnsrecords": [{"hostname": "\#(label.dropLast(2))", "ip": "192.0.2.1"}]}"#.utf8),
                                                           siloID: silo, rules: tight) { _ in nil }
        XCTAssertEqual(DDNSRequestValidation.servedName(hostname: fits.records[0].hostname, siloID: silo, zone: longZone)?.wire.count, 255)
    }

    func testBodyOverTheLimitIs413() {
        let body = Array(#"{"dnsrecords": []}"#.utf8) + [UInt8](repeating: 0x20, count: DDNSRequestValidation.maxBodyBytes)
        XCTAssertThrowsError(try DDNSRequestValidation.parseSiloBody(body, siloID: "s1", rules: rules) { _ in nil }) { error in
            XCTAssertEqual((error as? DDNSAPIError)?.httpStatus, 413)
        }
    }

    func testRateLimiterBucket() {
        var limiter = DDNSRateLimiter(perMinute: 2, maxEntries: 2)
        XCTAssertTrue(limiter.take("a", now: 0))
        XCTAssertTrue(limiter.take("a", now: 0))
        XCTAssertFalse(limiter.take("a", now: 1_000_000_000))
        XCTAssertTrue(limiter.take("a", now: 30_000_000_000), "one write back after 30 s at 2/min")
        XCTAssertFalse(limiter.take("a", now: 30_000_000_000))
        // The table stays bounded: a third silo evicts.
        XCTAssertTrue(limiter.take("b", now: 30_000_000_000))
        XCTAssertTrue(limiter.take("c", now: 30_000_000_000))
        XCTAssertLessThanOrEqual(limiter.count, 2)
    }

    func testTokens() {
        let t1 = DDNSToken.generate()
        let t2 = DDNSToken.generate()
        XCTAssertNotEqual(t1, t2)
        XCTAssertEqual(t1.utf8.count, 43)
        let hash = DDNSToken.hash(t1)
        XCTAssertEqual(hash.count, 32)
        XCTAssertTrue(DDNSToken.matches(t1, hash: hash))
        XCTAssertFalse(DDNSToken.matches(t2, hash: hash))
        // A substring (as the Bearer scan gives it) and a stored hash of another length.
        XCTAssertTrue(DDNSToken.matches(" \(t1) ".dropFirst().dropLast(), hash: hash))
        XCTAssertFalse(DDNSToken.matches(t1, hash: Array(hash.dropLast())))
    }

    /// The one-pass reader takes the plain bodies clients send and returns what the document
    /// parser reads from them; anything else it leaves to the document parser (nil).
    func testPlainBodiesAreReadInOnePassLikeTheDocumentParser() throws {
        let rules = DDNSValidationRules(zone: try DomainName(parsing: "dyn.example.test."), allowNamesIn: [], maxRecordsPerSilo: 4)
        let plain = [
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1"}]}"#,
            #" {"dnsrecords" : [ {"ip" : "2001:db8::7" , "ttl" : 86400 , "hostname" : "Web-1"} ,"#
                + "\n\t\r" + #"{"hostname":"db","ip":"192.0.2.1","ttl":1}] } "#,
            #"{"dnsrecords":[]}"#,
            #"{"dnsrecords":[{"hostname":"not a label!","ip":"::ffff:192.0.2.9"}]}"#,
        ]
        for body in plain {
            let bytes = Array(body.utf8)
            let read = try XCTUnwrap(DDNSRequestValidation.plainRecords(bytes, maxRecords: 4), body)
            XCTAssertEqual(read, try DDNSRequestValidation.documentRecords(bytes, siloID: "s1", rules: rules), body)
        }
        let other = [
            #"{"id":"s1","dnsrecords":[]}"#, #"{"dnsrecords":[{"hostname":"d\u0062","ip":"192.0.2.1"}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","ttl":null}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","ttl":0}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","ttl":086}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","ttl":86401}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","ttl":1.5}]}"#,
            #"{"dnsrecords":[{"hostname":"db","hostname":"x","ip":"192.0.2.1"}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.300"}]}"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1","name":"x"}]}"#,
            #"{"dnsrecords":[{"hostname":"db"}]}"#, #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1"}]"#,
            #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1"}]}x"#, #"{"dnsrecords":[{"hostname":"db","ip":"192.0.2.1"},]}"#,
            #"{"dnsrecords":[{"hostname":"é","ip":"192.0.2.1"}]}"#, "",
            #"{"dnsrecords":["# + Array(repeating: #"{"hostname":"a","ip":"192.0.2.1"}"#, count: 5).joined(separator: ",") + "]}",
        ]
        for body in other {
            XCTAssertNil(DDNSRequestValidation.plainRecords(Array(body.utf8), maxRecords: 4), body)
        }
    }
}
