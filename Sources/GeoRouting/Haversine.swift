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
    let lat1 = a.latitude * .pi / 180
    let lat2 = b.latitude * .pi / 180
    let sLat = sin((lat2 - lat1) * 0.5)
    let sLon = sin((b.longitude - a.longitude) * .pi / 360)
    return distanceKm(haversineTerm: sLat * sLat + cos(lat1) * cos(lat2) * sLon * sLon)
}

/// A coordinate with the sines and cosines the haversine term needs, computed once (at parse time
/// for members, once per query for the client) so that ranking a member is arithmetic only.
struct RadianPoint: Sendable, Hashable {
    var cosLat: Double
    var sinHalfLat: Double
    var cosHalfLat: Double
    var sinHalfLon: Double
    var cosHalfLon: Double

    init(_ c: Coordinate) {
        let lat = c.latitude * .pi / 180
        let lon = c.longitude * .pi / 180
        cosLat = cos(lat)
        sinHalfLat = sin(lat * 0.5)
        cosHalfLat = cos(lat * 0.5)
        sinHalfLon = sin(lon * 0.5)
        cosHalfLon = cos(lon * 0.5)
    }
}

/// The haversine term `a = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2)`, clamped to 0...1, with
/// `sin(Δ/2)` expanded by the angle-difference identity over the precomputed half-angle sines and
/// cosines: no trigonometric call per member. (The expansion loses relative precision only for
/// sub-metre separations, which cannot change a ranking.)
///
/// Distance is a monotonic function of `a`, so rankings compare `a` directly and only take
/// `asin`/`sqrt` for what is shown or for the tie-band threshold.
@inline(__always)
func haversineTerm(_ p: RadianPoint, _ q: RadianPoint) -> Double {
    let sLat = q.sinHalfLat * p.cosHalfLat - q.cosHalfLat * p.sinHalfLat
    let sLon = q.sinHalfLon * p.cosHalfLon - q.cosHalfLon * p.sinHalfLon
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
