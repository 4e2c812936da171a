import ArgumentParser
import AsyncHTTPClient
import DNSWire
import Foundation
import GeoRouting
import NIOCore
import ProximaApp
import ProximaConfig
import QueryEngine

/// `proxima route`.
struct Route: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain which backend a client address gets for a routed name, and why.",
        discussion: """
        Prints where the address was placed (source, coordinates, network), every pool member with its \
        distance, health, load and weight, the policy, the answer, its TTL and the ECS scope. It runs the \
        same routing code as the server.

        When the server draws per query (members within the tie band of the nearest, round-robin, random, \
        weighted, or an answers: N subset), every answer it can give is listed with its probability \
        (P(answered); `*` always, `~` on some queries), and why; with --json, possibleAnswers and \
        possibleAnswerSets hold them for scripts that compare with `dig`.

        Without --live or --admin, the data comes from the config files and every member counts as healthy \
        with no load (no probes run). With --live it asks the running server through its admin socket \
        (admin.socket in the config), so live health and load are included and the answer equals what \
        `dig` gets from that server; --admin names another socket path or a TCP URL (then the admin \
        token comes from --token-file or --token-env).

        Examples:
          proxima route 81.2.69.160 --name www.example.test
          proxima route 192.0.2.53 --ecs 81.2.69.0/24 --json     # a resolver asking for a London client
          proxima route 81.2.69.160 --live
          proxima route 81.2.69.160 --admin https://ns1.example:8053 --token-file /etc/proxima/admin.token
        """)

    @Argument(help: "Client address (the query's source; with --ecs, the resolver's address).")
    var ip: String

    @Option(name: .long, help: "Routed name to explain (default: the first routed name in the config).")
    var name: String?

    @Option(name: .long, help: ArgumentHelp("EDNS Client Subnet the query carries, e.g. 81.2.69.0/24.",
                                            discussion: "The ECS scope reported is the server's: the widest block around the client with the same answer, from the answer maps, which are built as the server builds them (a few seconds for a City database)."))
    var ecs: String?

    @Option(name: .long, help: "Record type: A or AAAA (default: A for an IPv4 client, AAAA for IPv6).")
    var type: String?

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    @Option(name: .long, help: "Ask a running server's admin API at this socket path or URL instead of the files.")
    var admin: String?

    @Flag(name: .long, help: "Ask the running server through the config's admin socket.")
    var live = false

    @Option(name: .customLong("token-file"), help: "File holding the admin token (TCP URLs only).")
    var tokenFile: String?

    @Option(name: .customLong("token-env"), help: "Environment variable holding the admin token (TCP URLs only).")
    var tokenEnv: String = "PROXIMA_ADMIN_TOKEN"

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard IPAddress(ip) != nil else { throw ValidationError("'\(ip)' is not an IPv4 or IPv6 address") }
        if let ecs, IPNetwork(ecs) == nil {
            throw ValidationError("--ecs '\(ecs)' is not a network like 81.2.69.0/24 (host bits must be zero)")
        }
        if let type, RecordType(mnemonic: type) != .a && RecordType(mnemonic: type) != .aaaa {
            throw ValidationError("--type must be A or AAAA")
        }
        if (admin != nil || live) && ecs != nil { throw ValidationError("--ecs cannot be combined with --admin or --live") }
    }

    func run() async throws {
        let address = IPAddress(ip)!
        if admin != nil || live {
            let target = try AdminTarget.resolve(admin: admin, configPath: config, tokenFile: tokenFile, tokenEnv: tokenEnv)
            return try await viaAdmin(target, address: address)
        }
        let rt: LoadedRuntime
        // With --ecs the answer maps give the scope, and they need every record's coordinates.
        switch RuntimeLoader.load(configPath: config, precomputeCoordinates: ecs != nil) {
        case .success(let r): rt = r
        case .failure(let failure):
            let problems = failure.problems
            for p in problems { FileHandle.standardError.write(Data((p.description + "\n").utf8)) }
            throw ExitCode(2)
        }
        let routed = rt.routes.keys.sorted { $0.description < $1.description }
        guard !routed.isEmpty else { throw ValidationError("\(config) routes no names (routing.names is empty)") }
        let target: DomainName
        if let name {
            guard let n = try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".") else {
                throw ValidationError("--name '\(name)' is not a domain name")
            }
            if rt.routes[n] == nil, let ddns = rt.config.ddns, let zone = rt.zones.zone(for: n),
               zone.origin == ddns.zone || ddns.allowNamesIn.contains(zone.origin) {
                throw ValidationError("\(n) is not a routed name: it is in \(zone.origin), where dynamic DNS (ddns:) answers "
                    + "silo records from the DDNS store (\(ddns.store)), not a pool; "
                    + "run `proxima explain \(n) --live` to see its live records")
            }
            guard rt.routes[n] != nil else {
                throw ValidationError("\(n) is not a routed name; routed names: \(routed.map(\.description).joined(separator: ", "))")
            }
            target = n
        } else {
            target = routed[0]
        }
        let subnet = ecs.flatMap(IPNetwork.init).map {
            ClientSubnet(address: $0.address, sourcePrefixLength: UInt8($0.prefixLength))
        }
        let qtype: RecordType = type.flatMap { RecordType(mnemonic: $0) } ?? ((subnet?.address ?? address).family == 2 ? .aaaa : .a)
        let report = try await RouteExplainer.explain(runtime: rt, name: target, type: qtype, source: address, ecs: subnet)
        print(json ? report.json() : report.text())
    }

    func viaAdmin(_ target: AdminTarget, address: IPAddress) async throws {
        var path = "/route?ip=\(address)"
        if let name {
            path += "&name=" + (name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? name)
        }
        let (status, text) = try await target.send(.GET, path)
        guard status == 200 else {
            FileHandle.standardError.write(Data("admin API: HTTP \(status): \(text)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(text)
        } else {
            // The server explains why it cannot (e.g. the name is not routed, or is a DDNS name).
            if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
               let message = object["error"] as? String {
                FileHandle.standardError.write(Data("\(message)\n".utf8))
                throw ExitCode(1)
            }
            let doc = try JSONDecoder().decode(RouteReportDocument.self, from: Data(text.utf8))
            print(RouteReportDocument.renderText(doc))
        }
    }
}
