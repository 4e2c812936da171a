import DNSWire
import DNSZone
import Foundation
import XCTest

/// Test helpers: names, records and fixture files (tests may do IO; DNSZone itself does not).
enum Fixture {
    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    static func zone(_ relativePath: String, origin: String) throws -> Zone {
        let file = (relativePath as NSString).lastPathComponent
        return try ZoneParser.parse(text: try text(relativePath), file: file, origin: n(origin))
    }
}

/// A name from text; fails the test (and returns the root) if it does not parse.
func n(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> DomainName {
    do {
        return try DomainName(parsing: text)
    } catch {
        XCTFail("bad test name \(text): \(error)", file: file, line: line)
        return .root
    }
}

/// Parses a zone from text, failing the test with every issue if it does not load.
func load(_ text: String, origin: String = "example.test.", file: StaticString = #filePath,
          line: UInt = #line) -> Zone? {
    do {
        return try ZoneParser.parse(text: text, file: "t.zone", origin: n(origin))
    } catch {
        XCTFail("zone did not load:\n\(error)", file: file, line: line)
        return nil
    }
}

/// Parses a zone that must fail; returns the issue strings.
func issues(_ text: String, origin: String = "example.test.", file: StaticString = #filePath,
            line: UInt = #line) -> [String] {
    do {
        let zone = try ZoneParser.parse(text: text, file: "t.zone", origin: n(origin))
        XCTFail("zone loaded but should not have: \(zone)", file: file, line: line)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

/// SOA and NS lines every small test zone starts with.
let header = """
$ORIGIN example.test.
$TTL 3600
@ SOA ns1 hostmaster 1 7200 900 1209600 300
  NS ns1
ns1 A 192.0.2.53

"""

/// A short readable form of records, for table comparisons: "owner TTL TYPE rdata".
func show(_ records: [ResourceRecord]) -> [String] {
    records.map { "\($0.name) \($0.ttl) \($0.type) \(showRData($0.rdata))" }
}

func showRData(_ r: RData) -> String {
    func s(_ b: [UInt8]) -> String { "\"" + String(decoding: b, as: UTF8.self) + "\"" }
    switch r {
    case .a(let a), .aaaa(let a): return a.description
    case .ns(let d), .cname(let d), .ptr(let d): return d.description
    case .soa(let x): return "\(x.mname) \(x.rname) \(x.serial) \(x.refresh) \(x.retry) \(x.expire) \(x.minimum)"
    case .mx(let p, let d): return "\(p) \(d)"
    case .txt(let strings): return strings.map(s).joined(separator: " ")
    case .srv(let p, let w, let port, let t): return "\(p) \(w) \(port) \(t)"
    case .caa(let f, let tag, let v): return "\(f) \(String(decoding: tag, as: UTF8.self)) \(s(v))"
    case .unknown(_, let bytes): return "\\# \(bytes.count) " + bytes.map { String(format: "%02x", $0) }.joined()
    }
}

/// A lookup outcome in short text form, so tables read like dig output.
func show(_ result: ZoneLookup) -> String {
    switch result {
    case .answer(let records, let wildcard):
        return (wildcard ? "WILDCARD " : "ANSWER ") + show(records).joined(separator: " | ")
    case .alias(let record):
        return "ALIAS " + show([record]).joined()
    case .delegation(let ns, let glue):
        return "REFERRAL " + show(ns).joined(separator: " | ") + " GLUE " + show(glue).joined(separator: " | ")
    case .noData:
        return "NODATA"
    case .nameError:
        return "NXDOMAIN"
    }
}

func type(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> RecordType {
    guard let t = RecordType(mnemonic: text) else {
        XCTFail("bad test type \(text)", file: file, line: line)
        return .a
    }
    return t
}
