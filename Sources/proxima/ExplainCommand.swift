import ArgumentParser
import DNSWire
import Foundation
import GeoRouting
import ProximaApp
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

        Examples:
          proxima explain www.example.test
          proxima explain workstation7.office.example.test A --json
          proxima explain 7.2.16.172.in-addr.arpa PTR
        """)

    @Argument(help: "The name to explain (a trailing dot is optional).")
    var name: String

    @Argument(help: "Record type (default A).")
    var type: String = "A"

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".")) != nil else {
            throw ValidationError("'\(name)' is not a domain name")
        }
        guard RecordType(mnemonic: type.uppercased()) != nil else { throw ValidationError("'\(type)' is not a record type") }
    }

    func run() async throws {
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
        let explanation = QueryEngine.explain(name: qname, type: qtype, snapshot: snapshot, states: BackendStates())
        print(json ? explanation.json() : explanation.text())
    }
}
