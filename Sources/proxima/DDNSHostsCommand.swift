import ArgumentParser
import DDNSClient
import Foundation
import ProximaConfig

/// `proxima ddns hosts`: mirrors a silo's records into a managed block of a hosts file.
struct DDNSHosts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hosts",
        abstract: "Write a silo's records into a managed block of a hosts file.",
        discussion: """
            Reads the silo and writes its records, one `IP<TAB>FULL-NAME NAME` line each (the full name as \
            the server serves it; from a server that does not say, NAME.SILO.ZONE with --zone), between `# BEGIN proxima SILO` and `# END proxima SILO`. Every other line, \
            the file's mode, owner and line endings (LF or CRLF) are kept. The file is replaced \
            atomically (a temporary file in its directory, fsync, rename) and only when the block \
            changes. A missing block is appended; a BEGIN without END (or the reverse) is refused and \
            the file left alone. A silo that does not exist leaves the file alone too.

            \(DDNSClientError.exitStatusHelp)

            Examples:
              proxima ddns hosts --server https://ns1.example:8054 --silo office --token-file /etc/proxima/office.token --zone dyn.example.com --once
              proxima ddns hosts --config /etc/proxima/ddns-client.yaml --interval 1m
            """
    )

    @OptionGroup var options: DDNSClientOptions

    @Option(name: .customLong("hosts-file"), help: "The hosts file to manage (default /etc/hosts).")
    var hostsFile: String?

    @Option(help: "The server's DDNS zone (ddns.zone), for full names NAME.SILO.ZONE when the server's reply does not give them.")
    var zone: String?

    func validate() throws {
        if let zone, case .failure(let p) = DDNSClientRules.zone(zone) { throw ValidationError("--zone: \(p)") }
    }

    func run() async throws {
        let job: HostsJob
        let common: DDNSClientOptions.Common
        let token: String
        do throws(DDNSClientError) {
            let file = try options.fileSettings()
            common = try options.common(file)
            token = try TokenFile.read(common.tokenFile)
            job = HostsJob(silo: common.silo, hostsFile: hostsFile ?? file.hostsFile ?? "/etc/hosts",
                           zone: zone.flatMap { try? DDNSClientRules.zone($0).get() } ?? file.zone)
        } catch {
            DDNSOutput.warn("proxima ddns hosts: \(error.message)")
            throw ExitCode(error.exitStatus)
        }
        let quiet = options.quiet
        try await DDNSAPIClient.with(server: common.server, token: token, timeout: common.timeout,
                                     backoff: Backoff(attempts: common.attempts),
                                     warn: { DDNSOutput.warn("proxima ddns hosts: \($0)") }) { api in
            try await DDNSOutput.loop(command: "hosts", interval: common.interval) { () async throws(DDNSClientError) in
                let outcome = try await job.run(api: api, warn: { DDNSOutput.warn("proxima ddns hosts: \($0)") })
                if case .written(let lines, let method) = outcome, !quiet {
                    let how = method == .inPlace ? " (in place: the file is a mount point)" : ""
                    DDNSOutput.say("silo \(job.silo): wrote \(lines) record(s) to \(job.hostsFile)\(how)")
                }
            }
        }
    }
}
