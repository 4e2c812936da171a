#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProximaNet
import Dispatch
import DNSWire
import Synchronization

/// One UDP worker: a pthread running the receive → handle → send loop on its own socket.
///
/// `@unchecked Sendable`: `tid` is written once by `start()` before any other thread can see it
/// and read by `join()` after; `io` and `uringFailure` are written by the thread before it signals
/// `ready` and read by `start()`'s caller after; the stop flag is atomic; everything else is
/// immutable.
final class UDPWorkerThread: @unchecked Sendable {
    /// A failed io_uring setup: the step (`io_uring_setup`, `register buffers`, ...) and errno.
    struct UringFailure: Error, Sendable, Hashable {
        var step: String
        var errno: Int32
    }

    let socket: UDPSocket
    let handler: any QueryHandler
    let configuration: UDPServer.Configuration
    let stopRequested = Atomic<Bool>(false)
    /// The errno of the first segmented send the kernel refused (0: none).
    let gsoRefusal = Atomic<Int32>(0)
    /// Segmented sends the kernel refused on this thread (each group then went datagram by
    /// datagram). Grouping stops at `UDPWorkerThread.refusalLimit`, or at once for an errno that
    /// says the socket or route cannot segment at all.
    let gsoRefusals = Atomic<Int>(0)
    static let refusalLimit = 16
    /// Datagrams this thread sent as members of a segmented send (a group of two or more).
    let segmentedDatagrams = Atomic<Int>(0)
    let ready = DispatchSemaphore(value: 0)
    /// An eventfd the io_uring loop polls, so `wake()` ends its wait at once; -1 when none could
    /// be made (the wait's timeout then bounds the stop). Lives as long as this object, so a
    /// late `wake()` never writes to a reused descriptor.
    let wakeFD: Int32 = cproxima_eventfd()
    private var tid: pthread_t?
    /// What this thread runs (`.uring` or `.mmsg`), settled before `start()` returns.
    private(set) var io: UDPServer.IOMode = .mmsg
    /// Why io_uring could not be used, when it was tried and failed.
    private(set) var uringFailure: UringFailure?

    init(socket: UDPSocket, handler: any QueryHandler, configuration: UDPServer.Configuration) {
        self.socket = socket
        self.handler = handler
        self.configuration = configuration
    }

    /// Starts the thread and waits until it has named itself, made its worker and allocated its
    /// buffers, so that a started server is fully up. The entry closure captures nothing (it is `@convention(c)`) and is built
    /// here, in a nonisolated method: Swift 6 traps when a main-actor closure runs on a pthread.
    func start() throws {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            guard let arg else { return nil }
            let worker = Unmanaged<UDPWorkerThread>.fromOpaque(arg).takeRetainedValue()
            worker.run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<UDPWorkerThread>.fromOpaque(box).release()
            throw DNSServerError(code: .threadCreation, errno: rc, context: "pthread_create")
        }
        tid = thread
        ready.wait()
    }

    func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Makes a blocked receive return now: shutdown(SHUT_RD) on a UDP socket marks it shut and
    /// wakes its waiters (Linux `inet_shutdown`; it reports ENOTCONN for an unconnected socket,
    /// which is expected); the io_uring loop's wait ends on the wake eventfd. The receive timeout
    /// remains the fallback.
    func wake() {
        _ = shutdown(socket.fd, Int32(SHUT_RD))
        if wakeFD >= 0 { cproxima_eventfd_signal(wakeFD) }
    }

    deinit {
        if wakeFD >= 0 { close(wakeFD) }
    }

    func join() {
        if let tid {
            pthread_join(tid, nil)
            self.tid = nil
        }
    }

    /// Picks the IO (io_uring unless `mmsg` is asked for or its setup fails; a forced `uring`
    /// that fails ends the thread, and `start()` reports it) and runs the matching loop.
    private func run() {
        cproxima_set_thread_name("proxima-udp")
        let worker = handler.makeWorker()
        // Boxed as the protocol once: handing the concrete struct to `handle` would build a new
        // existential (retaining the socket) for every query.
        let sink: any ReplySink = UDPReplySink(socket: socket)
        if configuration.io != .mmsg {
            switch UDPUring.open(socket: socket, wakeFD: wakeFD, configuration: configuration) {
            case .success(let ring):
                io = .uring
                runUring(ring, worker: worker, sink: sink)
                return
            case .failure(let failure):
                uringFailure = failure
                if configuration.io == .uring {
                    ready.signal()
                    return
                }
            }
        }
        io = .mmsg
        runMmsg(worker: worker, sink: sink)
    }

    /// The `recvmmsg`/`sendmmsg` loop. All buffers are allocated once up front; per batch it
    /// resets the receive headers it used, tells the worker a batch began, lets it `prepare` every
    /// datagram (prefetch), then calls `handle` once per datagram and sends the replies in one batch.
    private func runMmsg(worker: QueryWorker, sink: any ReplySink) {
        let fd = socket.fd
        let batch = max(1, configuration.batchSize)
        let querySize = max(512, configuration.queryBufferSize)
        let responseSize = max(512, configuration.responseBufferSize)
        let nameSize = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let truncatedFlag = cproxima_msg_trunc()

        let recvHeaders = UnsafeMutablePointer<cproxima_mmsghdr>.allocate(capacity: batch)
        let sendHeaders = UnsafeMutablePointer<cproxima_mmsghdr>.allocate(capacity: batch)
        let recvVectors = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
        let sendVectors = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
        let names = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: batch)
        // The batch's clients, decoded once before `prepare` and reused by `handle`.
        let clients = UnsafeMutablePointer<ClientEndpoint?>.allocate(capacity: batch)
        clients.initialize(repeating: nil, count: batch)
        let queryBytes = UnsafeMutableRawPointer.allocate(byteCount: batch * querySize, alignment: 64)
        let responseBytes = UnsafeMutableRawPointer.allocate(byteCount: batch * responseSize, alignment: 64)
        var segmenter: ReplySegmenter? = configuration.gso ? ReplySegmenter(capacity: batch) : nil
        defer {
            segmenter?.deallocate()
            recvHeaders.deallocate(); sendHeaders.deallocate()
            recvVectors.deallocate(); sendVectors.deallocate()
            names.deallocate(); queryBytes.deallocate(); responseBytes.deallocate()
            clients.deinitialize(count: batch); clients.deallocate()
        }
        names.initialize(repeating: sockaddr_storage(), count: batch)
        for i in 0..<batch {
            recvVectors[i] = iovec(iov_base: queryBytes + i * querySize, iov_len: querySize)
            sendVectors[i] = iovec(iov_base: responseBytes + i * responseSize, iov_len: 0)
            var header = cproxima_mmsghdr()
            header.msg_hdr.msg_name = UnsafeMutableRawPointer(names + i)
            header.msg_hdr.msg_namelen = nameSize
            header.msg_hdr.msg_iov = recvVectors + i
            header.msg_hdr.msg_iovlen = 1
            recvHeaders[i] = header
            header.msg_hdr.msg_iov = sendVectors + i
            sendHeaders[i] = header
        }
        ready.signal()

        var used = batch
        while !stopRequested.load(ordering: .relaxed) {
            for i in 0..<used {
                recvHeaders[i].msg_hdr.msg_namelen = nameSize
                recvHeaders[i].msg_hdr.msg_flags = 0
            }
            let received = cproxima_recvmmsg_waitforone(fd, recvHeaders, UInt32(batch))
            if received <= 0 {
                used = 0
                switch errno {
                case EAGAIN, EWOULDBLOCK:
                    // The receive timeout: idle (also how the stop flag is polled).
                    worker.idle()
                    continue
                case EINTR, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ENOBUFS, ENOMEM:
                    // Timeouts (stop-flag polling), signals, and ICMP errors queued on the socket.
                    continue
                default:
                    // Unexpected (e.g. EBADF): never spin hot; stop() still ends the loop.
                    usleep(1000)
                    continue
                }
            }
            used = Int(received)
            worker.beginBatch()
            for i in 0..<used {
                let header = recvHeaders[i]
                guard header.msg_hdr.msg_flags & truncatedFlag == 0,
                      let (address, port) = IPAddress.decode(sockaddr: UnsafeRawPointer(names + i)) else {
                    clients[i] = nil
                    continue
                }
                let client = ClientEndpoint(address: address, port: port, transport: .udp)
                clients[i] = client
                worker.prepare(query: UnsafeRawBufferPointer(start: queryBytes + i * querySize, count: Int(header.msg_len)),
                               client: client)
            }
            var replies = 0
            for i in 0..<used {
                guard let client = clients[i] else { continue }
                let header = recvHeaders[i]
                let query = UnsafeRawBufferPointer(start: queryBytes + i * querySize, count: Int(header.msg_len))
                let output = UnsafeMutableRawBufferPointer(start: responseBytes + i * responseSize, count: responseSize)
                switch worker.handle(query: query, client: client, output: output, sink: sink) {
                case .reply(let length) where length > 0 && length <= responseSize:
                    sendVectors[replies] = iovec(iov_base: output.baseAddress, iov_len: length)
                    sendHeaders[replies].msg_hdr.msg_name = UnsafeMutableRawPointer(names + i)
                    sendHeaders[replies].msg_hdr.msg_namelen = header.msg_hdr.msg_namelen
                    replies += 1
                case .reply, .drop, .later:
                    continue
                }
            }
            if let s = segmenter, replies > 1 {
                let groups = s.group(replies: sendHeaders, count: replies)
                if groups < replies {
                    if !sendSegmented(fd: fd, segmenter: s, replies: sendHeaders, groups: groups) {
                        segmenter = nil
                        s.deallocate()
                    }
                    continue
                }
            }
            sendBatch(fd: fd, headers: sendHeaders, count: replies)
        }
    }

    /// Sends a batch grouped by `segmenter`. When the kernel refuses a segmented send as such, the
    /// refused group goes datagram by datagram and the refusal is counted (the first errno kept in
    /// `gsoRefusal`). EINVAL or EMSGSIZE can be one client's route (an MTU below the segment):
    /// grouping goes on until `refusalLimit` refusals. EIO (no checksum offload on the route),
    /// ENOPROTOOPT or EOPNOTSUPP (no UDP_SEGMENT) mean it cannot work: every later group of the
    /// batch goes datagram by datagram too. Returns false when grouping should stop. Other errors
    /// are handled as `sendBatch` does (for a segmented group: its datagrams one by one).
    private func sendSegmented(fd: Int32, segmenter s: ReplySegmenter,
                               replies: UnsafeMutablePointer<cproxima_mmsghdr>, groups: Int) -> Bool {
        var offset = 0
        var interrupted = 0
        while offset < groups {
            let sent = cproxima_sendmmsg(fd, s.headers + offset, UInt32(groups - offset), Int32(MSG_NOSIGNAL))
            if sent > 0 {
                var segmented = 0
                for g in offset..<(offset + Int(sent)) where s.counts[g] > 1 { segmented += s.counts[g] }
                if segmented > 0 { segmentedDatagrams.add(segmented, ordering: .relaxed) }
                offset += Int(sent)
                continue
            }
            let e = errno
            if e == EINTR, interrupted < 8 { interrupted += 1; continue }
            if e == EAGAIN || e == EWOULDBLOCK { return true }
            guard s.headers[offset].msg_hdr.msg_iovlen > 1 else {
                offset += 1
                continue
            }
            let unsupported = e == EIO || e == ENOPROTOOPT || e == EOPNOTSUPP
            let refused = unsupported || e == EINVAL || e == EMSGSIZE
            let n = s.singles(of: replies, groups: unsupported ? groups : offset + 1, from: offset)
            sendBatch(fd: fd, headers: s.singles, count: n)
            if refused {
                _ = gsoRefusal.compareExchange(expected: 0, desired: e, ordering: .relaxed)
                let count = gsoRefusals.add(1, ordering: .relaxed).newValue
                if unsupported || count >= Self.refusalLimit {
                    if !unsupported, offset + 1 < groups {
                        let rest = s.singles(of: replies, groups: groups, from: offset + 1)
                        sendBatch(fd: fd, headers: s.singles, count: rest)
                    }
                    return false
                }
            }
            offset += 1
        }
        return true
    }

    /// Sends `count` prepared datagrams, resuming after partial sends. A datagram the kernel
    /// rejects (e.g. EPERM from a firewall) is skipped; a full send buffer past the send timeout
    /// drops the rest of the batch (UDP clients retry) rather than stalling the receive side.
    private func sendBatch(fd: Int32, headers: UnsafeMutablePointer<cproxima_mmsghdr>, count: Int) {
        var offset = 0
        var interrupted = 0
        while offset < count {
            let sent = cproxima_sendmmsg(fd, headers + offset, UInt32(count - offset), Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += Int(sent)
                continue
            }
            let e = errno
            if e == EINTR, interrupted < 8 { interrupted += 1; continue }
            if e == EAGAIN || e == EWOULDBLOCK { return }
            offset += 1
        }
    }
}
