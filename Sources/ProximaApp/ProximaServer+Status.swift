import AdminAPI
import DNSWire
import GeoRouting
import QueryEngine
import ServiceLifecycle

extension ProximaServer {
    /// How long the status page's map looks back, and how far back its answers/s are averaged.
    static let trafficWindow = 300.0
    static let trafficRateWindow = 30.0

    /// Where answers went over the last `trafficWindow` seconds, with each folded backend address
    /// mapped back to the configured member (a fold no member has, e.g. after a reload removed it,
    /// is left out).
    static func trafficView(_ recorder: AnswerFlowRecorder, pools: [PoolView], now: Double) -> TrafficView {
        var members: [UInt64: IPAddress] = [:]
        for pool in pools { for member in pool.members { members[AnswerFlow.fold(member.address)] = member.address } }
        let window = recorder.window(seconds: trafficWindow, now: now)
        var flows: [TrafficView.Flow] = []
        for flow in window.flows {
            guard let address = members[flow.fold], let centre = AnswerFlow.centre(ofCell: flow.cell) else { continue }
            flows.append(TrafficView.Flow(latitude: centre.latitude, longitude: centre.longitude, address: address,
                                          count: flow.count))
        }
        let recent = recorder.window(seconds: trafficRateWindow, now: now)
        var rates: [IPAddress: Double] = [:]
        if recent.seconds > 0 {
            for flow in recent.flows {
                guard let address = members[flow.fold] else { continue }
                rates[address, default: 0] += Double(flow.count) / recent.seconds
            }
        }
        return TrafficView(windowSeconds: window.seconds, cellDegrees: AnswerFlow.cellDegrees, flows: flows,
                           answersPerSecond: rates, rateSeconds: recent.seconds, unattributed: window.overflow)
    }

    /// The route explanation for `address` as `proxima route` prints it (admin `/route?format=text`).
    static func explainText(store: SnapshotStore, address: IPAddress, name: String?) -> String {
        let cur = store.current()
        let routed = cur.snapshot.routes.keys.sorted { $0.description < $1.description }
        let target: DomainName?
        if let name { target = try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".") } else { target = routed.first }
        guard let target else { return "no routed names are configured" }
        let type: RecordType = address.family == 2 ? .aaaa : .a
        guard let report = QueryEngine.explainRoute(name: target, type: type, source: address, ecs: nil,
                                                    now: monotonicSeconds(), snapshot: cur.snapshot, states: cur.states,
                                                    answerMaps: cur.answerMaps)
        else {
            return "\(target) is not a routed name; routed names: \(routed.map(\.description).joined(separator: ", "))"
        }
        return report.text()
    }
}

/// Samples the query threads' answer counts every few seconds, so the status page's window
/// slides even when nobody is looking.
struct AnswerFlowSampler: Service {
    let recorder: AnswerFlowRecorder

    func run() async throws {
        // The first sample was taken when the recorder was made (ProximaServer.init).
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(recorder.sampleInterval))
                } catch {
                    return
                }
                recorder.sample(now: monotonicSeconds())
            }
        }
    }
}
