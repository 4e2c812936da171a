import NIOConcurrencyHelpers
import NIOCore

/// Counts the admin API's open connections over both listeners and decides who may connect
/// (STYLE §10: a peer cannot hold more than its share of descriptors).
///
/// - Over `maxPerAddress` from one TCP address: the new connection is refused (closed before
///   anything is read). One address cannot fill the table.
/// - Over `maxTotal`: the new connection closes the connection that has been idle longest and
///   takes its place; when none is idle, the new one is refused. Evicting idle connections means
///   sockets held open by someone else never lock the operator out, and a request in progress is
///   never cut. (Idle connections are also closed by the idle timeout.)
/// `package`: the DDNS API listener uses its own instance with the same rules.
package final class AdminConnectionRegistry: Sendable {
    /// The outcome of `admit`.
    enum Admission {
        case accepted(id: UInt64)
        case acceptedEvicting(id: UInt64, victim: any Channel)
        case refused(reason: String)
    }

    private struct Entry {
        var key: String?
        var channel: any Channel
        /// When it became idle (nanoseconds), nil while a request is in progress.
        var idleSince: UInt64?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var perKey: [String: Int] = [:]
        var nextID: UInt64 = 1
    }

    let maxTotal: Int
    let maxPerAddress: Int
    private let state = NIOLockedValueBox(State())

    package init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = max(1, maxTotal)
        self.maxPerAddress = max(1, maxPerAddress)
    }

    /// Open connections now.
    package var count: Int { state.withLockedValue { $0.entries.count } }

    /// Registers a new connection from `key` (the peer address; nil for the Unix socket, which has
    /// no per-address cap).
    func admit(key: String?, channel: any Channel, now: UInt64) -> Admission {
        state.withLockedValue { s in
            if let key, s.perKey[key, default: 0] >= maxPerAddress {
                return .refused(reason: "\(maxPerAddress) connections from \(key) already open")
            }
            var victim: (any Channel)?
            if s.entries.count >= maxTotal {
                guard let oldest = s.entries.filter({ $0.value.idleSince != nil })
                    .min(by: { $0.value.idleSince! < $1.value.idleSince! }) else {
                    return .refused(reason: "\(maxTotal) connections open, none idle")
                }
                Self.remove(oldest.key, from: &s)
                victim = oldest.value.channel
            }
            let id = s.nextID
            s.nextID += 1
            s.entries[id] = Entry(key: key, channel: channel, idleSince: now)
            if let key { s.perKey[key, default: 0] += 1 }
            if let victim { return .acceptedEvicting(id: id, victim: victim) }
            return .accepted(id: id)
        }
    }

    /// The connections open now; `idleOnly` leaves out those with a request in progress (a
    /// listener shutting down closes idle connections at once and lets the others finish).
    package func channels(idleOnly: Bool) -> [any Channel] {
        state.withLockedValue { s in s.entries.values.filter { !idleOnly || $0.idleSince != nil }.map(\.channel) }
    }

    /// Marks a connection idle (since `now`) or busy (nil).
    func setIdle(_ id: UInt64, since now: UInt64?) {
        state.withLockedValue { $0.entries[id]?.idleSince = now }
    }

    /// Forgets a closed connection (no-op when it was evicted already).
    func remove(_ id: UInt64) {
        state.withLockedValue { Self.remove(id, from: &$0) }
    }

    private static func remove(_ id: UInt64, from s: inout State) {
        guard let entry = s.entries.removeValue(forKey: id) else { return }
        if let key = entry.key {
            let left = s.perKey[key, default: 1] - 1
            s.perKey[key] = left > 0 ? left : nil
        }
    }
}
