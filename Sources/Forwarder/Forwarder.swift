import DNSWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The opt-in fallback resolver (DESIGN §4 `Forwarder`, issue #10): who may use it, the shared
/// answer cache, and the upstream exchange with coalescing of identical questions.
///
/// The UDP workers are synchronous, so the query path never waits here: a cache hit is written
/// at once (`cachedAnswer`), a miss is handed to `resolve`, which calls back (on an event loop)
/// when the upstreams answered or failed; the worker answers that query later through the
/// transport's `ReplySink` (`QueryDisposition.later`).
public final class Forwarder: Sendable {
    /// Settings in the form the forwarder uses (ProximaApp translates the config section).
    public struct Configuration: Sendable {
        public var allow: [IPNetwork]
        /// Upstream resolvers, tried in order.
        public var upstreams: [(address: IPAddress, port: Int)]
        /// One upstream's time to answer (UDP plus a TCP retry after TC).
        public var timeout: Duration
        public var maxPending: Int
        /// Clients waiting on one pending question at most; more get SERVFAIL at once.
        public var maxWaitersPerQuestion: Int
        public var cacheEntries: Int
        public var maxTTL: UInt32
        public var negativeTTL: UInt32

        public init(allow: [IPNetwork], upstreams: [(address: IPAddress, port: Int)], timeout: Duration = .milliseconds(1500),
                    maxPending: Int = 1024, maxWaitersPerQuestion: Int = 64, cacheEntries: Int = 100_000,
                    maxTTL: UInt32 = 86_400, negativeTTL: UInt32 = 300) {
            self.allow = allow
            self.upstreams = upstreams
            self.timeout = timeout
            self.maxPending = maxPending
            self.maxWaitersPerQuestion = maxWaitersPerQuestion
            self.cacheEntries = cacheEntries
            self.maxTTL = maxTTL
            self.negativeTTL = negativeTTL
        }
    }

    /// What a resolution produced for the waiting clients.
    public enum Outcome: Sendable {
        case answer(RelayedAnswer)
        /// Every upstream failed, or the pending bound was reached: answer SERVFAIL.
        case failure(ForwarderError.Code)
    }

    public typealias Completion = @Sendable (Outcome) -> Void

    public let configuration: Configuration
    public let cache: ForwardCache
    public let stats = ForwarderStats()
    let upstreams: [SocketAddress]
    let client: UpstreamClient
    /// Pending questions by cache key → the callbacks of every client waiting on them.
    private let pending = NIOLockedValueBox<[[UInt8]: [Completion]]>([:])
    private let allowV4: [IPNetwork]
    private let allowV6: [IPNetwork]

    public init(configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(ForwarderError) {
        guard !configuration.upstreams.isEmpty else { throw ForwarderError(.noUpstream, "no upstream resolver") }
        var addresses: [SocketAddress] = []
        for u in configuration.upstreams {
            do { addresses.append(try SocketAddress(ipAddress: u.address.description, port: u.port)) } catch {
                throw ForwarderError(.socket, "upstream \(u.address): \(error)")
            }
        }
        self.configuration = configuration
        self.upstreams = addresses
        self.cache = ForwardCache(maxEntries: configuration.cacheEntries)
        self.client = UpstreamClient(group: group, stats: stats)
        self.allowV4 = configuration.allow.filter { $0.address.family == 1 }
        self.allowV6 = configuration.allow.filter { $0.address.family == 2 }
    }

    /// Questions waiting for an upstream now, and the clients waiting on them (tests, metrics).
    public var pendingCounts: (questions: Int, clients: Int) {
        pending.withLockedValue { p in (p.count, p.values.reduce(0) { $0 + $1.count }) }
    }

    /// True when `address` may ask for names outside our zones.
    @inline(__always)
    public func allows(_ address: IPAddress) -> Bool {
        switch address {
        case .v4: return allowV4.contains { $0.contains(address) }
        case .v6: return allowV6.contains { $0.contains(address) }
        }
    }

    /// The cached answer for `q`, written into `output`; nil on a miss.
    @inline(__always)
    public func cachedAnswer(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, generation: UInt64,
                             limit: Int, ourPayload: Int, output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let n = cache.answer(query: query, q: q, now: now, generation: generation, limit: limit,
                                   ourPayload: ourPayload, output: output) else { return nil }
        ForwarderStats.bump(stats.cacheHits)
        return n
    }

    /// The cached answer for `q`, written into `output`, from the calling thread's `local` front
    /// when it has it, else from the shared cache (and then kept in `local`); nil on a miss.
    @inline(__always)
    public func cachedAnswer(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, generation: UInt64,
                             limit: Int, ourPayload: Int, local: inout ForwardLocalCache,
                             output: UnsafeMutableRawBufferPointer) -> Int? {
        if let n = local.answer(query: query, q: q, now: now, generation: generation, limit: limit,
                                ourPayload: ourPayload, output: output) {
            ForwarderStats.bump(stats.cacheHits)
            return n
        }
        guard let hit = cache.lookup(query: query, q: q, now: now, generation: generation) else { return nil }
        local.remember(hit, q: q, now: now)
        ForwarderStats.bump(stats.cacheHits)
        return hit.render(query: query, q: q, now: now, limit: limit, ourPayload: ourPayload, output: output)
    }

    /// Resolves `q` through the upstreams and calls `completion` once. Identical pending questions
    /// share one upstream exchange. Past `maxPending` distinct questions, or `maxWaitersPerQuestion`
    /// clients on one, `completion` gets `.failure` at once (SERVFAIL: the client's resolver retries
    /// elsewhere or later; REFUSED would read as a policy answer). The answer is cached (for
    /// `generation`, at monotonic `now()` when it arrives) unless its lifetime is 0.
    public func resolve(key: [UInt8], hash: UInt64, question: Question, generation: UInt64,
                        now: @escaping @Sendable () -> Double, completion: @escaping Completion) {
        enum Start { case lead, joined, rejected }
        let maxPending = configuration.maxPending, maxWaiters = configuration.maxWaitersPerQuestion
        let start: Start = pending.withLockedValue { p in
            if var waiters = p[key] {
                guard waiters.count < maxWaiters else { return .rejected }
                waiters.append(completion)
                p[key] = waiters
                return .joined
            }
            guard p.count < maxPending else { return .rejected }
            p[key] = [completion]
            return .lead
        }
        switch start {
        case .joined:
            return
        case .rejected:
            ForwarderStats.bump(stats.overloaded)
            completion(.failure(.upstreamFailure))
            return
        case .lead:
            break
        }
        Task {
            let outcome = await self.exchange(question)
            if case .answer(let a) = outcome {
                self.cache.insert(key: key, hash: hash, answer: a, now: now(), generation: generation)
            }
            let waiters = self.pending.withLockedValue { $0.removeValue(forKey: key) } ?? []
            for w in waiters { w(outcome) }
        }
    }

    /// Asks each upstream in turn: UDP, then TCP when the reply is truncated (RFC 7766 §5); the
    /// next upstream on a timeout, an unusable reply, or SERVFAIL/REFUSED/NOTIMP/FORMERR.
    func exchange(_ question: Question) async -> Outcome {
        let timeout = TimeAmount.nanoseconds(Int64(configuration.timeout.components.seconds) * 1_000_000_000
            + configuration.timeout.components.attoseconds / 1_000_000_000)
        var last = ForwarderError.Code.noUpstream
        for upstream in upstreams {
            do {
                var reply = try await client.udp(question, to: upstream, timeout: timeout)
                if reply[2] & 0x02 != 0 {
                    ForwarderStats.bump(stats.tcpRetries)
                    reply = try await client.tcp(question, to: upstream, timeout: timeout)
                }
                let answer = try RelayedAnswer(upstream: reply, question: question, maxTTL: configuration.maxTTL,
                                               negativeTTL: configuration.negativeTTL)
                // FORMERR too: the upstream rejected our query (e.g. its EDNS), not the name.
                if answer.rcode == .servFail || answer.rcode == .refused || answer.rcode == .notImp
                    || answer.rcode == .formErr {
                    ForwarderStats.bump(stats.upstreamFailures)
                    last = .upstreamFailure
                    continue
                }
                return .answer(answer)
            } catch let e as ForwarderError {
                switch e.code {
                case .timeout: ForwarderStats.bump(stats.timeouts)
                case .garbage: ForwarderStats.bump(stats.garbageReplies)
                default: break
                }
                last = e.code
            } catch {
                last = .socket
            }
        }
        return .failure(last)
    }
}
