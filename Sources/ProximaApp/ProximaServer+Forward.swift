import DNSWire
import Forwarder
import Foundation
import ProximaConfig
#if canImport(Glibc)
import Glibc
#endif

extension ProximaServer {
    /// The fallback resolver for `settings` (nil without a `forward:` section): `from-resolv-conf`
    /// is read here, once at start, with our own DNS listen addresses removed so we never forward
    /// to ourselves. Changing `forward:` takes a restart; reloads keep the forwarder.
    static func makeForwarder(_ settings: ForwardSettings?, listen: [ListenEndpoint]) throws -> Forwarder? {
        guard let settings else { return nil }
        var upstreams: [(address: IPAddress, port: Int)] = []
        let ours = listen.map { (address: $0.address, port: $0.port) }
        for u in settings.upstreams {
            switch u {
            case .address(let e):
                upstreams.append((e.address, e.port))
            case .fromResolvConf:
                let text: String
                do { text = try String(contentsOfFile: settings.resolvConf, encoding: .utf8) } catch {
                    throw StartupError(problems: [LoadProblem("forward.upstreams: cannot read \(settings.resolvConf): \(error)")])
                }
                for (a, p) in ResolvConf.upstreams(text, excluding: ours, localAddresses: localAddresses())
                where !upstreams.contains(where: { $0.address == a && $0.port == p }) {
                    upstreams.append((a, p))
                }
            }
        }
        upstreams.removeAll { u in ours.contains { $0.address == u.address && $0.port == u.port } }
        guard !upstreams.isEmpty else {
            throw StartupError(problems: [LoadProblem(
                "forward.upstreams: no upstream left (\(settings.resolvConf) lists no nameserver but our own listen addresses)")])
        }
        let c = settings.cache
        let configuration = Forwarder.Configuration(
            allow: settings.allow, upstreams: upstreams, timeout: settings.timeout, maxPending: settings.maxPending,
            cacheEntries: c.maxEntries, maxTTL: UInt32(clamping: c.maxTTL.components.seconds),
            negativeTTL: UInt32(clamping: c.negativeTTL.components.seconds))
        do { return try Forwarder(configuration: configuration) } catch {
            throw StartupError(problems: [LoadProblem("forward: \(error)")])
        }
    }

    /// The host's interface addresses (getifaddrs(3)): what a 0.0.0.0 / :: listener answers on.
    static func localAddresses() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: Set<IPAddress> = []
        var p = list
        while let i = p {
            if let sa = i.pointee.ifa_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    let v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                    out.insert(.v4(v4))
                case AF_INET6:
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s6 in
                        if let a = withUnsafeBytes(of: s6.pointee.sin6_addr, { IPAddress(bytes: $0) }) { out.insert(a) }
                    }
                default:
                    break
                }
            }
            p = i.pointee.ifa_next
        }
        return out
    }
}
