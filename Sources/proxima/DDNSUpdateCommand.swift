import ArgumentParser
import DDNSClient
import DNSWire
import Foundation
import ProximaConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `proxima ddns update`: keeps this host's names in a silo pointing at its current address.
struct DDNSUpdate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Put this host's current address into a silo, when it changed.",
        discussion: """
            Finds the address (--ip-from api: GET SERVER/ip, the address the server sees; \
            --ip-from interface:eth0: the interface's IPv4 and IPv6 addresses, loopback and link-local \
            skipped) and compares it with the state file. Only when it changed is the silo read and PUT \
            back with the named hostnames' A (IPv4) and/or AAAA (IPv6) records set and every other \
            record kept. A family not found is left as it is.

            The state file defaults to $STATE_DIRECTORY/ddns-update-SILO.json (systemd StateDirectory=), \
            else $XDG_STATE_HOME/proxima/..., else ~/.local/state/proxima/...

            Failed requests are retried (--attempts) after waits that double from 1s (with jitter, at \
            most 30s); a 401/403 is never retried. Nothing is printed when nothing changed.

            \(DDNSClientError.exitStatusHelp)

            Examples:
              proxima ddns update --server https://ns1.example:8054 --silo home --token-file /etc/proxima/home.token --hostname gw --once
              proxima ddns update --config /etc/proxima/ddns-client.yaml --ip-from interface:eth0 --interval 5m
            """
    )

    @OptionGroup var options: DDNSClientOptions

    @Option(name: .customLong("hostname"), help: "A name to update (repeatable): one label, or an absolute name ending in '.'. Default: this host's name.")
    var hostnames: [String] = []

    @Option(name: .customLong("ip-from"), help: "api (GET SERVER/ip, the default) or interface:NAME.")
    var ipFrom: String?

    @Flag(name: .customLong("include-local"), help: "With interface:NAME, report loopback and link-local addresses too.")
    var includeLocal = false

    @Option(name: .customLong("state-file"), help: "Where the last address sent is kept (default: see above).")
    var stateFile: String?

    @Option(help: "TTL of records this command adds (default: the server's); existing records keep theirs.")
    var ttl: UInt32?

    @Flag(help: "Send even when the state file says the address has not changed.")
    var force = false

    func validate() throws {
        for name in hostnames {
            if case .failure(let p) = DDNSClientRules.hostname(name) { throw ValidationError("--hostname: \(p)") }
        }
        if let ipFrom, DDNSAddressSource(ipFrom) == nil {
            throw ValidationError("--ip-from '\(ipFrom)' must be api or interface:NAME (e.g. interface:eth0)")
        }
        if let ttl, !(1...86_400).contains(ttl) { throw ValidationError("--ttl must be 1...86400 seconds") }
    }

    func run() async throws {
        let job: UpdateJob
        let common: DDNSClientOptions.Common
        let token: String
        do throws(DDNSClientError) {
            let file = try options.fileSettings()
            common = try options.common(file)
            token = try TokenFile.read(common.tokenFile)
            var names: [String] = []
            for text in hostnames {
                switch DDNSClientRules.hostname(text) {
                case .success(let name): names.append(name)
                case .failure(let problem): throw DDNSClientError(.usage, "--hostname: \(problem)")
                }
            }
            if names.isEmpty { names = file.hostnames }
            if names.isEmpty { names = [try Self.localHostname()] }
            let source = ipFrom.flatMap(DDNSAddressSource.init) ?? file.ipFrom ?? .api
            guard let statePath = stateFile ?? file.stateFile
                ?? UpdateState.defaultPath(silo: common.silo, environment: ProcessInfo.processInfo.environment) else {
                throw DDNSClientError(.usage, "no state file: set --state-file (neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is set)")
            }
            var unique: [String] = []
            for name in names where !unique.contains(name) { unique.append(name) }
            job = UpdateJob(silo: common.silo, hostnames: unique, source: source,
                            includeLocal: includeLocal || file.includeLocal == true, stateFile: statePath,
                            force: force, ttl: ttl)
        } catch {
            DDNSOutput.warn("proxima ddns update: \(error.message)")
            throw ExitCode(error.exitStatus)
        }
        let quiet = options.quiet
        let names = job.hostnames.joined(separator: ", ")
        try await DDNSAPIClient.with(server: common.server, token: token, timeout: common.timeout,
                                     backoff: Backoff(attempts: common.attempts),
                                     warn: { DDNSOutput.warn("proxima ddns update: \($0)") }) { api in
            try await DDNSOutput.loop(command: "update", interval: common.interval) { () async throws(DDNSClientError) in
                let outcome = try await job.run(api: api, now: DDNSOutput.now(), warn: { DDNSOutput.warn("proxima ddns update: \($0)") })
                switch outcome {
                case .unchanged:
                    break
                case .alreadyCurrent(let addresses):
                    if !quiet { DDNSOutput.say("silo \(job.silo): \(names) already at \(addresses.map(\.description).joined(separator: ", "))") }
                case .updated(let addresses):
                    if !quiet { DDNSOutput.say("silo \(job.silo): \(names) updated to \(addresses.map(\.description).joined(separator: ", "))") }
                }
            }
        }
    }

    /// This host's name, first label, lowercased: the default `--hostname`.
    static func localHostname() throws(DDNSClientError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else {
            throw DDNSClientError(.usage, "cannot read this host's name; pass --hostname")
        }
        let full = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let first = String(full.split(separator: ".").first ?? "")
        guard case .success(let name) = DDNSClientRules.hostname(first) else {
            throw DDNSClientError(.usage, "this host's name '\(full)' is not a DNS label; pass --hostname")
        }
        return name
    }
}
