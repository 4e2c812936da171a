import DNSWire
import GeoIP
import GeoRouting
import ProximaConfig
import QueryEngine
import Synchronization

/// Presents the GeoIP locator chain (overrides → mmdb → ipstack cache) to the pure engine.
struct LocatorAdapter: ClientLocator {
    let locator: GeoLocator

    /// Overrides, then the database's precomputed record table: what `locate` answers for every
    /// address the overrides or the database place (ipstack results take the full path).
    func quickLocate(_ address: IPAddress) -> (coordinate: Coordinate, networkPrefix: Int, source: LocationSource)? {
        if !locator.overrides.isEmpty, let hit = locator.overrides.lookup(address) {
            return (hit.coordinate, hit.network.prefixLength, .override)
        }
        guard let q = locator.database?.quickLocate(address) else { return nil }
        guard !locator.overrides.isEmpty else { return (q.coordinate, q.prefixLength, .database) }
        // An override inside the database network answers there: not one block (the fast path
        // remembers this location for the whole block).
        let ip = address.mappedIPv4 ?? address
        let network = IPNetwork(address: ip.masked(to: q.prefixLength), prefixLength: q.prefixLength)
        return (q.coordinate, locator.overrides.excluding(from: network, around: ip).prefixLength, .database)
    }

    /// The database's precomputed tree and the overrides: what `quickLocate` reads (nil until the
    /// coordinate table is built).
    var placementSpace: PlacementSpace? {
        guard let database = locator.database, database.locatedRecordCount > 0 else { return nil }
        return PlacementSpace(source: database, overrides: locator.overrides.entries)
    }

    /// Builds the database's coordinate table if this database has none yet (a database kept
    /// across a reload has it already).
    func preparePlacement() -> PreparedPlacement? {
        guard let database = locator.database, database.coordinateTable == nil else { return nil }
        let table = database.buildCoordinateTable()
        return PreparedPlacement(records: table.count, bytes: table.byteCount)
    }

    /// With ipstack, an address it has not placed yet may be placed later (a lookup after a
    /// throttled spell, an expired negative entry).
    var unplacedIsFinal: Bool { locator.ipstack == nil }

    func locate(_ address: IPAddress) -> Placement {
        switch locator.locate(address, now: .now) {
        case .located(let l): return .located(l)
        case .unknown(let n): return .unknown(network: n)
        case .needsRemote: return .needsRemote
        }
    }
}

/// Waits (bounded by the ipstack budget) for a remote lookup on behalf of a deferred query.
/// Queries waiting on it are bounded by `geoip.ipstack.max_pending` (read per query, so a reload
/// changes it).
struct RemoteLocatorAdapter: RemoteLocating {
    let ipstack: LockedBox<(IPStackSettings, IPStackClient)?>
    let pending = PendingCounter()

    func locateRemote(_ address: IPAddress) async -> Location? {
        guard let (settings, client) = ipstack.value else { return nil }
        return await client.lookup(address, budget: settings.budget)
    }

    func reservePending() -> Bool {
        let limit = ipstack.withLock { $0?.0.maxPending } ?? 0
        return pending.reserve(limit: limit)
    }

    func releasePending() {
        pending.release()
    }
}

/// A count of slots in use with a limit checked on each reservation.
final class PendingCounter: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a slot when fewer than `limit` are in use.
    func reserve(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// Slots in use.
    var inUse: Int { count.load(ordering: .relaxed) }
}
