import AsyncHTTPClient
import DNSWire
import GeoIP
import GeoRouting
import Logging
import QueryEngine

/// `proxima route` without a running server: the engine's own routing over freshly loaded data.
public enum RouteExplainer {
    /// Explains `name` for a client. When the location needs ipstack and ipstack is configured, the
    /// lookup is made (bounded by its timeout) and reported as the source.
    public static func explain(runtime rt: LoadedRuntime, name: DomainName, type: RecordType, source: IPAddress,
                               ecs: ClientSubnet?) async throws -> RouteReport {
        let settings = rt.config.geoip.ipstack
        var client: IPStackClient?
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        if settings.enabled, let key = settings.accessKey, !key.isEmpty {
            client = try IPStackClient(httpClient: http, configuration: ProximaServer.ipstackConfiguration(settings, key: key),
                                       logger: Logger(label: "proxima.ipstack"))
        }
        let report = try await explain(runtime: rt, client: client, name: name, type: type, source: source, ecs: ecs,
                                       timeout: settings.timeout)
        try? await http.shutdown()
        return report
    }

    static func explain(runtime rt: LoadedRuntime, client: IPStackClient?, name: DomainName, type: RecordType,
                        source: IPAddress, ecs: ClientSubnet?, timeout: Duration) async throws -> RouteReport {
        let snapshot = ProximaServer.makeSnapshot(rt, generation: 1, ipstack: client)
        let states = BackendStates()
        let now = monotonicSeconds()
        // With ECS the scope is the server's: the answer map's block (built as the server builds
        // it; a few seconds for a full City database), not the database record's network.
        let maps = ecs == nil ? nil : AnswerMapSet.build(snapshot: snapshot, states: states, now: now)
        guard var report = QueryEngine.explainRoute(name: name, type: type, source: source, ecs: ecs, now: now,
                                                    snapshot: snapshot, states: states, answerMaps: maps) else {
            throw LoadProblem("\(name) is not a routed name")
        }
        if case .needsRemote = report.location, let client {
            let located = await client.lookup(report.clientAddress, budget: timeout)
            report = QueryEngine.explainRoute(name: name, type: type, source: source, ecs: ecs, now: now,
                                              remoteLocation: .some(located), snapshot: snapshot, states: states,
                                              answerMaps: maps) ?? report
        }
        return report
    }
}
