import CMaxMindDB
import DNSWire
import GeoRouting
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a MaxMind-format database says about one address.
public enum MaxMindLookup: Sendable, Hashable {
    /// The record has coordinates; the location's `network` is the record's network.
    case located(Location)
    /// A record covers the address but has no `location.latitude`/`location.longitude`
    /// (GeoLite2 has country-only records).
    case noCoordinates(network: IPNetwork)
    /// No record: the address lies in a gap of the tree that spans `network`.
    case notFound(network: IPNetwork)

    /// The network the answer holds for, whatever the case.
    public var network: IPNetwork {
        switch self {
        case .located(let location): return location.network
        case .noCoordinates(let network), .notFound(let network): return network
        }
    }
}

/// Facts from a database's metadata section (MaxMind DB spec, "Database Metadata").
public struct MaxMindMetadata: Sendable, Hashable {
    /// `database_type`, e.g. `GeoLite2-City`.
    public var databaseType: String
    /// `build_epoch`: seconds since 1970-01-01 UTC.
    public var buildEpoch: UInt64
    /// 4 or 6.
    public var ipVersion: Int
    /// Number of search-tree nodes.
    public var nodeCount: Int
    /// Record size in bits: 24, 28 or 32.
    public var recordSize: Int
    /// Languages the names are given in.
    public var languages: [String]
    /// The English description when present.
    public var description: String?

    /// The build date as `YYYY-MM-DD` (UTC), computed from `buildEpoch` without Foundation.
    public var buildDate: String {
        // Howard Hinnant's days-to-civil algorithm.
        let z = Int64(buildEpoch / 86_400) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))"
    }
}

/// A MaxMind DB (`.mmdb`) file opened with libmaxminddb in mmap mode.
///
/// Read-only after `init`: libmaxminddb allows one `MMDB_s` to be shared by threads for lookups,
/// so the class is `Sendable`. The file is unmapped when the last reference goes away; a reload
/// opens a new instance and lets the old one die once in-flight lookups have finished.
public final class MaxMindDatabase: @unchecked Sendable {
    /// The path the database was opened from.
    public let path: String
    /// The metadata section.
    public let metadata: MaxMindMetadata

    private let mmdb: UnsafeMutablePointer<MMDB_s>
    private let paths: LookupPaths
    /// Coordinates of every record the search tree points at, keyed by the record's data-section
    /// offset (`CoordinateTable`): so the query path's `quickLocate` is a tree walk plus one probe
    /// of an immutable table — no record decoding, no allocation, no lock. Built once, by
    /// `buildCoordinateTable()` (the server calls it off the startup path, issue #12.3) or by
    /// `init(precomputeCoordinates: true)`, and published with one atomic store: until then
    /// `quickLocate` answers nil and callers take `lookup`, which gives the same coordinates.
    private let coordinates = AtomicLazyReference<CoordinateTable>()

    /// Opens `path`. Throws ``GeoIPError`` naming the file when it is missing, unreadable or not
    /// a valid MaxMind DB. With `precomputeCoordinates` the coordinate table `quickLocate` reads is
    /// built before returning (≈0.8 s for GeoLite2-City); without, it is built by the first
    /// `buildCoordinateTable()` call (the server makes it on a background thread after start).
    public init(path: String, precomputeCoordinates: Bool = false) throws {
        self.path = path
        let handle = UnsafeMutablePointer<MMDB_s>.allocate(capacity: 1)
        handle.initialize(to: MMDB_s())
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), handle)
        guard status == MMDB_SUCCESS else {
            let savedErrno = errno
            handle.deinitialize(count: 1)
            handle.deallocate()
            let reason = String(cString: MMDB_strerror(status))
            if status == MMDB_FILE_OPEN_ERROR {
                let detail = String(cString: strerror(savedErrno))
                throw GeoIPError(.databaseNotFound, "\(path): cannot open: \(detail)")
            }
            throw GeoIPError(.databaseCorrupt, "\(path): not a valid MaxMind DB: \(reason)")
        }
        mmdb = handle
        paths = LookupPaths()
        let meta = handle.pointee.metadata
        var languages: [String] = []
        if let names = meta.languages.names {
            for i in 0..<Int(meta.languages.count) {
                if let name = names[i] { languages.append(String(cString: name)) }
            }
        }
        var english: String?
        if let descriptions = meta.description.descriptions {
            for i in 0..<Int(meta.description.count) {
                guard let d = descriptions[i]?.pointee, let lang = d.language, let text = d.description
                else { continue }
                if String(cString: lang) == "en" { english = String(cString: text) }
            }
        }
        metadata = MaxMindMetadata(
            databaseType: meta.database_type.map { String(cString: $0) } ?? "",
            buildEpoch: meta.build_epoch,
            ipVersion: Int(meta.ip_version),
            nodeCount: Int(meta.node_count),
            recordSize: Int(meta.record_size),
            languages: languages,
            description: english)
        if precomputeCoordinates { buildCoordinateTable() }
    }

    /// The coordinate table once built, nil before.
    public var coordinateTable: CoordinateTable? { coordinates.load() }

    /// Builds and publishes the coordinate table `quickLocate` reads, unless it is built already;
    /// returns the table that is in place (built now or before). Safe from any thread: a second
    /// concurrent build is discarded in favour of the first one published.
    @discardableResult
    public func buildCoordinateTable() -> CoordinateTable {
        if let built = coordinates.load() { return built }
        return coordinates.storeIfNil(makeCoordinateTable())
    }

    /// Walks every node of the search tree, marks the distinct data records it points at in a
    /// bitmap over the data section (so they come out in offset order, without sorting) and
    /// decodes their coordinates (GeoLite2-City: ~3.6M nodes, a few hundred thousand records).
    private func makeCoordinateTable() -> CoordinateTable {
        let dataSize = mmdb.pointee.data_section_size
        var seen = [UInt64](repeating: 0, count: Int(dataSize) / 64 + 1)
        var node = MMDB_search_node_s()
        let count = UInt32(metadata.nodeCount)
        var i: UInt32 = 0
        func mark(_ offset: UInt32) {
            // An offset past the data section is a corrupt tree: nothing to decode there.
            guard offset < dataSize else { return }
            seen[Int(offset >> 6)] |= 1 << UInt64(offset & 63)
        }
        while i < count {
            if MMDB_read_node(mmdb, i, &node) == MMDB_SUCCESS {
                if node.left_record_type == UInt8(MMDB_RECORD_TYPE_DATA) { mark(node.left_record_entry.offset) }
                if node.right_record_type == UInt8(MMDB_RECORD_TYPE_DATA) { mark(node.right_record_entry.offset) }
            }
            i += 1
        }
        var records: [(offset: UInt32, coordinate: Coordinate)] = []
        for (w, word) in seen.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let offset = UInt32(w * 64 + bits.trailingZeroBitCount)
                bits &= bits - 1
                var entry = MMDB_entry_s(mmdb: mmdb, offset: offset)
                guard let lat = try? double(&entry, paths.latitude), let lon = try? double(&entry, paths.longitude)
                else { continue }
                let c = Coordinate(latitude: lat, longitude: lon)
                if c.isValid { records.append((offset, c)) }
            }
        }
        return CoordinateTable(sortedRecords: records, limit: dataSize)
    }

    /// The query path's lookup: the same coordinate and network prefix `lookup` reports for a
    /// located address, from the coordinate table; nil when `lookup` would not say `.located` (no
    /// record, no coordinates), on a lookup error, or while the table is not built yet.
    @inline(__always)
    public func quickLocate(_ address: IPAddress) -> (coordinate: Coordinate, prefixLength: Int)? {
        guard let table = coordinates.load() else { return nil }
        let ip = address.mappedIPv4 ?? address
        guard let (result, prefix) = try? search(ip), result.found_entry,
              let c = table.coordinate(ofRecord: result.entry.offset) else { return nil }
        return (c, prefix)
    }

    /// Number of records with coordinates in the query path's table (0 before it is built).
    public var locatedRecordCount: Int { coordinates.load()?.count ?? 0 }

    deinit {
        MMDB_close(mmdb)
        mmdb.deinitialize(count: 1)
        mmdb.deallocate()
    }

    /// Looks `address` up. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as the
    /// IPv4 address, and an IPv4 lookup reports an IPv4 network even in an IPv6 database (where
    /// libmaxminddb counts the netmask from the IPv6 root, 96 bits above the IPv4 subtree).
    ///
    /// Throws only when libmaxminddb reports a corrupt tree or record; an IPv6 address in an
    /// IPv4-only database is `.notFound(network: ::/0)`.
    public func lookup(_ address: IPAddress) throws -> MaxMindLookup {
        let ip = address.mappedIPv4 ?? address
        if case .v6 = ip, metadata.ipVersion == 4 {
            return .notFound(network: IPNetwork(address: .v6(0, 0), prefixLength: 0))
        }
        let (result, prefix) = try search(ip)
        let network = IPNetwork(address: ip, prefixLength: prefix)
        guard result.found_entry else { return .notFound(network: network) }
        var entry = result.entry
        return try decode(&entry, network: network)
    }

    /// The tree walk: libmaxminddb's result and the network prefix counted in `ip`'s own family.
    private func search(_ ip: IPAddress) throws -> (MMDB_lookup_result_s, Int) {
        var mmdbError: Int32 = MMDB_SUCCESS
        let result: MMDB_lookup_result_s
        switch ip {
        case .v4(let value):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = value.bigEndian
            result = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    MMDB_lookup_sockaddr(mmdb, $0, &mmdbError)
                }
            }
        case .v6(let hi, let lo):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                raw.storeBytes(of: hi.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: lo.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    MMDB_lookup_sockaddr(mmdb, $0, &mmdbError)
                }
            }
        }
        guard mmdbError == MMDB_SUCCESS else {
            let reason = String(cString: MMDB_strerror(mmdbError))
            throw GeoIPError(.databaseLookup, "\(path): lookup of \(ip) failed: \(reason)")
        }
        var prefix = Int(result.netmask)
        if case .v4 = ip, metadata.ipVersion == 6 { prefix = max(0, prefix - 96) }
        return (result, prefix)
    }

    private func decode(_ entry: inout MMDB_entry_s, network: IPNetwork) throws -> MaxMindLookup {
        guard let latitude = try double(&entry, paths.latitude),
              let longitude = try double(&entry, paths.longitude) else {
            return .noCoordinates(network: network)
        }
        let coordinate = Coordinate(latitude: latitude, longitude: longitude)
        guard coordinate.isValid else { return .noCoordinates(network: network) }
        let radius = try integer(&entry, paths.accuracyRadius)
        let country = try string(&entry, paths.countryCode) ?? string(&entry, paths.registeredCountryCode)
        return .located(Location(
            coordinate: coordinate, source: .database, network: network,
            accuracyRadiusKm: radius,
            countryCode: country,
            continentCode: try string(&entry, paths.continentCode),
            city: try string(&entry, paths.cityName)))
    }

    private func value(_ entry: inout MMDB_entry_s, _ path: UnsafePointer<UnsafePointer<CChar>?>)
        throws -> MMDB_entry_data_s?
    {
        var data = MMDB_entry_data_s()
        let status = MMDB_aget_value(&entry, &data, path)
        if status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || status == MMDB_INVALID_LOOKUP_PATH_ERROR {
            return nil
        }
        guard status == MMDB_SUCCESS else {
            let reason = String(cString: MMDB_strerror(status))
            throw GeoIPError(.databaseLookup, "\(self.path): corrupt record: \(reason)")
        }
        return data.has_data ? data : nil
    }

    private func double(_ entry: inout MMDB_entry_s, _ path: UnsafePointer<UnsafePointer<CChar>?>)
        throws -> Double?
    {
        guard let data = try value(&entry, path) else { return nil }
        switch Int32(data.type) {
        case MMDB_DATA_TYPE_DOUBLE: return data.double_value
        case MMDB_DATA_TYPE_FLOAT: return Double(data.float_value)
        case MMDB_DATA_TYPE_INT32: return Double(data.int32)
        case MMDB_DATA_TYPE_UINT16: return Double(data.uint16)
        case MMDB_DATA_TYPE_UINT32: return Double(data.uint32)
        default: return nil
        }
    }

    private func integer(_ entry: inout MMDB_entry_s, _ path: UnsafePointer<UnsafePointer<CChar>?>)
        throws -> Int?
    {
        guard let data = try value(&entry, path) else { return nil }
        switch Int32(data.type) {
        case MMDB_DATA_TYPE_UINT16: return Int(data.uint16)
        case MMDB_DATA_TYPE_UINT32: return Int(data.uint32)
        case MMDB_DATA_TYPE_INT32: return Int(data.int32)
        case MMDB_DATA_TYPE_UINT64: return data.uint64 <= UInt64(Int.max) ? Int(data.uint64) : nil
        default: return nil
        }
    }

    private func string(_ entry: inout MMDB_entry_s, _ path: UnsafePointer<UnsafePointer<CChar>?>)
        throws -> String?
    {
        guard let data = try value(&entry, path), Int32(data.type) == MMDB_DATA_TYPE_UTF8_STRING,
              let chars = data.utf8_string else { return nil }
        let bytes = UnsafeRawPointer(chars).assumingMemoryBound(to: UInt8.self)
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(data.data_size)), as: UTF8.self)
    }
}

/// NULL-terminated C path arrays for `MMDB_aget_value`, built once per database so lookups do
/// not allocate for their paths.
private final class LookupPaths: @unchecked Sendable {
    let latitude: UnsafePointer<UnsafePointer<CChar>?>
    let longitude: UnsafePointer<UnsafePointer<CChar>?>
    let accuracyRadius: UnsafePointer<UnsafePointer<CChar>?>
    let countryCode: UnsafePointer<UnsafePointer<CChar>?>
    let registeredCountryCode: UnsafePointer<UnsafePointer<CChar>?>
    let continentCode: UnsafePointer<UnsafePointer<CChar>?>
    let cityName: UnsafePointer<UnsafePointer<CChar>?>
    private var allocations: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []
    private var strings: [UnsafeMutablePointer<CChar>] = []

    init() {
        var allocations: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []
        var strings: [UnsafeMutablePointer<CChar>] = []
        func make(_ components: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
            let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: components.count + 1)
            for (i, component) in components.enumerated() {
                let utf8 = Array(component.utf8CString)
                let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
                copy.initialize(from: utf8, count: utf8.count)
                strings.append(copy)
                array[i] = UnsafePointer(copy)
            }
            array[components.count] = nil
            allocations.append(array)
            return UnsafePointer(array)
        }
        latitude = make(["location", "latitude"])
        longitude = make(["location", "longitude"])
        accuracyRadius = make(["location", "accuracy_radius"])
        countryCode = make(["country", "iso_code"])
        registeredCountryCode = make(["registered_country", "iso_code"])
        continentCode = make(["continent", "code"])
        cityName = make(["city", "names", "en"])
        self.allocations = allocations
        self.strings = strings
    }

    deinit {
        for a in allocations { a.deallocate() }
        for s in strings { s.deallocate() }
    }
}

/// The database's search tree as the answer map walks it (issue #12.1): nodes read with
/// `MMDB_read_node`, records by data-section offset with the coordinates `quickLocate` uses.
extension MaxMindDatabase: PlacementSource {
    public var nodeCount: Int { metadata.nodeCount }

    public func root(_ family: AddressFamily) -> PlacementRef {
        switch (family, metadata.ipVersion) {
        case (.v4, 4), (.v6, 6): return nodeCount > 0 ? .node(0) : .empty
        case (.v6, _): return .empty
        case (.v4, _):
            // IPv4 lives at ::/96 of an IPv6 tree: 96 zero bits down from the root.
            var ref = PlacementRef.node(0)
            for _ in 0..<96 {
                guard case .node(let n) = ref else { return ref }
                guard let (left, _) = children(n) else { return .empty }
                ref = left
            }
            return ref
        }
    }

    public func children(_ node: UInt32) -> (PlacementRef, PlacementRef)? {
        var n = MMDB_search_node_s()
        guard Int(node) < nodeCount, MMDB_read_node(mmdb, node, &n) == MMDB_SUCCESS else { return nil }
        func ref(_ type: UInt8, _ record: UInt64, _ offset: UInt32) -> PlacementRef {
            switch Int32(type) {
            case Int32(MMDB_RECORD_TYPE_SEARCH_NODE):
                guard record < UInt64(nodeCount) else { return .empty }
                return .node(UInt32(record))
            case Int32(MMDB_RECORD_TYPE_DATA): return .record(offset)
            default: return .empty
            }
        }
        return (ref(n.left_record_type, n.left_record, n.left_record_entry.offset),
                ref(n.right_record_type, n.right_record, n.right_record_entry.offset))
    }

    public func coordinate(ofRecord record: UInt32) -> Coordinate? {
        coordinates.load()?.coordinate(ofRecord: record)
    }
}
