import ArgumentParser
import DDNS
import DDNSClient
import DNSWire
import Foundation
import ProximaConfig

/// `proxima ddns silo ...`: the admin's commands.
struct DDNSSilo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silo",
        abstract: "Create, list, show and delete silos, and make their tokens (admin token).",
        discussion: """
            The admin token comes from --admin-token-file, else the variable named by --admin-token-env \
            (default PROXIMA_DDNS_ADMIN_TOKEN), never from the command line.

            \(DDNSClientError.exitStatusHelp)

            Examples:
              proxima ddns silo create home --server http://127.0.0.1:8054 --admin-token-file /etc/proxima/ddns-admin.token
              proxima ddns silo create lab --record db=192.0.2.10 --record db=2001:db8::10,300 --server ...
              (umask 077; proxima ddns silo token home --server ... --admin-token-file ... > home.token)
            """,
        subcommands: [Create.self, List.self, Show.self, Delete.self, Token.self]
    )

    struct AdminOptions: ParsableArguments {
        @Option(help: "Base URL of the DDNS API, e.g. http://127.0.0.1:8054.")
        var server: String

        @Option(name: .customLong("admin-token-file"), help: "File whose first line is the DDNS admin token (mode 0600).")
        var adminTokenFile: String?

        @Option(name: .customLong("admin-token-env"), help: "Variable holding the admin token when no file is given.")
        var adminTokenEnv: String = "PROXIMA_DDNS_ADMIN_TOKEN"

        @Option(help: "Timeout of one HTTP request.")
        var timeout: String = "10s"

        func validate() throws {
            if case .failure(let p) = DDNSClientRules.serverURL(server) { throw ValidationError("--server: \(p)") }
            guard let d = parseDuration(timeout), DDNSClientRules.timeoutRange.contains(d) else {
                throw ValidationError("--timeout '\(timeout)' must be a duration from 100ms to 5m")
            }
        }

        /// Runs `body` with an API client carrying the admin token; maps failures to exit statuses.
        func withAPI(_ command: String, _ body: @escaping (DDNSAPIClient) async throws(DDNSClientError) -> Void) async throws {
            do {
                let token: String
                if let adminTokenFile {
                    token = try TokenFile.read(adminTokenFile)
                } else if let value = ProcessInfo.processInfo.environment[adminTokenEnv]?.trimmingCharacters(in: .whitespaces),
                          !value.isEmpty {
                    token = value
                } else {
                    throw DDNSClientError(.usage, "no admin token: pass --admin-token-file or set $\(adminTokenEnv)")
                }
                let base = try DDNSClientRules.serverURL(server).get()
                try await DDNSAPIClient.with(server: base, token: token, timeout: parseDuration(timeout) ?? .seconds(10),
                                             backoff: Backoff(attempts: 3),
                                             warn: { DDNSOutput.warn("proxima ddns silo \(command): \($0)") }) { api in
                    do throws(DDNSClientError) {
                        try await body(api)
                    } catch {
                        DDNSOutput.warn("proxima ddns silo \(command): \(error.message)")
                        throw ExitCode(error.exitStatus)
                    }
                }
            } catch let error as DDNSClientError {
                DDNSOutput.warn("proxima ddns silo \(command): \(error.message)")
                throw ExitCode(error.exitStatus)
            }
        }
    }

    static func siloID(_ text: String) throws -> String {
        switch DDNSClientRules.siloID(text) {
        case .success(let id): return id
        case .failure(let p): throw ValidationError(p.message)
        }
    }

    /// One silo as text: `SILO  HOSTNAME  TYPE  IP  TTL` per record (ttl `-`: the server's default).
    static func table(_ silos: [Silo]) -> String {
        var out = ""
        for silo in silos {
            if silo.records.isEmpty { out += "\(silo.id)\t(no records)\n" }
            for r in silo.records {
                let address = r.address.mappedIPv4 ?? r.address
                out += "\(silo.id)\t\(r.hostname)\t\(address.family == 1 ? "A" : "AAAA")\t\(address)\t\(r.ttl.map(String.init) ?? "-")\n"
            }
        }
        return out
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a silo (PUT), empty or with --record host=ip[,ttl]; refuses an existing one unless --replace.")

        @Argument(help: "Silo id (one DNS label).") var id: String
        @OptionGroup var admin: AdminOptions
        @Option(name: .customLong("record"), help: "host=ip[,ttl] (repeatable): an A or AAAA record.") var records: [String] = []
        @Flag(help: "Replace the records of a silo that exists.") var replace = false

        func validate() throws {
            _ = try DDNSSilo.siloID(id)
            for r in records { _ = try Self.parse(r) }
        }

        /// `host=ip[,ttl]`.
        static func parse(_ text: String) throws -> DDNSRecord {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--record '\(text)' must be host=ip[,ttl]") }
            let host: String
            switch DDNSClientRules.hostname(parts[0]) {
            case .success(let h): host = h
            case .failure(let p): throw ValidationError("--record '\(text)': \(p)")
            }
            let rest = parts[1].split(separator: ",", maxSplits: 1).map(String.init)
            guard let address = rest.first.flatMap({ IPAddress($0) }) else {
                throw ValidationError("--record '\(text)': '\(rest.first ?? "")' is not an IPv4 or IPv6 address")
            }
            var ttl: UInt32?
            if rest.count == 2 {
                guard let t = UInt32(rest[1]), (1...86_400).contains(t) else {
                    throw ValidationError("--record '\(text)': ttl '\(rest[1])' must be a number of seconds 1...86400")
                }
                ttl = t
            }
            return DDNSRecord(hostname: host, address: address.mappedIPv4 ?? address, ttl: ttl)
        }

        func run() async throws {
            let id = try DDNSSilo.siloID(id)
            let records = try self.records.map(Self.parse)
            let replace = self.replace
            try await admin.withAPI("create") { (api: DDNSAPIClient) async throws(DDNSClientError) in
                if !replace, try await api.silo(id) != nil {
                    throw DDNSClientError(.refused, "silo '\(id)' exists; --replace replaces its records")
                }
                let silo = try await api.put(id, records: records)
                DDNSOutput.say("created silo \(silo.id) with \(silo.records.count) record(s); make its token: proxima ddns silo token \(silo.id)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every silo with its records.")
        @OptionGroup var admin: AdminOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let json = self.json
            try await admin.withAPI("list") { (api: DDNSAPIClient) async throws(DDNSClientError) in
                let silos = try await api.silos()
                if json {
                    DDNSOutput.say(SiloJSON.encode(silos, list: true))
                } else {
                    print(DDNSSilo.table(silos), terminator: "")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One silo's records.")
        @Argument(help: "Silo id.") var id: String
        @OptionGroup var admin: AdminOptions
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { _ = try DDNSSilo.siloID(id) }

        func run() async throws {
            let id = try DDNSSilo.siloID(id)
            let json = self.json
            try await admin.withAPI("show") { (api: DDNSAPIClient) async throws(DDNSClientError) in
                guard let silo = try await api.silo(id) else { throw DDNSClientError(.refused, "silo '\(id)' does not exist") }
                if json {
                    DDNSOutput.say(SiloJSON.encode([silo], list: false))
                } else {
                    print(DDNSSilo.table([silo]), terminator: "")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a silo, its names and its token.")
        @Argument(help: "Silo id.") var id: String
        @OptionGroup var admin: AdminOptions

        func validate() throws { _ = try DDNSSilo.siloID(id) }

        func run() async throws {
            let id = try DDNSSilo.siloID(id)
            try await admin.withAPI("delete") { (api: DDNSAPIClient) async throws(DDNSClientError) in
                guard try await api.delete(id) else { throw DDNSClientError(.refused, "silo '\(id)' does not exist") }
                DDNSOutput.say("deleted silo \(id)")
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new token for a silo and print it once (the old one stops working).",
            discussion: "The server keeps only a hash: save the output, e.g. (umask 077; proxima ddns silo token home ... > home.token).")
        @Argument(help: "Silo id.") var id: String
        @OptionGroup var admin: AdminOptions

        func validate() throws { _ = try DDNSSilo.siloID(id) }

        func run() async throws {
            let id = try DDNSSilo.siloID(id)
            try await admin.withAPI("token") { (api: DDNSAPIClient) async throws(DDNSClientError) in
                DDNSOutput.say(try await api.newToken(id))
            }
        }
    }
}
