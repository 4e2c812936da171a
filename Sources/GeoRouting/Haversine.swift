#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Mean Earth radius in km (IUGG R1 = 6371.0088 km), the sphere DESIGN §3 "Distance" fixes.
public let earthMeanRadiusKm: Double = 6371.0088

/// Great-circle distance in km between two coordinates on a sphere of radius 6371.0088 km, by the
/// haversine formula (numerically stable for small distances, unlike the spherical law of
/// cosines, and correct at high latitudes and across the antimeridian, unlike planar
/// approximations).
public func haversineDistance(_ a: Coordinate, _ b: Coordinate) -> Double {
    let p = RadianPoint(a)
    let q = RadianPoint(b)
    return distanceKm(haversineTerm: haversineTerm(p, q))
}

/// A coordinate pre-converted to radians with `cos(latitude)` cached: a member's point is
/// computed once at parse time so ranking a query costs two `sin` calls per member.
struct RadianPoint: Sendable, Hashable {
    var lat: Double
    var lon: Double
    var cosLat: Double

    init(_ c: Coordinate) {
        lat = c.latitude * .pi / 180
        lon = c.longitude * .pi / 180
        cosLat = cos(lat)
    }
}

/// The haversine term `a = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2)`, clamped to 0...1.
///
/// Distance is a monotonic function of `a`, so rankings compare `a` directly and only take
/// `asin`/`sqrt` for what is shown or for the tie-band threshold.
@inline(__always)
func haversineTerm(_ p: RadianPoint, _ q: RadianPoint) -> Double {
    let sLat = sin((q.lat - p.lat) * 0.5)
    let sLon = sin((q.lon - p.lon) * 0.5)
    let a = sLat * sLat + p.cosLat * q.cosLat * sLon * sLon
    return min(1, max(0, a))
}

/// Distance in km for a haversine term: `2R · asin(√a)`.
@inline(__always)
func distanceKm(haversineTerm a: Double) -> Double {
    2 * earthMeanRadiusKm * asin(sqrt(min(1, max(0, a))))
}

/// The haversine term of a distance in km (inverse of `distanceKm(haversineTerm:)`); distances of
/// half the circumference or more map to 1.
@inline(__always)
func haversineTerm(distanceKm d: Double) -> Double {
    let half = d / (2 * earthMeanRadiusKm)
    if half >= .pi / 2 { return 1 }
    let s = sin(max(0, half))
    return s * s
}
