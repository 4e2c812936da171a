import AdminAPI
import AsyncHTTPClient
import DNSServer
import DNSWire
import Forwarder
import Foundation
import GeoIP
import GeoRouting
import HealthChecks
import Logging
import NIOCore
import NIOPosix
import ProximaConfig
import QueryEngine
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The running nameserver: loads the configuration, builds the engine snapshot, and runs the DNS
/// listeners, health monitor, admin API and reloader as one `ServiceGroup`.
public final class ProximaServer: Sendable {
    /// How the server is started.
    public struct Options: Sendable {
        public var configPath: String
        public var environment: [String: String]
        /// Install SIGINT/SIGTERM (graceful shutdown) and SIGHUP (reload) handlers. Tests run the
        /// server in-process without them and stop it by cancellation.
        public var handleSignals: Bool
        /// How often watched files are checked for changes.
        public var pollInterval: Duration
        /// Switch to the config's `user`/`group` after binding when running as root (`proxima
        /// serve`); in-process tests leave it off so the test process keeps its identity.
        public var dropPrivileges: Bool
        /// The log output `proxima serve` set up: reopened on SIGUSR1 and, with `user`, handed
        /// to that user before root is dropped.
        public var logSink: LogSink?
        /// Called once, on the answer-map builder's thread, before it builds the database's
        /// coordinate table after start (issue #12.3). Tests block in it to query the server while
        /// the table is not built; nil (the default) does nothing.
        public var beforeFirstPlacement: (@Sendable () -> Void)?

        public init(configPath: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                    handleSignals: Bool = true, pollInterval: Duration = .seconds(2), dropPrivileges: Bool = false,
                    logSink: LogSink? = nil, beforeFirstPlacement: (@Sendable () -> Void)? = nil) {
            self.configPath = configPath
            self.environment = environment
            self.handleSignals = handleSignals
            self.pollInterval = pollInterval
            self.dropPrivileges = dropPrivileges
            self.logSink = logSink
            self.beforeFirstPlacement = beforeFirstPlacement
        }
    }

    /// Why the server could not start.
    public struct StartupError: Error, CustomStringConvertible {
        public var problems: [LoadProblem]
        public var description: String { problems.map(\.description).joined(separator: "\n") }
    }

    let options: Options
    let logger: Logger
    let store: SnapshotStore
    let backends: BackendStateStore
    let runtime: LockedBox<LoadedRuntime>
    /// Files the last failed reload read beyond the running data's (empty after a success).
    let failedLoadFiles = LockedBox<[String]>([])
    let generation = Atomic<UInt64>(1)
    let httpClient: HTTPClient
    let ipstack: LockedBox<(IPStackSettings, IPStackClient)?>
    let health: HealthMonitor
    let dns: DNSServerGroup
    let admin: AdminServer?
    let group = LockedBox<ServiceGroup?>(nil)
    /// Lets the admin server's `/metrics` closure reach this server once it is made.
    let metricsSource: MetricsSourceBox?
    /// Reload requests: serialized and coalesced (`ReloadCoalescer`).
    let reloads = LockedBox(ReloadCoalescer())
    /// Held for the whole of one reload, so direct `reload(reason:)` calls never overlap either.
    let reloadLock = Mutex<Int>(0)
    /// How file descriptors were shared out at start (#14.1).
    public let descriptorBudget: DescriptorBudget
    /// The opt-in fallback resolver (`forward:`); nil when not configured.
    public let forwarder: Forwarder?
    /// Where routed answers went (the status page's map); nil without an `admin:` section.
    let answerFlow: AnswerFlowRecorder?
    /// systemd readiness notifications (`$NOTIFY_SOCKET` in the options' environment).
    public let notifier: ServiceNotifier
    /// What SIGUSR1 reopens (log file, query log, …); add to it before `run()`.
    public let reopeners = ReopenRegistry()
    /// The account to switch to after binding (config `user`), when root and asked to.
    let privilegeDrop: PrivilegeDrop?
    /// The dynamic DNS service (`ddns:`: store, change feed, API); nil when not configured.
    let ddnsService: (any Service)?
    /// The query path's cross-cutting steps (metrics counters, query log); fixed at start.
    public let querySteps: QuerySteps
    /// Builds the answer maps off the query path (issue #12.1).
    let answerMapBuilder: AnswerMapBuilder
    /// The `/metrics` registry and what records into it; nil with `metrics.enabled: false`.
    let metrics: ProximaMetrics?

    /// Loads and validates everything; throws `StartupError` listing every problem.
    public init(options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        let loaded: LoadedRuntime
        switch RuntimeLoader.load(configPath: options.configPath, environment: options.environment) {
        case .success(let rt): loaded = rt
        case .failure(let f): throw StartupError(problems: f.problems)
        }
        for w in loaded.warnings { logger.warning("\(w.description)") }
        ProximaServer.logDatabaseOpened(loaded, logger: logger)
        let config = loaded.config
        notifier = ServiceNotifier(environment: options.environment)
        privilegeDrop = try ProximaServer.privilegeDrop(config, options: options, logger: logger)
        let adminConfiguration = try config.admin.map { try ProximaServer.adminConfiguration($0, logger: logger) }
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
        ipstack = LockedBox(nil)
        runtime = LockedBox(loaded)

        // Per server, never `MetricsSystem.bootstrap` (once per process): tests run several servers.
        let metrics = config.metrics.enabled ? ProximaMetrics(startTime: Date().timeIntervalSince1970) : nil
        self.metrics = metrics
        let storeBox = SnapshotStoreBox()
        backends = BackendStateStore(onChange: { states in storeBox.store?.replace(states: states) },
                                     metrics: metrics?.factory)
        let initialSnapshot = ProximaServer.makeSnapshot(loaded, generation: 1, ipstack: nil)
        store = SnapshotStore(snapshot: initialSnapshot, states: backends.snapshot())
        storeBox.store = store
        answerMapBuilder = AnswerMapBuilder(store: store, logger: logger.with(label: "proxima.answer-map"),
                                            beforeFirstPlacement: options.beforeFirstPlacement)
        ProximaServer.installDDNSTable(config.ddns, store: store)
        ddnsService = try ProximaServer.makeDDNSService(config, configPath: options.configPath, store: store, logger: logger)

        health = HealthMonitor(store: backends, targets: ProximaServer.healthTargets(loaded.geoData),
                               logger: logger.with(label: "proxima.health"), metrics: metrics?.factory)
        let storeForLabels = store
        querySteps = QuerySteps(
            counters: config.metrics.enabled ? QueryCounterRegistry() : nil,
            log: config.queryLog.map { settings in
                QueryLog(target: settings.target.queryLogTarget, ringCapacity: settings.buffer, sample: settings.sample,
                         snapshot: { storeForLabels.snapshot })
            })
        let limits = ProximaServer.resourceLimits(config, logger: logger)
        descriptorBudget = limits.descriptors
        forwarder = try ProximaServer.makeForwarder(config.forward, listen: config.listen)
        if let f = forwarder?.configuration {
            let allow = f.allow.map(\.description).joined(separator: ", ")
            let upstreams = f.upstreams.map { ListenEndpoint(address: $0.address, port: $0.port).description }.joined(separator: ", ")
            logger.notice("forwarding names outside our zones for \(allow) to \(upstreams)")
        }
        let answerFlow = config.admin == nil ? nil : AnswerFlowRecorder()
        // The window's first sample, taken before any query thread exists: every answer counted
        // later falls inside it.
        answerFlow?.sample(now: monotonicSeconds())
        self.answerFlow = answerFlow
        dns = DNSServerGroup(
            configuration: .init(endpoints: config.listen.map { ServerEndpoint(address: $0.address, port: UInt16($0.port)) },
                                 udp: UDPServer.Configuration(threads: limits.udpThreads, batchSize: config.udp.batch,
                                                              io: config.udp.io.serverMode, gso: config.udp.gso),
                                 tcp: TCPServer.Configuration(idleTimeout: config.tcp.idleTimeout,
                                                              maxConnections: limits.descriptors.tcpPerListener,
                                                              queryTimeout: config.tcp.queryTimeout,
                                                              maxConnectionsPerAddress: config.tcp.maxConnectionsPerIP,
                                                              maxPipelined: config.tcp.maxPipelined)),
            handler: EngineQueryHandler(store: store, remote: RemoteLocatorAdapter(ipstack: ipstack),
                                        locationTableBytes: limits.udpTableBytes, forwarder: forwarder,
                                        answerFlow: answerFlow, steps: querySteps),
            logger: logger.with(label: "proxima.dns"),
            tcpHandler: EngineQueryHandler(store: store, remote: RemoteLocatorAdapter(ipstack: ipstack),
                                           locationTableBytes: limits.tcpTableBytes, forwarder: forwarder,
                                           answerFlow: answerFlow, steps: querySteps),
            metrics: metrics?.factory)
        if var adminConfiguration {
            adminConfiguration.maxConnections = min(adminConfiguration.maxConnections, limits.descriptors.admin)
            let runtimeRef = runtime
            let storeRef = store
            var traffic: (@Sendable () -> TrafficView)?
            if let answerFlow {
                traffic = {
                    ProximaServer.trafficView(answerFlow, pools: ProximaServer.poolViews(runtimeRef.withLock { $0.geoData }),
                                              now: monotonicSeconds())
                }
            }
            let metricsSource = MetricsSourceBox()
            var metricsText: (@Sendable () -> String)?
            if config.metrics.enabled {
                metricsText = { metricsSource.server?.metricsText() ?? "" }
            }
            admin = AdminServer(
                configuration: adminConfiguration,
                store: backends,
                pools: { ProximaServer.poolViews(runtimeRef.withLock { $0.geoData }) },
                knownBackends: { ProximaServer.memberAddresses(runtimeRef.withLock { $0.geoData }) },
                explain: { address, name in ProximaServer.explainJSON(store: storeRef, address: address, name: name, ecs: nil) },
                loadMaxAge: { runtimeRef.withLock { $0.config.health.loadMaxAge.configSeconds } },
                explainText: { address, name in ProximaServer.explainText(store: storeRef, address: address, name: name) },
                traffic: traffic,
                logger: logger.with(label: "proxima.admin"),
                explainName: { name, type in ProximaServer.explainNameJSON(store: storeRef, name: name, type: type) },
                metrics: metricsText)
            self.metricsSource = metricsSource
        } else {
            admin = nil
            metricsSource = nil
        }
        // The first snapshot again, now with the ipstack client: the same path reloads take.
        installIPStack(for: config)
        store.replace(snapshot: makeSnapshot(loaded))
        if let sink = options.logSink {
            reopeners.add("log file") { sink.reopen() }
        }
        if let queryLog = querySteps.log {
            // Asynchronous: the writer thread reopens before its next line (failures are counted
            // in proxima_query_log_errors_total and logged by the writer).
            reopeners.add("query log") { queryLog.reopen(); return nil }
        }
        metricsSource?.server = self
    }

    /// Runs until cancelled or, with signal handling, until SIGINT/SIGTERM. The DNS listeners are
    /// bound before any service starts, so a bind failure (e.g. the port is taken) is reported at
    /// once and nothing else runs.
    public func run() async throws {
        if options.handleSignals {
            // Until their handlers are installed (services start concurrently), SIGHUP and SIGUSR1
            // must not kill the process by their default action; the handlers work while ignored.
            signal(SIGHUP, SIG_IGN)
            signal(SIGUSR1, SIG_IGN)
        }
        do {
            try querySteps.log?.start()
            try await dns.start()
        } catch {
            querySteps.log?.stop()
            try? await httpClient.shutdown()
            throw error
        }
        defer { querySteps.log?.stop() }
        // A ServiceGroup shuts services down in reverse order, each after the previous one has
        // finished: DNS goes last in the list so that on SIGTERM its sockets close first (clients
        // are refused at once instead of timing out), then the admin API, reloads and probes.
        var services: [any Service] = [AnswerMapService(builder: answerMapBuilder), health, ReloadService(server: self)]
        if let admin { services.append(admin) }
        if let answerFlow { services.append(AnswerFlowSampler(recorder: answerFlow)) }
        if let ddnsService { services.append(ddnsService) }
        services.append(dns)
        // Last, so it is the first told to stop: STOPPING=1 goes out as shutdown begins.
        services.append(LifecycleService(server: self))
        let group = ServiceGroup(configuration: .init(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        self.group.withLock { $0 = group }
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            logStopped()
            throw error
        }
        try? await httpClient.shutdown()
        logStopped()
    }

    /// The one line that says the server is gone, with how long shutdown took from the moment the
    /// DNS listeners began to close.
    private func logStopped() {
        var metadata: Logger.Metadata = [:]
        if let began = dns.stopBegan {
            let ms = (ContinuousClock.now - began).components
            metadata["shutdown_ms"] = "\(ms.seconds * 1000 + ms.attoseconds / 1_000_000_000_000_000)"
        }
        logger.notice("proxima stopped", metadata: metadata)
    }

    /// Stops the server as SIGTERM does: listeners close, probes stop, `run()` returns.
    public func shutdown() async {
        guard let g = group.value else { return }
        await g.triggerGracefulShutdown()
    }

    /// The DNS endpoints bound (ports resolved); waits until the listeners are up.
    public func waitForDNS(timeout: Duration = .seconds(30)) async throws -> [ServerEndpoint] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let b = dns.boundEndpoints
            if !b.isEmpty { return b }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw StartupError(problems: [LoadProblem("DNS listeners did not start in time")])
    }

    /// The admin API port once it listens (nil when no admin section is configured).
    public func waitForAdmin() async throws -> Int? {
        guard let admin else { return nil }
        return try await admin.waitUntilListening()
    }

    /// The current engine snapshot and backend states.
    public var snapshotStore: SnapshotStore { store }

    /// Asks for a reload without waiting for it: it runs on a reload thread at once when none is
    /// running; otherwise it is folded into the one reload that follows the running one (which
    /// reads the newest files). After shutdown began, requests are ignored.
    public func requestReload(reason: String) {
        guard case .start(let first) = reloads.withLock({ $0.request(reason: reason) }) else { return }
        let thread = Thread { [self] in
            var reason = first
            while true {
                reload(reason: reason)
                guard case .start(let next) = reloads.withLock({ $0.finished() }) else { return }
                reason = next
            }
        }
        thread.name = "proxima-reload"
        thread.start()
    }

    /// Drops queued reloads and refuses new ones (shutdown).
    public func stopReloads() {
        reloads.withLock { $0.shutdown() }
    }

    /// Reload counters: (started, coalesced into another) — for tests and the log.
    public var reloadStatistics: (started: Int, coalesced: Int) {
        reloads.withLock { ($0.started, $0.coalesced) }
    }

    /// Reloads config, zones, geo data and database, now, on the caller's thread (one reload at a
    /// time). The database is reopened only when its file changed. On any problem the running data
    /// stays and every problem is logged; returns whether the new data is now serving.
    @discardableResult
    public func reload(reason: String) -> Bool {
        reloadLock.withLock { count in
            count += 1
            return reloadNow(reason: reason)
        }
    }

    private func reloadNow(reason: String) -> Bool {
        let previous = runtime.value
        logger.info("reloading (\(reason))")
        notifier.reloading(status: "reloading (\(reason))")
        // READY=1 again when done, whatever the outcome: the previous data keeps serving.
        defer { notifier.ready(status: readyStatus()) }
        switch RuntimeLoader.load(configPath: options.configPath, environment: options.environment,
                                  previous: previous) {
        case .failure(let failure):
            // Watch what the failed load read too (a newly $INCLUDEd file, say): fixing it reloads.
            failedLoadFiles.withLock { $0 = failure.watchedFiles }
            let problems = failure.problems
            logger.error("reload (\(reason)) refused; still serving the previous data", metadata: ["problems": "\(problems.count)"])
            for p in problems { logger.error("\(p.description)") }
            metrics?.reloaded(ok: false, now: Date().timeIntervalSince1970)
            return false
        case .success(let loaded):
            for w in loaded.warnings { logger.warning("\(w.description)") }
            ProximaServer.logDatabaseOpened(loaded, logger: logger)
            let old = previous.config
            if old.listen != loaded.config.listen || old.udpThreads != loaded.config.udpThreads || old.admin != loaded.config.admin
                || old.tcp != loaded.config.tcp || old.fastPath != loaded.config.fastPath || old.udp != loaded.config.udp {
                logger.warning("reload (\(reason)): listen, udp_threads, udp, tcp, fast_path and admin changes take effect after a restart")
            }
            runtime.withLock { $0 = loaded }
            failedLoadFiles.withLock { $0 = [] }
            reloadDDNS(old: old.ddns, new: loaded.config.ddns, reason: reason)
            installIPStack(for: loaded.config)
            store.replace(snapshot: makeSnapshot(loaded))
            let targets = ProximaServer.healthTargets(loaded.geoData)
            health.update(targets: targets)
            backends.retain(addresses: ProximaServer.memberAddresses(loaded.geoData))
            metrics?.reloaded(ok: true, now: Date().timeIntervalSince1970)
            logger.notice("reloaded (\(reason))", metadata: [
                "zones": "\(loaded.zones.zones.count)", "routed_names": "\(loaded.routes.count)",
                "database": "\(loaded.database.map { "\($0.metadata.databaseType)" } ?? "none")",
            ])
            return true
        }
    }

    static func logDatabaseOpened(_ loaded: LoadedRuntime, logger: Logger) {
        guard loaded.openedDatabase, let db = loaded.database else { return }
        logger.notice("opened GeoIP database", metadata: [
            "path": "\(loaded.config.geoip.databasePath ?? "")", "type": "\(db.metadata.databaseType)",
        ])
    }

    /// Files whose change triggers a reload.
    var watchedFiles: [String] {
        let current = runtime.withLock { $0.watchedFiles }
        return current + failedLoadFiles.withLock { failed in failed.filter { !current.contains($0) } }
    }

    func installIPStack(for config: ProximaConfiguration) {
        ipstack.withLock { current in
            let settings = config.geoip.ipstack
            guard settings.enabled, let key = settings.accessKey, !key.isEmpty else {
                if settings.enabled { logger.warning("geoip.ipstack is enabled but has no access key; ipstack lookups are off") }
                current = nil
                return
            }
            if let c = current, c.0 == settings { return }
            do {
                current = (settings, try IPStackClient(httpClient: httpClient,
                                                       configuration: ProximaServer.ipstackConfiguration(settings, key: key),
                                                       logger: logger.with(label: "proxima.ipstack"),
                                                       metrics: metrics?.factory))
            } catch {
                logger.error("geoip.ipstack: \(error); ipstack lookups are off")
                current = nil
            }
        }
    }

    /// The GeoIP module's ipstack configuration for the config's settings.
    public static func ipstackConfiguration(_ settings: IPStackSettings, key: String) -> IPStackConfiguration {
        IPStackConfiguration(
            baseURL: settings.baseURL, accessKey: key, timeout: settings.timeout, budget: settings.budget,
            maxConcurrent: settings.maxConcurrent, cacheTTL: settings.cacheTTL, negativeCacheTTL: settings.negativeCacheTTL,
            cachePrefixV4: settings.cachePrefixV4, cachePrefixV6: settings.cachePrefixV6,
            breakerFailures: settings.breakerFailures, breakerCooldown: settings.breakerCooldown,
            maxPerMinute: settings.maxPerMinute, monthlyQuota: settings.monthlyQuota, usageFile: settings.usageFile)
    }

    func makeSnapshot(_ rt: LoadedRuntime) -> EngineSnapshot {
        let gen = generation.wrappingAdd(1, ordering: .relaxed).newValue
        let client = ipstack.withLock { $0?.1 }
        return ProximaServer.makeSnapshot(rt, generation: gen, ipstack: client)
    }

    /// An engine snapshot of loaded data (the server's and `proxima route`'s one way to build it).
    public static func makeSnapshot(_ rt: LoadedRuntime, generation: UInt64, ipstack: IPStackClient?) -> EngineSnapshot {
        let locator = GeoLocator(overrides: rt.overrides, database: rt.database, ipstack: ipstack)
        return EngineSnapshot(zones: rt.zones, routes: rt.routes, geoData: rt.geoData, locator: LocatorAdapter(locator: locator),
                              settings: engineSettings(rt.config), generation: generation,
                              synthesis: rt.config.synthesize)
    }

    /// The engine's settings from the config (ECS trust and RRL included).
    static func engineSettings(_ c: ProximaConfiguration) -> EngineSettings {
        EngineSettings(maxUDPPayload: c.maxUDPPayload, loadMaxAge: c.health.loadMaxAge.configSeconds,
                       ecsTrustedResolvers: c.ecs.trustedResolvers, rateLimit: c.rrl.engineSettings,
                       identity: c.identity)
    }

    static func healthTargets(_ geo: GeoData?) -> [HealthTarget] {
        guard let geo else { return [] }
        var out: [HealthTarget] = []
        for pool in geo.pools {
            for m in pool.members {
                if let spec = m.healthCheck { out.append(HealthTarget(address: m.address, name: m.name, spec: spec)) }
            }
        }
        return out
    }

    static func memberAddresses(_ geo: GeoData?) -> Set<IPAddress> {
        Set((geo?.pools ?? []).flatMap { $0.members.map(\.address) })
    }

    static func poolViews(_ geo: GeoData?) -> [PoolView] {
        (geo?.pools ?? []).map { pool in
            PoolView(name: pool.name, members: pool.members.map {
                MemberView(address: $0.address, name: $0.name, latitude: $0.coordinate.latitude,
                           longitude: $0.coordinate.longitude, weight: $0.weight, capacity: $0.capacity,
                           hasHealthCheck: $0.healthCheck != nil)
            })
        }
    }

    /// The route explanation for `address` as JSON (admin API `/route`).
    static func explainJSON(store: SnapshotStore, address: IPAddress, name: String?, ecs: ClientSubnet?) -> String {
        let cur = store.current()
        let routed = cur.snapshot.routes.keys.sorted { $0.description < $1.description }
        let target: DomainName?
        if let name { target = try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".") } else { target = routed.first }
        guard let target else { return #"{"error": "no routed names are configured"}"# }
        let type: RecordType = address.family == 2 ? .aaaa : .a
        guard let report = QueryEngine.explainRoute(name: target, type: type, source: address, ecs: ecs,
                                                    now: monotonicSeconds(), snapshot: cur.snapshot, states: cur.states,
                                                    answerMaps: cur.answerMaps)
        else {
            if let ddns = ddnsDescription(store.ddns, snapshot: cur.snapshot, name: target) {
                return jsonObject(["error": "\(target) is not a routed name: \(ddns)"])
            }
            return #"{"error": "\#(target) is not a routed name"}"#
        }
        return report.json()
    }
}

/// Lets the admin server's `/metrics` closure reach the server it is part of.
final class MetricsSourceBox: @unchecked Sendable {
    // Written once at the end of ProximaServer.init, before the admin server runs; read afterwards.
    weak var server: ProximaServer?
}

extension QueryLogSettings.Target {
    var queryLogTarget: QueryLog.Target {
        switch self {
        case .stdout: return .stdout
        case .file(let p): return .file(p)
        }
    }
}

/// Lets the backend store's change callback reach the snapshot store created after it.
final class SnapshotStoreBox: @unchecked Sendable {
    // Written once during ProximaServer.init before any callback can fire, read afterwards.
    var store: SnapshotStore?
}

extension Logger {
    /// A copy with another label and the same level.
    func with(label: String) -> Logger {
        var l = Logger(label: label)
        l.logLevel = logLevel
        return l
    }
}
