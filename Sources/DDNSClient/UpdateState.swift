import DNSWire
import Foundation

/// What `proxima ddns update` last sent successfully, kept in a small JSON file so that a run
/// whose address has not changed sends nothing (cron every minute costs the server one `GET /ip`
/// at most, and nothing with `--ip-from interface:`).
///
/// The file names the server, silo and hostnames it holds for: changing any of them (or the file
/// being unreadable, which is reported) makes the next run update again.
public struct UpdateState: Codable, Sendable, Hashable {
    /// The API's base URL.
    public var server: String
    /// The silo id.
    public var silo: String
    /// Sorted, lowercased.
    public var hostnames: [String]
    /// Canonical text, sorted.
    public var addresses: [String]
    /// When the update was acknowledged (ISO 8601, UTC); informational.
    public var updated: String?

    public init(server: String, silo: String, hostnames: [String], addresses: [IPAddress], updated: String? = nil) {
        self.server = server
        self.silo = silo
        self.hostnames = hostnames.map { $0.lowercased() }.sorted()
        self.addresses = addresses.map { ($0.mappedIPv4 ?? $0).description }.sorted()
        self.updated = updated
    }

    /// True when this state says the same server, silo and hostnames already have these addresses.
    public func covers(_ other: UpdateState) -> Bool {
        server == other.server && silo == other.silo && hostnames == other.hostnames && addresses == other.addresses
    }

    /// The file's bytes (JSON, keys sorted, one trailing newline).
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = (try? encoder.encode(self)) ?? Data()
        return Array(data) + [0x0A]
    }

    /// Reads a state file's bytes; nil when they are not a state (the caller reports it and
    /// updates, which rewrites the file). At most 64 KiB are considered.
    public static func decode(_ bytes: [UInt8]) -> UpdateState? {
        guard bytes.count <= 65_536 else { return nil }
        return try? JSONDecoder().decode(UpdateState.self, from: Data(bytes))
    }

    /// Where the state lives when `--state-file` is not given: `$STATE_DIRECTORY` (the directory
    /// systemd creates for `StateDirectory=`), else `$XDG_STATE_HOME/proxima`, else
    /// `$HOME/.local/state/proxima`; the file is `ddns-update-<silo>.json`. Nil when none of the
    /// variables is set (then `--state-file` is required).
    public static func defaultPath(silo: String, environment: [String: String]) -> String? {
        let name = "ddns-update-\(silo).json"
        if let dirs = environment["STATE_DIRECTORY"], let first = dirs.split(separator: ":").first, first.hasPrefix("/") {
            return "\(first)/\(name)"
        }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            return "\(xdg)/proxima/\(name)"
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            let trimmed = home.hasSuffix("/") ? String(home.dropLast()) : home
            return "\(trimmed)/.local/state/proxima/\(name)"
        }
        return nil
    }
}
