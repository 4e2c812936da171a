import DNSWire

/// A point on the Earth's surface in decimal degrees (WGS84 latitude/longitude).
public struct Coordinate: Hashable, Sendable, CustomStringConvertible {
    /// Degrees north, -90...90.
    public var latitude: Double
    /// Degrees east, -180...180.
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// True when both values are finite and within their ranges.
    public var isValid: Bool {
        latitude.isFinite && longitude.isFinite && abs(latitude) <= 90 && abs(longitude) <= 180
    }

    public var description: String { "\(latitude),\(longitude)" }
}

/// Where a client location came from, in the order the locator chain asks.
public enum LocationSource: String, Sendable, Hashable, Codable {
    /// A CIDR override from config.
    case override
    /// The offline MaxMind-format database.
    case database
    /// The ipstack HTTP API fallback.
    case ipstack
}

/// Coordinates for a client network, with where they came from and the network they hold for.
///
/// `network` is what the ECS scope prefix echoed to resolvers is derived from (RFC 7871 §7.2.1):
/// resolvers may cache the answer for every client in that network.
public struct Location: Hashable, Sendable {
    public var coordinate: Coordinate
    public var source: LocationSource
    /// The network this location holds for (the mmdb record's network, the override CIDR, or the
    /// network ipstack's answer is cached for).
    public var network: IPNetwork
    /// Accuracy radius in km when the source gives one.
    public var accuracyRadiusKm: Int?
    /// ISO 3166-1 alpha-2 country code when known.
    public var countryCode: String?
    /// Two-letter continent code (AF, AN, AS, EU, NA, OC, SA) when known.
    public var continentCode: String?
    /// City name (English) when known.
    public var city: String?
    /// A free-form label (override labels).
    public var label: String?

    public init(coordinate: Coordinate, source: LocationSource, network: IPNetwork,
                accuracyRadiusKm: Int? = nil, countryCode: String? = nil, continentCode: String? = nil,
                city: String? = nil, label: String? = nil) {
        self.coordinate = coordinate
        self.source = source
        self.network = network
        self.accuracyRadiusKm = accuracyRadiusKm
        self.countryCode = countryCode
        self.continentCode = continentCode
        self.city = city
        self.label = label
    }
}

/// A config override: clients in `network` are placed at `coordinate` (checked before the
/// database; longest prefix wins). Shared by the config loader and the GeoIP locator chain.
public struct LocationOverride: Sendable, Hashable {
    /// The network (host bits are zero: `10.0.0.1/8` is rejected at load).
    public var network: IPNetwork
    /// Where its clients are; always `isValid` once loaded.
    public var coordinate: Coordinate
    /// Optional free-form label shown by `proxima route`/`locate`.
    public var label: String?

    /// Creates an override.
    public init(network: IPNetwork, coordinate: Coordinate, label: String? = nil) {
        self.network = network
        self.coordinate = coordinate
        self.label = label
    }
}
