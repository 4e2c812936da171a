import ArgumentParser
import AsyncHTTPClient
import DNSWire
import Foundation
import GeoRouting
import NIOCore
import ProximaApp
import ProximaConfig
import QueryEngine

/// `proxima explain`.
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain what answers a name: zone data, a synthesize rule, or a routed name's pool.",
        discussion: """
        Loads the config and its files and resolves NAME TYPE with the server's own engine code, then \
        prints every name of the answer (the name, then each CNAME target) with what decided it: records \
        in a zone or from a wildcard, a CNAME, a delegation (referral), NODATA, NXDOMAIN, a synthesize rule \
        (its index in synthesize: and its file:line), or a routed name with its pool — for the routing \
        decision itself, run `proxima route`. Then the response: rcode and sections, as `dig` shows them.

        Dynamic DNS names (ddns:) are answered from records in the DDNS store, which the files do not \
        hold: offline, explain says so; with --live it asks the running server through its admin socket \
        (or --admin URL), which sees the live records and says "DDNS silo S record H" with the addresses.

        Examples:
          proxima explain www.example.test
          proxima explain workstation7.office.example.test A --json
          proxima explain 7.2.16.172.in-addr.arpa PTR
          proxima explain dbserver.silo1.dyn.example.test --live
        """)

    @Argument(help: "The name to explain (a trailing dot is optional).")
    var name: String

    @Argument(help: "Record type (default A).")
    var type: String = "A"

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "Ask the running server through the config's admin socket (sees live DDNS records).")
    var live = false

    @Option(name: .long, help: "Ask a running server's admin API at this socket path or URL instead of the files.")
    var admin: String?

    @Option(name: .customLong("token-file"), help: "File holding the admin token (TCP URLs only).")
    var tokenFile: String?

    @Option(name: .customLong("token-env"), help: "Environment variable holding the admin token (TCP URLs only).")
    var tokenEnv: String = "PROXIMA_ADMIN_TOKEN"

    func validate() throws {
        guard (try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".")) != nil else {
            throw ValidationError("'\(name)' is not a domain name")
        }
        guard RecordType(mnemonic: type.uppercased()) != nil else { throw ValidationError("'\(type)' is not a record type") }
    }

    func run() async throws {
        if live || admin != nil {
            let target = try AdminTarget.resolve(admin: admin, configPath: config, tokenFile: tokenFile, tokenEnv: tokenEnv)
            let encode = { (t: String) in t.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? t }
            let (status, text) = try await target.send(.GET, "/explain?name=\(encode(name))&type=\(encode(type))")
            guard status == 200 else {
                FileHandle.standardError.write(Data("admin API: HTTP \(status): \(text)\n".utf8))
                throw ExitCode(1)
            }
            if json {
                print(text, terminator: "")
            } else {
                let doc = try JSONDecoder().decode(NameExplanationDocument.self, from: Data(text.utf8))
                print(doc.text())
            }
            return
        }
        let rt: LoadedRuntime
        switch RuntimeLoader.load(configPath: config) {
        case .success(let r): rt = r
        case .failure(let failure):
            for p in failure.problems { FileHandle.standardError.write(Data((p.description + "\n").utf8)) }
            throw ExitCode(2)
        }
        let qname = try DomainName(parsing: name.hasSuffix(".") ? name : name + ".")
        let qtype = RecordType(mnemonic: type.uppercased())!
        let snapshot = ProximaServer.makeSnapshot(rt, generation: 1, ipstack: nil)
        var explanation = QueryEngine.explain(name: qname, type: qtype, snapshot: snapshot, states: BackendStates())
        if let ddns = rt.config.ddns, let zone = snapshot.zones.zone(for: qname),
           zone.origin == ddns.zone || ddns.allowNamesIn.contains(zone.origin) {
            explanation.notes.append("\(zone.origin) holds dynamic DNS names (ddns:), whose records live in the DDNS store "
                + "(\(ddns.store)), not in the files read here: this answer leaves them out. "
                + "Run with --live to ask the running server, which sees them.")
        }
        print(json ? explanation.json() : explanation.text())
    }
}
