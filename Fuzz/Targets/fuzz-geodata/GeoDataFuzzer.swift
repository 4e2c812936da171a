import DNSWire
import FuzzSupport
import GeoRouting

// The geo_data.json parser (the flat `{"ip": {"latitude": …}}` form and the pools form, with the
// JSON reader under it) on arbitrary bytes. Data that parses is then routed: every pool, every
// policy, both families, from a few client places, with and without health and load, so pools
// only a config file can build (odd weights, capacities, one member, one family) are ranked too.

let clients: [Coordinate?] = [nil, Coordinate(latitude: 51.5, longitude: -0.12), Coordinate(latitude: -89.9, longitude: 179.9),
                              Coordinate(latitude: 0, longitude: 0)]

@_cdecl("LLVMFuzzerTestOneInput")
public func geoDataFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    guard let geo = try? GeoData.parse(json: bytes, file: "geo_data.json", defaults: HealthCheckDefaults()) else {
        return 0
    }
    // Every other member down and loaded, to reach spill-over, least-load and all-down paths.
    var byAddress: [IPAddress: BackendStatus] = [:]
    for (i, member) in geo.pools.flatMap(\.members).enumerated() where i % 2 == 1 {
        byAddress[member.address] = BackendStatus(probeHealthy: i % 4 != 1, lastLoad: LoadReport(load: Double(i) / 8, receivedAt: 90))
    }
    let stateSets = [BackendStates(), BackendStates(byAddress: byAddress)]
    for pool in geo.pools.prefix(4) {
        for policy in RoutePolicy.allCases {
            let route = RouteSpec(pool: pool.name, policy: policy, answers: 2, allDown: .fallback(pool: geo.pools[0].name))
            for states in stateSets {
                let resolved = ResolvedBackendStates(states, for: geo)
                for client in clients {
                    for family in AddressFamily.allCases {
                        _ = Router.decide(route: route, pools: geo, client: client, family: family, states: resolved,
                                          now: 100, loadMaxAge: 30, entropy: UInt64(size) &* 0x9e37_79b9_7f4a_7c15)
                    }
                }
            }
        }
    }
    return 0
}

@main
struct GeoDataFuzzer {
    static func main() { FuzzDriver.main(geoDataFuzzerTestOneInput) }
}
