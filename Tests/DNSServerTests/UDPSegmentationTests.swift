#if canImport(Glibc)
import Glibc
#endif
import CProximaNet
import XCTest
@testable import DNSServer

/// UDP generic segmentation offload for replies (issue #12 §2): a batch's replies to one client
/// address with one length leave as one segmented send, and every datagram the client receives is
/// the reply it would have got without it.
final class UDPSegmentationTests: XCTestCase {

    // MARK: - Grouping (ReplySegmenter on hand-made headers)

    /// Headers as the UDP loop fills them: one reply buffer and one client address each.
    private final class Replies {
        let count: Int
        let headers: UnsafeMutablePointer<cproxima_mmsghdr>
        let vectors: UnsafeMutablePointer<iovec>
        let names: UnsafeMutablePointer<sockaddr_in>
        let bytes: UnsafeMutableRawPointer

        /// `replies[i]` = (client port on 127.0.0.1, reply length).
        init(_ replies: [(port: UInt16, length: Int)]) {
            count = replies.count
            headers = .allocate(capacity: count)
            vectors = .allocate(capacity: count)
            names = .allocate(capacity: count)
            bytes = .allocate(byteCount: max(1, count) * 2048, alignment: 16)
            for (i, r) in replies.enumerated() {
                var name = sockaddr_in()
                name.sin_family = sa_family_t(AF_INET)
                name.sin_port = r.port.bigEndian
                name.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                names[i] = name
                (bytes + i * 2048).initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: i), count: 2048)
                vectors[i] = iovec(iov_base: bytes + i * 2048, iov_len: r.length)
                var header = cproxima_mmsghdr()
                header.msg_hdr.msg_name = UnsafeMutableRawPointer(names + i)
                header.msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                header.msg_hdr.msg_iov = vectors + i
                header.msg_hdr.msg_iovlen = 1
                headers[i] = header
            }
        }

        deinit {
            headers.deallocate(); vectors.deallocate(); names.deallocate(); bytes.deallocate()
        }

        /// Which reply a group member's buffer is (by address).
        func index(of base: UnsafeMutableRawPointer?) -> Int? {
            guard let base else { return nil }
            return (base - bytes) / 2048
        }
    }

    /// The groups `group` made: per group its client port, its members (reply indices in order)
    /// and the segment size its control message asks for (nil without one).
    private func groups(_ replies: Replies, capacity: Int? = nil) -> [(port: UInt16, members: [Int], segment: UInt16?)]? {
        let s = ReplySegmenter(capacity: capacity ?? replies.count)
        defer { s.deallocate() }
        let n = s.group(replies: replies.headers, count: replies.count)
        guard n < replies.count else { return nil }
        return (0..<n).map { g in
            let h = s.headers[g].msg_hdr
            let port = UInt16(bigEndian: h.msg_name!.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port)
            let members = (0..<h.msg_iovlen).map { replies.index(of: h.msg_iov![$0].iov_base)! }
            var segment: UInt16?
            if let c = h.msg_control, h.msg_controllen > 0 {
                let cmsg = c.assumingMemoryBound(to: cmsghdr.self).pointee
                XCTAssertEqual(cmsg.cmsg_level, 17, "SOL_UDP")
                XCTAssertEqual(cmsg.cmsg_type, 103, "UDP_SEGMENT")
                segment = c.loadUnaligned(fromByteOffset: MemoryLayout<cmsghdr>.size, as: UInt16.self)
            }
            for m in members {
                XCTAssertEqual(h.msg_iov![members.firstIndex(of: m)!].iov_len, replies.vectors[m].iov_len)
            }
            return (port, members, segment)
        }
    }

    func testRepliesToOneAddressWithOneLengthAreGroupedInArrivalOrder() throws {
        let r = Replies([(1000, 60), (1000, 60), (2000, 60), (1000, 60), (2000, 60), (3000, 60)])
        let g = try XCTUnwrap(groups(r))
        XCTAssertEqual(g.map(\.port), [1000, 2000, 3000])
        XCTAssertEqual(g.map(\.members), [[0, 1, 3], [2, 4], [5]])
        XCTAssertEqual(g.map(\.segment), [60, 60, nil], "a lone reply carries no control message")
    }

    func testDifferentLengthsOrAddressesAreNeverMerged() throws {
        // The same port on another address is another client.
        let r = Replies([(1000, 60), (1000, 61), (1000, 60), (1000, 61)])
        r.names[3].sin_addr.s_addr = UInt32(0x7f00_0002).bigEndian
        let g = try XCTUnwrap(groups(r))
        XCTAssertEqual(g.map(\.members), [[0, 2], [1], [3]])
        XCTAssertEqual(g.map(\.segment), [60, nil, nil])
        XCTAssertNil(groups(Replies([(1, 60), (2, 60), (3, 60)])), "nothing to group: the replies go as they are")
    }

    func testBoundsOfAGroup() throws {
        // Longer than an IPv6 minimum-MTU payload: alone, even to the same client.
        XCTAssertNil(groups(Replies([(1000, 1233), (1000, 1233)])))
        XCTAssertEqual(try XCTUnwrap(groups(Replies([(1000, 1232), (1000, 1232)]))).map(\.members), [[0, 1]])
        // At most 64 datagrams per send.
        let many = try XCTUnwrap(groups(Replies(Array(repeating: (1000, 100), count: 70))))
        XCTAssertEqual(many.map(\.members.count), [64, 6])
        // At most 65,000 payload bytes per send: 54 replies of 1200.
        let big = try XCTUnwrap(groups(Replies(Array(repeating: (1000, 1200), count: 60))))
        XCTAssertEqual(big.map(\.members.count), [54, 6])
        // A client whose previous group is more than 8 groups back starts a new group.
        var spread: [(port: UInt16, length: Int)] = [(1000, 60)]
        for other in UInt16(2001)...2008 { spread.append((other, 60)) }
        spread += [(1000, 60), (2008, 60)]
        let g = try XCTUnwrap(groups(Replies(spread)))
        XCTAssertEqual(g.count, 10)
        XCTAssertEqual(g[0].members, [0])
        XCTAssertEqual(g[9].members, [9], "port 1000 again, 9 groups on: a new group")
        XCTAssertEqual(g[8].members, [8, 10], "port 2008 again, within 8 groups: joined")
    }

    // MARK: - Live: a real server, real sockets, a real kernel

    private func start(gso: Bool, refuse: Bool = false) throws -> (UDPServer, ServerEndpoint) {
        var configuration = UDPServer.Configuration(threads: 1, io: .mmsg, gso: gso)
        configuration.refuseSegmentation = refuse
        let server = UDPServer(endpoint: ServerEndpoint(address: .v4(0x7f00_0001), port: 0), handler: TestQueryHandler(),
                               configuration: configuration)
        return (server, try server.start())
    }

    /// Bursts from two clients, with replies of two lengths, until the server has sent segmented
    /// groups (at most 300 bursts): every datagram each client receives is byte for byte the reply
    /// a server without segmentation gives to the same query.
    func testSegmentedRepliesArriveAsTheSameDatagrams() throws {
        let (server, bound) = try start(gso: true)
        defer { server.stop() }
        let (plain, plainBound) = try start(gso: false)
        defer { plain.stop() }
        let reference = try UDPClient(server: plainBound)
        let clients = [try UDPClient(server: bound), try UDPClient(server: bound)]
        var bursts = 0
        var id: UInt16 = 0
        while server.segmentedDatagrams < 40 && bursts < 300 {
            bursts += 1
            var expected: [[UInt16: [UInt8]]] = [[:], [:]]
            var burst: [(client: Int, query: [UInt8])] = []
            for round in 0..<12 {
                for c in clients.indices {
                    id &+= 1
                    let query = TestDNS.query(id: id, name: round % 3 == 0 ? "longer-name-\(c).example.test" : "n\(c).example.test")
                    expected[c][id] = try XCTUnwrap(reference.exchange(query))
                    burst.append((c, query))
                }
            }
            // Sent back to back, so the server finds several in the socket when it wakes.
            for (c, query) in burst { clients[c].send(query) }
            for (c, client) in clients.enumerated() {
                while !expected[c].isEmpty {
                    let reply = try XCTUnwrap(client.receive(), "client \(c): a reply is missing")
                    let replyID = try XCTUnwrap(TestDNS.id(reply))
                    XCTAssertEqual(expected[c].removeValue(forKey: replyID), reply, "client \(c), id \(replyID)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(server.segmentedDatagrams, 40, "no segmented send after \(bursts) bursts")
        XCTAssertNil(server.gsoRefusal)
        XCTAssertEqual(plain.segmentedDatagrams, 0, "gso: false never segments")
    }

    /// A kernel that refuses the segmented send (here: SO_NO_CHECK, for which Linux answers
    /// EINVAL, as it does for a route whose MTU is below the segment) loses nothing: each refused
    /// group goes datagram by datagram, and after 16 refusals the thread stops trying.
    func testRefusedSegmentationFallsBackWithoutLosingReplies() throws {
        let (server, bound) = try start(gso: true, refuse: true)
        defer { server.stop() }
        let client = try UDPClient(server: bound)
        var bursts = 0
        var id: UInt16 = 0
        // 20 queries at once, each answered exactly once.
        func burst() throws {
            bursts += 1
            var outstanding = Set<UInt16>()
            for _ in 0..<20 {
                id &+= 1
                client.send(TestDNS.query(id: id, name: "www.example.test"))
                outstanding.insert(id)
            }
            while !outstanding.isEmpty {
                let reply = try XCTUnwrap(client.receive(), "burst \(bursts): \(outstanding.count) replies lost")
                XCTAssertNotNil(outstanding.remove(try XCTUnwrap(TestDNS.id(reply))))
            }
        }
        while server.gsoRefusals < 16 && bursts < 300 { try burst() }
        // Past the limit: more bursts, no more attempts.
        for _ in 0..<20 { try burst() }
        XCTAssertEqual(server.gsoRefusal, EINVAL, "after \(bursts) bursts")
        XCTAssertEqual(server.gsoRefusals, 16, "the thread stops grouping at the limit")
        XCTAssertEqual(server.segmentedDatagrams, 0)
    }
}
