import DDNS
import DDNSClient
import DNSWire
import XCTest

/// The managed block of a hosts file: every other byte kept, the block replaced or appended,
/// malformed markers refused.
final class HostsFileBlockTests: XCTestCase {
    enum Expect: Equatable {
        case unchanged
        case text(String)
        case problem(HostsFileBlock.Problem)
    }

    struct Case {
        let name: String
        let file: String
        let lines: [String]
        let expect: Expect
    }

    static let b = "# BEGIN proxima s1"
    static let e = "# END proxima s1"

    static let cases: [Case] = [
        Case(name: "empty file: block appended", file: "", lines: ["192.0.2.1\ta"],
             expect: .text("\(b)\n192.0.2.1\ta\n\(e)\n")),
        Case(name: "no block: appended after the other lines", file: "127.0.0.1\tlocalhost\n", lines: ["192.0.2.1\ta"],
             expect: .text("127.0.0.1\tlocalhost\n\(b)\n192.0.2.1\ta\n\(e)\n")),
        Case(name: "no final newline: one added before the block", file: "127.0.0.1\tlocalhost", lines: ["192.0.2.1\ta"],
             expect: .text("127.0.0.1\tlocalhost\n\(b)\n192.0.2.1\ta\n\(e)\n")),
        Case(name: "no block and no records: nothing to write", file: "127.0.0.1\tlocalhost\n", lines: [],
             expect: .unchanged),
        Case(name: "same block: unchanged", file: "x\n\(b)\n192.0.2.1\ta\n\(e)\ny\n", lines: ["192.0.2.1\ta"],
             expect: .unchanged),
        Case(name: "changed block: replaced in place, lines around kept",
             file: "# top\n\(b)\n192.0.2.1\ta\n\(e)\n10.0.0.1\tother # comment\n", lines: ["192.0.2.2\ta", "192.0.2.3\tb"],
             expect: .text("# top\n\(b)\n192.0.2.2\ta\n192.0.2.3\tb\n\(e)\n10.0.0.1\tother # comment\n")),
        Case(name: "records gone: the block stays, empty", file: "\(b)\n192.0.2.1\ta\n\(e)\n", lines: [],
             expect: .text("\(b)\n\(e)\n")),
        Case(name: "another silo's block (s10) is not ours and is kept",
             file: "# BEGIN proxima s10\n192.0.2.9\tz\n# END proxima s10\n", lines: ["192.0.2.1\ta"],
             expect: .text("# BEGIN proxima s10\n192.0.2.9\tz\n# END proxima s10\n\(b)\n192.0.2.1\ta\n\(e)\n")),
        Case(name: "markers with trailing blanks still match", file: "\(b)  \n192.0.2.1\ta\n\(e)\t\n", lines: ["192.0.2.1\ta"],
             expect: .text("\(b)\n192.0.2.1\ta\n\(e)\n")),
        Case(name: "END as the last line without newline, same records: unchanged", file: "\(b)\n192.0.2.1\ta\n\(e)",
             lines: ["192.0.2.1\ta"], expect: .unchanged),
        Case(name: "END as the last line without newline, new records: still no newline",
             file: "\(b)\n192.0.2.1\ta\n\(e)", lines: ["192.0.2.2\ta"], expect: .text("\(b)\n192.0.2.2\ta\n\(e)")),
        Case(name: "CRLF file: the block is written with CRLF",
             file: "127.0.0.1 localhost\r\n\(b)\r\n192.0.2.1\ta\r\n\(e)\r\n::1 localhost\r\n", lines: ["192.0.2.2\ta"],
             expect: .text("127.0.0.1 localhost\r\n\(b)\r\n192.0.2.2\ta\r\n\(e)\r\n::1 localhost\r\n")),
        Case(name: "CRLF file, same records: unchanged", file: "a\r\n\(b)\r\n192.0.2.1\ta\r\n\(e)\r\n",
             lines: ["192.0.2.1\ta"], expect: .unchanged),
        Case(name: "CRLF file without block: appended with CRLF", file: "127.0.0.1 localhost\r\n", lines: ["192.0.2.1\ta"],
             expect: .text("127.0.0.1 localhost\r\n\(b)\r\n192.0.2.1\ta\r\n\(e)\r\n")),
        Case(name: "BEGIN without END: refused", file: "x\n\(b)\n192.0.2.1\ta\ny\n", lines: ["192.0.2.1\ta"],
             expect: .problem(.beginWithoutEnd(line: 2))),
        Case(name: "END without BEGIN: refused", file: "x\n\(e)\n", lines: [], expect: .problem(.endWithoutBegin(line: 2))),
        Case(name: "BEGIN twice before END: refused", file: "\(b)\n\(b)\n\(e)\n", lines: [],
             expect: .problem(.beginWithoutEnd(line: 1))),
        Case(name: "two blocks: refused", file: "\(b)\n\(e)\nx\n\(b)\n\(e)\n", lines: [],
             expect: .problem(.secondBlock(line: 4, first: 1))),
    ]

    func testTable() {
        for c in Self.cases {
            let result = HostsFileBlock.rewrite(Array(c.file.utf8), silo: "s1", lines: c.lines)
            let got: Expect
            switch result {
            case .success(.unchanged): got = .unchanged
            case .success(.rewritten(let bytes)): got = .text(String(decoding: bytes, as: UTF8.self))
            case .failure(let problem): got = .problem(problem)
            }
            XCTAssertEqual(got, c.expect, c.name)
            // Rewriting the result again with the same lines must be a no-op (idempotence).
            if case .text(let text) = got {
                let again = HostsFileBlock.rewrite(Array(text.utf8), silo: "s1", lines: c.lines)
                XCTAssertEqual(again, .success(.unchanged), "second run of: \(c.name)")
            }
        }
    }

    func testBytesThatAreNotUTF8AreKeptExactly() throws {
        let latin1: [UInt8] = Array("10.0.0.1\tcaf".utf8) + [0xE9] + Array(" # \u{0}x\n".utf8)
        let result = HostsFileBlock.rewrite(latin1, silo: "s1", lines: ["192.0.2.1\ta"])
        guard case .success(.rewritten(let bytes)) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(Array(bytes.prefix(latin1.count)), latin1)
        XCTAssertEqual(String(decoding: bytes.dropFirst(latin1.count), as: UTF8.self), "\(Self.b)\n192.0.2.1\ta\n\(Self.e)\n")
    }

    func testLinesAreSortedNamedAndSafe() throws {
        let silo = Silo(id: "s1", records: [
            DDNSRecord(hostname: "web", address: IPAddress("2001:db8::7")!),
            DDNSRecord(hostname: "db", address: IPAddress("203.0.113.7")!, ttl: 60),
            DDNSRecord(hostname: "web", address: IPAddress("192.0.2.7")!),
            DDNSRecord(hostname: "www.example.test.", address: IPAddress("192.0.2.8")!),
            DDNSRecord(hostname: "evil\n1.2.3.4 bank.example", address: IPAddress("192.0.2.9")!),
            DDNSRecord(hostname: "# comment", address: IPAddress("192.0.2.9")!),
        ])
        let (lines, skipped) = HostsFileBlock.lines(for: silo, zone: "dyn.example.test")
        XCTAssertEqual(lines, [
            "203.0.113.7\tdb.s1.dyn.example.test db",
            "192.0.2.7\tweb.s1.dyn.example.test web",
            "2001:db8::7\tweb.s1.dyn.example.test web",
            "192.0.2.8\twww.example.test",
        ])
        XCTAssertEqual(skipped.count, 2)
        XCTAssertFalse(skipped.joined().contains("\n"))
        let bare = HostsFileBlock.lines(for: silo, zone: nil).lines
        XCTAssertEqual(bare.first, "203.0.113.7\tdb")
        // The name the server says a record is served at wins over --zone; one that does not
        // start with the record's label, or is no name, is not believed.
        let served = HostsFileBlock.lines(for: silo, servedNames: ["web.s1.dyn.other.test.", "db.s1.dyn.other.test.", "x.evil.test.", nil],
                                          zone: "dyn.example.test").lines
        XCTAssertEqual(served, [
            "203.0.113.7\tdb.s1.dyn.other.test db",
            "192.0.2.7\tweb.s1.dyn.example.test web",
            "2001:db8::7\tweb.s1.dyn.other.test web",
            "192.0.2.8\twww.example.test",
        ])
        XCTAssertTrue(HostsFileBlock.lines(for: silo, servedNames: ["web s1\n1.2.3.4 x."], zone: nil).lines.contains("2001:db8::7\tweb"))
    }
}
