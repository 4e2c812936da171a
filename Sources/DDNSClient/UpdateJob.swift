import DDNS
import DNSWire
import ProximaConfig

/// One run of `proxima ddns update`: find the address, compare it with the state file, and only
/// when it changed read the silo, merge and `PUT` it, then record what was sent.
public struct UpdateJob: Sendable {
    /// The silo id.
    public var silo: String
    /// Lowercased, validated (`DDNSClientRules.hostname`), at least one.
    public var hostnames: [String]
    /// Where the address comes from.
    public var source: DDNSAddressSource
    /// Report loopback and link-local interface addresses too.
    public var includeLocal: Bool
    /// Where the last addresses sent are kept.
    public var stateFile: String
    /// Send even when the state file says the address is unchanged.
    public var force: Bool
    /// TTL for records this run adds (nil: the server's default); existing records keep theirs.
    public var ttl: UInt32?

    public init(silo: String, hostnames: [String], source: DDNSAddressSource, includeLocal: Bool, stateFile: String,
                force: Bool = false, ttl: UInt32? = nil) {
        self.silo = silo
        self.hostnames = hostnames
        self.source = source
        self.includeLocal = includeLocal
        self.stateFile = stateFile
        self.force = force
        self.ttl = ttl
    }

    /// What a run did.
    public enum Outcome: Sendable, Hashable {
        /// The state file says these addresses were already sent: no request but the address lookup.
        case unchanged([IPAddress])
        /// The silo already held them (e.g. after the state file was lost): no PUT.
        case alreadyCurrent([IPAddress])
        /// The silo was PUT with them.
        case updated([IPAddress])
    }

    /// The addresses to report: the API's view of this client, or the interface's addresses (at
    /// most one per family).
    public func addresses(api: DDNSAPIClient) async throws(DDNSClientError) -> [IPAddress] {
        switch source {
        case .api:
            return [try await api.callerAddress()]
        case .interface(let name):
            let all = try InterfaceAddresses.addresses(of: name, includeLocal: includeLocal)
            let chosen = RecordMerge.perFamily(all)
            guard !chosen.isEmpty else {
                let hint = includeLocal ? "" : " (loopback and link-local addresses are skipped; --include-local reports them)"
                throw DDNSClientError(.usage, "interface \(name) has no IPv4 or IPv6 address to report\(hint)")
            }
            return chosen
        }
    }

    /// Runs once. `now` is the ISO 8601 time written into the state file.
    public func run(api: DDNSAPIClient, now: String, warn: (String) -> Void) async throws(DDNSClientError) -> Outcome {
        let addresses = try await addresses(api: api)
        var state = UpdateState(server: api.server, silo: silo, hostnames: hostnames, addresses: addresses)
        if !force, let previous = readState(warn: warn), previous.covers(state) {
            return .unchanged(addresses)
        }
        guard let current = try await api.silo(silo) else {
            throw DDNSClientError(.refused, "silo '\(silo)' does not exist on \(api.server) (the admin creates it: proxima ddns silo create \(silo))")
        }
        let merged = RecordMerge.merged(current: current.records, hostnames: hostnames, addresses: addresses, ttl: ttl)
        let outcome: Outcome
        if merged == current.records {
            outcome = .alreadyCurrent(addresses)
        } else {
            try await api.put(silo, records: merged)
            outcome = .updated(addresses)
        }
        state.updated = now
        do {
            try AtomicFile.replace(stateFile, with: state.encoded(), newFileMode: 0o600, createDirectory: true)
        } catch {
            throw DDNSClientError(.localFile, "silo \(silo) is up to date, but the state file cannot be written: \(error.message)")
        }
        return outcome
    }

    func readState(warn: (String) -> Void) -> UpdateState? {
        guard (try? AtomicFile.attributes(stateFile)) != nil else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(stateFile, limit: 65_536)
        } catch {
            warn("state file: \(error.message); updating")
            return nil
        }
        guard let state = UpdateState.decode(bytes) else {
            warn("state file \(stateFile) is not a proxima state file; updating and rewriting it")
            return nil
        }
        return state
    }
}

/// One run of `proxima ddns hosts`: read the silo, and rewrite the hosts file's managed block
/// when (and only when) it changes.
public struct HostsJob: Sendable {
    /// The silo id (also the block's marker).
    public var silo: String
    /// The hosts file to manage.
    public var hostsFile: String
    /// The DDNS zone, for the full names (`host.silo.zone`) when the server's replies do not name
    /// them; nil then writes the bare hostnames.
    public var zone: String?
    /// Largest hosts file read, 16 MiB.
    public static let maxFileSize = 16 << 20

    public init(silo: String, hostsFile: String, zone: String?) {
        self.silo = silo
        self.hostsFile = hostsFile
        self.zone = zone
    }

    /// What a run did.
    public enum Outcome: Sendable, Hashable {
        /// The block already held these lines: nothing written.
        case unchanged(lines: Int)
        /// The file was replaced.
        case written(lines: Int, method: AtomicFile.Method)
    }

    /// Runs once: reads the silo and writes the block when it changed.
    public func run(api: DDNSAPIClient, warn: (String) -> Void) async throws(DDNSClientError) -> Outcome {
        guard let served = try await api.servedSilo(self.silo) else {
            throw DDNSClientError(.refused, "silo '\(self.silo)' does not exist on \(api.server); the hosts file is left as it is")
        }
        let (lines, skipped) = HostsFileBlock.lines(for: Silo(id: self.silo, records: served.silo.records),
                                                    servedNames: served.servedNames, zone: zone)
        for name in skipped { warn("silo \(self.silo): record '\(name)' is not a host name; left out of \(hostsFile)") }
        return try apply(lines)
    }

    /// Writes `lines` as the silo's block (the IO half of `run`, separate for tests).
    public func apply(_ lines: [String]) throws(DDNSClientError) -> Outcome {
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(hostsFile, limit: Self.maxFileSize)
        } catch {
            throw DDNSClientError(.localFile, "hosts file: \(error.message)")
        }
        switch HostsFileBlock.rewrite(bytes, silo: silo, lines: lines) {
        case .failure(let problem):
            throw DDNSClientError(.refused, "\(hostsFile): \(problem); fix the markers by hand, the file is left as it is")
        case .success(.unchanged):
            return .unchanged(lines: lines.count)
        case .success(.rewritten(let updated)):
            do {
                let method = try AtomicFile.replace(hostsFile, with: updated)
                return .written(lines: lines.count, method: method)
            } catch {
                throw DDNSClientError(.localFile, "hosts file: \(error.message)")
            }
        }
    }
}
