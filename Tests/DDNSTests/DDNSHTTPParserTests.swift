@testable import DDNS
import NIOCore
import NIOHTTP1
import XCTest

/// The DDNS listener's request parser. Every input is read twice, whole and byte by byte (as a
/// slow client sends it), and both readings must give the same requests or the same refusal.
final class DDNSHTTPParserTests: XCTestCase {
    /// One request as read: its head, its body's bytes, whether its end was reached.
    struct Read: Equatable {
        var head: DDNSHTTPRequestHead
        var body: [UInt8] = []
        var ended = false
    }

    /// Feeds `input` in pieces of `piece` bytes (0: whole) the way the handler does: unconsumed
    /// bytes stay and new ones are appended.
    static func read(_ input: [UInt8], piece: Int) -> (requests: [Read], failure: DDNSHTTPFailure?) {
        var parser = DDNSHTTPParser()
        var requests: [Read] = []
        var unread: [UInt8] = []
        var fed = 0
        while true {
            let step: (event: DDNSHTTPParser.Event?, consumed: Int)
            do {
                step = try unread.withUnsafeBytes { try parser.next($0) }
            } catch {
                return (requests, error as? DDNSHTTPFailure)
            }
            switch step.event {
            case .head(let head): requests.append(Read(head: head))
            case .body(let range): requests[requests.count - 1].body += unread[range]
            case .end: requests[requests.count - 1].ended = true
            case nil: break
            }
            unread.removeFirst(step.consumed)
            if step.event == nil {
                guard fed < input.count else { return (requests, nil) }
                let next = piece == 0 ? input.count : min(input.count, fed + piece)
                unread += input[fed..<next]
                fed = next
            }
        }
    }

    /// Reads `text` whole and byte by byte; both must agree.
    func read(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> (requests: [Read], failure: DDNSHTTPFailure?) {
        let bytes = Array(text.utf8)
        let whole = Self.read(bytes, piece: 0)
        let bytewise = Self.read(bytes, piece: 1)
        XCTAssertEqual(whole.requests, bytewise.requests, "whole and byte-by-byte readings differ", file: file, line: line)
        XCTAssertEqual(whole.failure, bytewise.failure, "whole and byte-by-byte readings differ", file: file, line: line)
        return whole
    }

    func refusal(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> DDNSHTTPFailure? {
        let result = read(text, file: file, line: line)
        XCTAssertNotNil(result.failure, "accepted: \(text.debugDescription)", file: file, line: line)
        return result.failure
    }

    func testAGetAndAPipelinedPutWithItsBody() throws {
        let (requests, failure) = read("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                                       + "PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET")
        XCTAssertNil(failure)
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests[0].head.method, "GET")
        XCTAssertEqual(requests[0].head.target, "/ping")
        XCTAssertEqual(requests[0].head.minorVersion, 1)
        XCTAssertTrue(requests[0].head.keepAlive)
        XCTAssertTrue(requests[0].ended)
        XCTAssertEqual(requests[0].body, [])
        XCTAssertEqual(requests[1].head.method, "PUT")
        XCTAssertEqual(requests[1].head.fields.contentLength, 5)
        XCTAssertEqual(requests[1].body, Array("hello".utf8))
        XCTAssertTrue(requests[1].ended)
    }

    /// The fields the API reads, in one pass: names in any case, the first of a repeated field,
    /// every X-Forwarded-For line, `100-continue` as any element of an Expect list.
    func testTheAPIFieldsAreCollected() throws {
        let (requests, failure) = read("PUT /silos/s1 HTTP/1.1\r\nhost: x\r\nAUTHORIZATION: Bearer one\r\n"
                                       + "authorization: Bearer two\r\nOrigin: https://x.test\r\nSec-Fetch-Site: none\r\n"
                                       + "X-Forwarded-For: 192.0.2.1, 192.0.2.2\r\nx-forwarded-for:192.0.2.3\r\n"
                                       + "Content-Length: 0\r\nExpect: foo, 100-Continue \t\r\nX-Authorization: Bearer three\r\n\r\n")
        XCTAssertNil(failure)
        let fields = try XCTUnwrap(requests.first).head.fields
        XCTAssertEqual(fields.authorization, "Bearer one")
        XCTAssertEqual(fields.origin, "https://x.test")
        XCTAssertEqual(fields.secFetchSite, "none")
        XCTAssertEqual(fields.forwardedFor, ["192.0.2.1, 192.0.2.2", "192.0.2.3"])
        XCTAssertEqual(fields.contentLength, 0)
        XCTAssertTrue(fields.expectsContinue)
        let plain = try XCTUnwrap(read("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continuex\r\nOrigim: x\r\n\r\n").requests.first)
        XCTAssertEqual(plain.head.fields, DDNSRequestFields())
        // Only ASCII letters fold: "\r" is not "-".
        XCTAssertFalse(DDNSRequestFields.named(Array("sec\rfetch\rsite".utf8), "sec-fetch-site"))
        XCTAssertTrue(DDNSRequestFields.named(Array("SEC-Fetch-SITE".utf8), "sec-fetch-site"))
    }

    func testConnectionPersistence() throws {
        func keepAlive(_ text: String) throws -> Bool { try XCTUnwrap(read(text).requests.first).head.keepAlive }
        XCTAssertTrue(try keepAlive("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertFalse(try keepAlive("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n"))
        XCTAssertFalse(try keepAlive("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n"))
        XCTAssertFalse(try keepAlive("GET / HTTP/1.0\r\n\r\n"))
        XCTAssertTrue(try keepAlive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
    }

    func testChunkedBodiesWithExtensionsAndTrailers() throws {
        let (requests, failure) = read("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                                       + "5;name=value\r\nhello\r\n00006 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                                       + "PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        XCTAssertNil(failure)
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests[0].body, Array("hello world".utf8))
        XCTAssertTrue(requests[0].ended)
        XCTAssertNil(requests[0].head.fields.contentLength)
        XCTAssertEqual(requests[1].body, [])
        XCTAssertTrue(requests[1].ended)
    }

    /// RFC 9112 §2.2: a lone LF ends a line, and a few empty lines before a request are skipped.
    func testLoneLFAndLeadingEmptyLines() throws {
        let (requests, failure) = read("\r\n\nGET /a HTTP/1.1\nHost: x\n\nPUT /b HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n1\nz\n0\n\n")
        XCTAssertNil(failure)
        XCTAssertEqual(requests.map(\.head.target), ["/a", "/b"])
        XCTAssertEqual(requests[1].body, [UInt8(ascii: "z")])
        XCTAssertEqual(refusal(String(repeating: "\r\n", count: 9) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n")?.status, 400)
    }

    func testAnOversizedLengthIsReportedNotOverflowed() throws {
        let huge = try XCTUnwrap(read("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n").requests.first)
        XCTAssertEqual(huge.head.fields.contentLength, Int.max)
        XCTAssertFalse(huge.ended)
        let large = try XCTUnwrap(read("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").requests.first)
        XCTAssertEqual(large.head.fields.contentLength, 100_000_000)
        // A chunk size past any integer only has to stay large.
        let chunk = try XCTUnwrap(read("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffffffffff\r\nabc").requests.first)
        XCTAssertEqual(chunk.body, Array("abc".utf8))
        XCTAssertFalse(chunk.ended)
    }

    /// Each refusal, with its status and what it names.
    func testMalformedRequestsAreRefused() {
        let cases: [(String, Int, String)] = [
            ("GET /\r\n\r\n", 400, "request line"),
            ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request target"),
            ("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method"),
            ("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "HTTP version"),
            ("GET /\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request target"),
            ("GET / HTTP/1.1x\r\nHost: x\r\n\r\n", 400, "HTTP version"),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
            ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
            ("GET / HTTP/1.1\r\n\r\n", 400, "without a Host"),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "more than one Host"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, "obsolete line folding"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n", 400, "blanks before its colon"),
            ("GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400, "no colon"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\u{1}b\r\n\r\n", 400, "control character"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, "CR not followed by LF"),
            ("GET / HTTP/1.1\rHost: x\r\n\r\n", 400, "CR not followed by LF"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n", 400, "Content-Length is not a number"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", 400, "Content-Length is not a number"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length is not a number"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "disagree"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
            ("PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "not chunked"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "not chunked"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "other than chunked"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "other than chunked"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", 400, "not chunked"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "not hexadecimal"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", 400, "not hexadecimal"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400, "longer than its size"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;\u{1}\r\n", 400, "chunk extension"),
            ("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400, "no colon"),
        ]
        for (text, status, words) in cases {
            guard let failure = refusal(text) else { continue }
            XCTAssertEqual(failure.status, status, text.debugDescription)
            XCTAssertTrue(failure.message.contains(words), "\(text.debugDescription): \(failure.message)")
        }
    }

    /// Heads, trailers and chunk-size lines are bounded, whether or not their end ever comes.
    func testBounds() {
        let field = "X: " + String(repeating: "a", count: DDNSHTTPParser.maxHeadBytes) + "\r\n"
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\n" + field + "\r\n")?.status, 431)
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\nHost: x\r\n" + field)?.status, 431)
        let chunked = "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        XCTAssertEqual(refusal(chunked + "0\r\n" + field + "\r\n")?.status, 431)
        XCTAssertEqual(refusal(chunked + "1;" + String(repeating: "e", count: DDNSHTTPParser.maxChunkLineBytes))?.status, 400)
        // Just under the head limit is read.
        let filler = "X: " + String(repeating: "a", count: DDNSHTTPParser.maxHeadBytes - 100) + "\r\n"
        XCTAssertEqual(read("GET / HTTP/1.1\r\nHost: x\r\n" + filler + "\r\n").requests.count, 1)
    }

    /// After a refusal the parser stays refused (the connection is closed).
    func testAFailureIsFinal() {
        var parser = DDNSHTTPParser()
        let bad = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        XCTAssertThrowsError(try bad.withUnsafeBytes { try parser.next($0) })
        let good = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        XCTAssertThrowsError(try good.withUnsafeBytes { try parser.next($0) })
    }
}

/// The response bytes the handler writes (the live tests check whole exchanges).
final class DDNSResponseBytesTests: XCTestCase {
    func text(_ reply: DDNSReply, minor: Int = 1, close: Bool = false) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        DDNSResponseBytes.write(reply, version: HTTPVersion(major: 1, minor: minor), close: close, into: &buffer)
        return String(buffer: buffer)
    }

    func testStatusLinesAndLengths() {
        XCTAssertEqual(text(.text(200, "good 192.0.2.1")),
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\ngood 192.0.2.1")
        XCTAssertTrue(text(.text(201, ""), minor: 0).hasPrefix("HTTP/1.0 201 Created\r\n"))
        XCTAssertTrue(text(.text(201, "")).contains("\r\nContent-Length: 0\r\n"))
        XCTAssertTrue(text(.text(413, "x"), close: true).hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        XCTAssertTrue(text(.text(413, "x"), close: true).hasSuffix("\r\nConnection: close\r\n\r\nx"))
        XCTAssertTrue(text(.text(431, "x")).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        XCTAssertTrue(text(.text(505, "x")).hasPrefix("HTTP/1.1 505 HTTP Version Not Supported\r\n"))
        for value: UInt in [0, 1, 9, 10, 99, 100, 65_536, 1_000_000, UInt.max] {
            var buffer = ByteBufferAllocator().buffer(capacity: 0)
            DDNSResponseBytes.writeDecimal(value, into: &buffer)
            XCTAssertEqual(String(buffer: buffer), String(value))
        }
    }
}

extension DDNSHTTPParserTests {
    /// The token bit masks are RFC 9110's tchar, byte for byte.
    func testTokenBytes() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(DDNSHTTPParser.isTokenByte(byte), tchar.contains(byte), "byte \(byte)")
        }
    }
}
