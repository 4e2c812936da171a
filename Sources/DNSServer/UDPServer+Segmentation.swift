#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProximaNet

/// Groups one batch's replies for UDP generic segmentation offload (`UDP_SEGMENT`): replies to
/// the same client address with the same length become one message whose payload the kernel cuts
/// into datagrams after a single pass through its send path (route, IP output, device), instead of
/// one pass per datagram. Each datagram on the wire is byte for byte the reply it would have been.
///
/// All storage is allocated once per UDP thread; `group` costs at most `window` address
/// comparisons per reply, so a batch from many different clients pays little for finding nothing.
struct ReplySegmenter {
    /// Groups looked back through for a reply's address: replies from one client arrive together
    /// (one client sends its queries in bursts), so a short look-back finds them.
    static let window = 8
    /// Datagrams per segmented send (the kernel's UDP_MAX_SEGMENTS was 64 before Linux 6.11).
    static let maxSegments = 64
    /// Longest reply that is grouped: one that fits an IPv6 minimum-MTU path (1280 bytes with the
    /// headers). A longer reply goes alone, since a segment above the route's MTU is refused.
    static let maxSegmentBytes = 1232
    /// Payload bytes per segmented send, under the 64 KiB an IP datagram can carry.
    static let maxGroupBytes = 65_000

    let capacity: Int
    /// One header per group, ready for `sendmmsg`.
    let headers: UnsafeMutablePointer<cproxima_mmsghdr>
    /// The members' buffers in group order; a group's header points at its run.
    let vectors: UnsafeMutablePointer<iovec>
    /// The reply index behind each of `vectors`, for sending a refused group datagram by datagram.
    let members: UnsafeMutablePointer<Int>
    /// Per reply: its group. Per group: members, first member's reply index, length, run start.
    let groupOf: UnsafeMutablePointer<Int>
    let counts: UnsafeMutablePointer<Int>
    let firsts: UnsafeMutablePointer<Int>
    let lengths: UnsafeMutablePointer<Int>
    let starts: UnsafeMutablePointer<Int>
    /// One UDP_SEGMENT control message per group.
    let control: UnsafeMutableRawPointer
    let controlStride: Int
    /// Contiguous copies of single-datagram headers for the fallback send.
    let singles: UnsafeMutablePointer<cproxima_mmsghdr>

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        headers = .allocate(capacity: self.capacity)
        headers.initialize(repeating: cproxima_mmsghdr(), count: self.capacity)
        vectors = .allocate(capacity: self.capacity)
        vectors.initialize(repeating: iovec(), count: self.capacity)
        singles = .allocate(capacity: self.capacity)
        singles.initialize(repeating: cproxima_mmsghdr(), count: self.capacity)
        members = .allocate(capacity: self.capacity)
        groupOf = .allocate(capacity: self.capacity)
        counts = .allocate(capacity: self.capacity)
        firsts = .allocate(capacity: self.capacity)
        lengths = .allocate(capacity: self.capacity)
        starts = .allocate(capacity: self.capacity)
        for p in [members, groupOf, counts, firsts, lengths, starts] { p.initialize(repeating: 0, count: self.capacity) }
        let size = cproxima_gso_control_size()
        controlStride = (size + 15) & ~15
        control = .allocate(byteCount: controlStride * self.capacity, alignment: 16)
        control.initializeMemory(as: UInt8.self, repeating: 0, count: controlStride * self.capacity)
    }

    func deallocate() {
        headers.deallocate(); vectors.deallocate(); singles.deallocate(); members.deallocate()
        groupOf.deallocate(); counts.deallocate(); firsts.deallocate(); lengths.deallocate()
        starts.deallocate(); control.deallocate()
    }

    /// Groups `replies[0..<count]` (one datagram each: `msg_iov` one buffer, `msg_name` the
    /// client) and fills `headers` with one message per group. Returns the number of groups;
    /// when it equals `count` nothing was grouped and `headers` is not filled (send `replies`).
    func group(replies: UnsafeMutablePointer<cproxima_mmsghdr>, count: Int) -> Int {
        let count = min(count, capacity)
        var groups = 0
        for r in 0..<count {
            let length = replies[r].msg_hdr.msg_iov?.pointee.iov_len ?? 0
            var found = -1
            if length > 0 && length <= Self.maxSegmentBytes {
                var k = groups - 1
                let low = max(0, groups - Self.window)
                while k >= low {
                    if lengths[k] == length && counts[k] < Self.maxSegments
                        && (counts[k] + 1) * length <= Self.maxGroupBytes
                        && Self.sameAddress(replies[r].msg_hdr, replies[firsts[k]].msg_hdr) {
                        found = k
                        break
                    }
                    k -= 1
                }
            }
            if found < 0 {
                found = groups
                groups += 1
                counts[found] = 0
                firsts[found] = r
                lengths[found] = length
            }
            groupOf[r] = found
            counts[found] += 1
        }
        guard groups < count else { return groups }
        // Runs in group order: start of each group, then each reply into its group's next slot.
        var next = 0
        for g in 0..<groups {
            starts[g] = next
            next += counts[g]
        }
        // Refilled counting from zero, so members keep their arrival order within a group.
        for g in 0..<groups { counts[g] = 0 }
        for r in 0..<count {
            let g = groupOf[r]
            let slot = starts[g] + counts[g]
            counts[g] += 1
            vectors[slot] = replies[r].msg_hdr.msg_iov?.pointee ?? iovec()
            members[slot] = r
        }
        for g in 0..<groups {
            var header = cproxima_mmsghdr()
            header.msg_hdr.msg_name = replies[firsts[g]].msg_hdr.msg_name
            header.msg_hdr.msg_namelen = replies[firsts[g]].msg_hdr.msg_namelen
            header.msg_hdr.msg_iov = vectors + starts[g]
            header.msg_hdr.msg_iovlen = counts[g]
            if counts[g] > 1 {
                let c = control + g * controlStride
                header.msg_hdr.msg_control = c
                header.msg_hdr.msg_controllen = cproxima_gso_control_write(c, UInt16(truncatingIfNeeded: lengths[g]))
            }
            headers[g] = header
        }
        return groups
    }

    /// Copies the single-datagram headers of groups `from..<groups` into `singles` (contiguous,
    /// arrival order within each group) and returns how many there are.
    func singles(of replies: UnsafeMutablePointer<cproxima_mmsghdr>, groups: Int, from: Int) -> Int {
        var n = 0
        for g in from..<groups {
            for slot in starts[g]..<(starts[g] + counts[g]) {
                singles[n] = replies[members[slot]]
                n += 1
            }
        }
        return n
    }

    /// The same socket address: same length and bytes (the kernel zeroes sockaddr_in's padding).
    @inline(__always)
    static func sameAddress(_ a: msghdr, _ b: msghdr) -> Bool {
        guard a.msg_namelen == b.msg_namelen, let x = a.msg_name, let y = b.msg_name else { return false }
        return memcmp(x, y, Int(a.msg_namelen)) == 0
    }
}
