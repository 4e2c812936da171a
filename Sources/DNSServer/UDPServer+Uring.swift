#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProximaNet
import DNSWire
import Synchronization

/// A worker thread's io_uring (`Sources/CProximaNet/uring.c`): a multishot `IORING_OP_RECVMSG`
/// over `uringBuffers` provided buffers, and each reply sent (`IORING_OP_SENDMSG`) from the reply
/// area paired with the buffer its query arrived in, in the same `io_uring_enter(2)` that waits for
/// the next datagrams. Every queue is bounded by the buffer count: when all buffers are held, the
/// kernel ends the receive and datagrams wait in the socket buffer until one is given back.
enum UDPUring {
    /// Sets up the ring for `socket`, or says which step failed and why.
    static func open(socket: UDPSocket, wakeFD: Int32, configuration: UDPServer.Configuration)
        -> Result<OpaquePointer, UDPWorkerThread.UringFailure> {
        guard let buffers = UInt32(exactly: configuration.uringBuffers), buffers > 0,
              let querySize = UInt32(exactly: max(512, configuration.queryBufferSize)),
              let responseSize = UInt32(exactly: max(512, configuration.responseBufferSize)) else {
            return .failure(.init(step: "buffer sizes", errno: EINVAL))
        }
        var stage: Int32 = 0
        guard let ring = cproxima_uring_open(socket.fd, wakeFD, buffers, querySize, responseSize, &stage) else {
            return .failure(.init(step: stepName(stage), errno: errno))
        }
        return .success(ring)
    }

    static func stepName(_ stage: Int32) -> String {
        switch Int(stage) {
        case CPROXIMA_URING_STAGE_SETUP: "io_uring_setup"
        case CPROXIMA_URING_STAGE_FEATURES: "io_uring features (EXT_ARG, NODROP)"
        case CPROXIMA_URING_STAGE_MMAP: "io_uring ring mmap"
        case CPROXIMA_URING_STAGE_BUFFERS: "io_uring_register PBUF_RING"
        case CPROXIMA_URING_STAGE_MEMORY: "io_uring buffer memory"
        default: "io_uring"
        }
    }
}

extension UDPWorkerThread {
    /// The io_uring loop: wait (submitting the last batch's replies), take up to `batchSize`
    /// datagrams off the completion queue, `prepare` them all, then `handle` each and queue its
    /// reply. Truncated datagrams (longer than `queryBufferSize`) and unknown source addresses are
    /// dropped, their buffers given straight back. Owns and closes the ring.
    func runUring(_ ring: OpaquePointer, worker: QueryWorker, sink: any ReplySink) {
        let batch = max(1, configuration.batchSize)
        let responseSize = cproxima_uring_response_size(ring)
        let datagrams = UnsafeMutablePointer<cproxima_uring_datagram>.allocate(capacity: batch)
        let clients = UnsafeMutablePointer<ClientEndpoint?>.allocate(capacity: batch)
        clients.initialize(repeating: nil, count: batch)
        defer {
            datagrams.deallocate()
            clients.deinitialize(count: batch); clients.deallocate()
            cproxima_uring_close(ring)
        }
        let (seconds, attoseconds) = configuration.stopPollInterval.components
        // The wait's timeout in nanoseconds (at least 1 ms, at most about 292 years).
        let timeout = seconds >= Int64.max / 1_000_000_000 - 1 ? Int64.max
            : max(1_000_000, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        ready.signal()

        while !stopRequested.load(ordering: .relaxed) {
            let waited = cproxima_uring_wait(ring, timeout)
            var count = 0
            while count < batch, cproxima_uring_next(ring, datagrams + count) == 1 { count += 1 }
            if count == 0 {
                switch -waited {
                case ETIME:
                    worker.idle()
                case 0, EINTR, EAGAIN, EBUSY:
                    continue
                default:
                    // Unexpected (e.g. EBADF): never spin hot; stop() still ends the loop.
                    usleep(1000)
                }
                continue
            }
            worker.beginBatch()
            for i in 0..<count {
                let datagram = datagrams[i]
                guard datagram.truncated == 0, let name = datagram.name,
                      let (address, port) = IPAddress.decode(sockaddr: name) else {
                    clients[i] = nil
                    cproxima_uring_release(ring, datagram.bid)
                    continue
                }
                let client = ClientEndpoint(address: address, port: port, transport: .udp)
                clients[i] = client
                worker.prepare(query: UnsafeRawBufferPointer(start: datagram.payload, count: datagram.length), client: client)
            }
            for i in 0..<count {
                guard let client = clients[i] else { continue }
                let datagram = datagrams[i]
                let query = UnsafeRawBufferPointer(start: datagram.payload, count: datagram.length)
                let output = UnsafeMutableRawBufferPointer(start: cproxima_uring_response(ring, datagram.bid), count: responseSize)
                switch worker.handle(query: query, client: client, output: output, sink: sink) {
                case .reply(let length) where length > 0 && length <= responseSize:
                    _ = cproxima_uring_send(ring, datagram.bid, length)
                case .reply, .drop, .later:
                    cproxima_uring_release(ring, datagram.bid)
                }
            }
        }
    }
}
