import DNSWire
import DNSZone
import XCTest

/// `$INCLUDE` (RFC 1035 §5.1) through an in-memory `ZoneFileAccess`, with the context rules Knot
/// 3.2 and BIND follow and the bounds Proxima adds.
final class ZoneIncludeTests: XCTestCase {
    static let root = "/etc/proxima"

    func parse(_ files: [String: String], main: String = "/etc/proxima/zones/main.zone") throws(ZoneError) -> ParsedZone {
        try ZoneParser.parse(text: files[main] ?? "", file: main, origin: n("example.test."),
                             access: .inMemory(files, allowedRoot: Self.root))
    }

    func problems(_ files: [String: String], file: StaticString = #filePath, line: UInt = #line) -> [String] {
        do {
            let parsed = try parse(files)
            XCTFail("zone loaded but should not have: \(parsed.zone)", file: file, line: line)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    /// RFC 1035 §5.1: the origin argument applies to the included file only; afterwards the
    /// including file's origin, $TTL and previous owner resume (as Knot 3.2 loads it, checked by
    /// hand with knotd: `after` gets 300, the blank-led line belongs to `before`).
    func testRFC1035_5_1_IncludeOriginAndContextResume() throws {
        let parsed = try parse([
            "/etc/proxima/zones/main.zone": header + """
            before A 192.0.2.2
            $INCLUDE inc/sub.zone sub
             A 192.0.2.9
            after A 192.0.2.10
            $INCLUDE ../plain.zone

            """,
            "/etc/proxima/zones/inc/sub.zone": """
            x A 192.0.2.7
            $TTL 77
            $ORIGIN other.example.test.
            y A 192.0.2.8

            """,
            "/etc/proxima/plain.zone": "z A 192.0.2.12\n",
        ])
        let zone = parsed.zone
        let cases: [(String, RecordType, [String])] = [
            ("x.sub.example.test.", .a, ["x.sub.example.test. 3600 A 192.0.2.7"]),
            ("y.other.example.test.", .a, ["y.other.example.test. 77 A 192.0.2.8"]),
            ("before.example.test.", .a, ["before.example.test. 3600 A 192.0.2.2", "before.example.test. 3600 A 192.0.2.9"]),
            ("after.example.test.", .a, ["after.example.test. 3600 A 192.0.2.10"]),
            ("z.example.test.", .a, ["z.example.test. 3600 A 192.0.2.12"]),
        ]
        for (owner, t, expected) in cases {
            XCTAssertEqual(show(zone.records(at: n(owner), type: t)), expected, owner)
        }
        XCTAssertEqual(parsed.includedFiles, ["/etc/proxima/zones/inc/sub.zone", "/etc/proxima/plain.zone"])
    }

    /// An included file starts without a previous owner (Knot: "previous owner is invalid").
    func testRFC1035_5_1_IncludedFileHasNoPreviousOwner() {
        XCTAssertEqual(problems([
            "/etc/proxima/zones/main.zone": header + "www A 192.0.2.1\n$INCLUDE blank.zone\n",
            "/etc/proxima/zones/blank.zone": " A 192.0.2.2\n",
        ]), ["/etc/proxima/zones/blank.zone:1: line starts with a blank but there is no previous owner name (included from /etc/proxima/zones/main.zone:7)"])
    }

    /// Errors inside included files name that file and line and the chain of includes; they come
    /// in document order among the including file's own errors.
    func testRFC1035_5_1_ErrorsInIncludedFilesNameFileAndLine() {
        XCTAssertEqual(problems([
            "/etc/proxima/zones/main.zone": header + "a A 192.0.2.300\n$INCLUDE one.zone\nb A 192.0.2.301\n",
            "/etc/proxima/zones/one.zone": "c A 192.0.2.1\n$INCLUDE two.zone\nd A 192.0.2.302\n",
            "/etc/proxima/zones/two.zone": "\n$GENERATE 1-2 g$ A 192.0.2.${299}\n",
        ]), [
            #"/etc/proxima/zones/main.zone:6: bad IPv4 address "192.0.2.300" in A record"#,
            #"/etc/proxima/zones/two.zone:2: $GENERATE at 1: bad IPv4 address "192.0.2.300" in A record (included from /etc/proxima/zones/one.zone:2, /etc/proxima/zones/main.zone:7)"#,
            #"/etc/proxima/zones/one.zone:3: bad IPv4 address "192.0.2.302" in A record (included from /etc/proxima/zones/main.zone:7)"#,
            #"/etc/proxima/zones/main.zone:8: bad IPv4 address "192.0.2.301" in A record"#,
        ])
    }

    /// Validation problems (found after reading) point into the included file too.
    func testRFC1034_3_6_2_ConflictInIncludedFileNamesIt() {
        XCTAssertEqual(problems([
            "/etc/proxima/zones/main.zone": header + "www A 192.0.2.1\n$INCLUDE alias.zone\n",
            "/etc/proxima/zones/alias.zone": "\nwww CNAME elsewhere.example.\n",
        ]), ["/etc/proxima/zones/alias.zone:2: CNAME and other data (A) at www.example.test. (RFC 1034 §3.6.2) (included from /etc/proxima/zones/main.zone:7)"])
    }

    /// The bounds: loops, depth, files outside the allowed root, unreadable files, bad syntax.
    func testRFC1035_5_1_IncludeBounds() {
        let main = "/etc/proxima/zones/main.zone"
        var deep: [String: String] = [main: header + "$INCLUDE d1.zone\n"]
        for i in 1...(Limits.maxIncludeDepth + 1) {
            deep["/etc/proxima/zones/d\(i).zone"] = "$INCLUDE d\(i + 1).zone\n"
        }
        let deepIssues = problems(deep)
        XCTAssertEqual(deepIssues.count, 1)
        XCTAssertTrue(deepIssues.first?.hasPrefix("/etc/proxima/zones/d16.zone:1: $INCLUDE nested more than 16 files deep (included from /etc/proxima/zones/d15.zone:1,") ?? false, "\(deepIssues)")

        let cases: [(name: String, files: [String: String], expected: [String])] = [
            ("self loop", [main: header + "$INCLUDE main.zone\n"],
             ["\(main):6: $INCLUDE loop: \(main) -> \(main)"]),
            ("two-file loop", [main: header + "$INCLUDE a.zone\n", "/etc/proxima/zones/a.zone": "$INCLUDE ./main.zone\n"],
             ["/etc/proxima/zones/a.zone:1: $INCLUDE loop: \(main) -> /etc/proxima/zones/a.zone -> \(main) (included from \(main):6)"]),
            ("outside the root by ..", [main: header + "$INCLUDE ../../shadow\n"],
             ["\(main):6: $INCLUDE /etc/shadow is outside /etc/proxima (the configuration's directory); included files must lie below it"]),
            ("outside the root, absolute", [main: header + "$INCLUDE /tmp/x.zone\n"],
             ["\(main):6: $INCLUDE /tmp/x.zone is outside /etc/proxima (the configuration's directory); included files must lie below it"]),
            ("a sibling directory sharing the root's prefix", [main: header + "$INCLUDE /etc/proxima-other/x.zone\n"],
             ["\(main):6: $INCLUDE /etc/proxima-other/x.zone is outside /etc/proxima (the configuration's directory); included files must lie below it"]),
            ("missing file", [main: header + "$INCLUDE nope.zone\n"],
             ["\(main):6: cannot read $INCLUDE file /etc/proxima/zones/nope.zone"]),
            ("no file name", [main: header + "$INCLUDE\n"],
             ["\(main):6: $INCLUDE needs a file name: $INCLUDE <file> [<origin>]"]),
            ("extra field", [main: header + "$INCLUDE a.zone sub extra\n", "/etc/proxima/zones/a.zone": ""],
             [#"\#(main):6: unexpected "extra" after $INCLUDE <file> <origin>"#]),
            ("bad origin", [main: header + "$INCLUDE a.zone a..b\n", "/etc/proxima/zones/a.zone": ""],
             [#"\#(main):6: bad $INCLUDE origin "a..b": empty label"#]),
        ]
        for c in cases {
            XCTAssertEqual(problems(c.files), c.expected, c.name)
        }
    }

    /// A symbolic link inside the root that points outside it is refused (the reader reports the
    /// real path); a diamond (one file included twice, not a loop) is fine and watched once.
    func testRFC1035_5_1_RealPathAndDiamond() throws {
        let files = [
            "/etc/proxima/zones/main.zone": header + "$INCLUDE link.zone\n",
        ]
        let access = ZoneFileAccess(allowedRoot: Self.root) { path in
            path == "/etc/proxima/zones/link.zone" ? ZoneFileText(text: "x A 192.0.2.1\n", realPath: "/srv/elsewhere/x.zone") : nil
        }
        XCTAssertThrowsError(try ZoneParser.parse(text: files["/etc/proxima/zones/main.zone"]!, file: "/etc/proxima/zones/main.zone",
                                                  origin: n("example.test."), access: access)) { error in
            XCTAssertEqual((error as? ZoneError)?.issues.map(\.description),
                           ["/etc/proxima/zones/main.zone:6: $INCLUDE /etc/proxima/zones/link.zone resolves to /srv/elsewhere/x.zone, outside /etc/proxima (the configuration's directory)"])
        }

        let diamond = try parse([
            "/etc/proxima/zones/main.zone": header + "$INCLUDE common.zone a\n$INCLUDE common.zone b\n",
            "/etc/proxima/zones/common.zone": "@ A 192.0.2.5\n",
        ])
        XCTAssertEqual(show(diamond.zone.records(at: n("b.example.test."), type: .a)), ["b.example.test. 3600 A 192.0.2.5"])
        XCTAssertEqual(diamond.includedFiles, ["/etc/proxima/zones/common.zone"])
    }

    /// Path arithmetic used for the root check.
    func testZonePathArithmetic() {
        XCTAssertEqual(ZonePath.normalize("/a/./b/../c//d/"), "/a/c/d")
        XCTAssertEqual(ZonePath.normalize("/../x"), "/x")
        XCTAssertEqual(ZonePath.directory(of: "/a/b.zone"), "/a")
        XCTAssertEqual(ZonePath.directory(of: "b.zone"), ".")
        XCTAssertEqual(ZonePath.resolve("../y", against: "/a/b"), "/a/y")
        XCTAssertEqual(ZonePath.resolve("/abs", against: "/a/b"), "/abs")
        XCTAssertTrue(ZonePath.isInside("/etc/proxima/z", root: "/etc/proxima"))
        XCTAssertFalse(ZonePath.isInside("/etc/proximaX/z", root: "/etc/proxima"))
        XCTAssertTrue(ZonePath.isInside("/anything", root: "/"))
    }
}
