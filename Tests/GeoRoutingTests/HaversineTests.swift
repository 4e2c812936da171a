import XCTest
@testable import GeoRouting

/// DESIGN §3 "Distance": haversine on a sphere of radius 6371.0088 km.
final class HaversineTests: XCTestCase {
    struct Case {
        var name: String
        var a: Coordinate
        var b: Coordinate
        var km: Double
        /// Allowed relative error.
        var tolerance: Double
    }

    static let cases: [Case] = [
        Case(name: "JFK-LHR", a: Coordinate(latitude: 40.6413, longitude: -73.7781),
             b: Coordinate(latitude: 51.4700, longitude: -0.4543), km: 5540, tolerance: 0.005),
        Case(name: "antipodes on the equator (half the circumference)", a: Coordinate(latitude: 0, longitude: 0),
             b: Coordinate(latitude: 0, longitude: 180), km: .pi * 6371.0088, tolerance: 1e-9),
        Case(name: "pole to pole", a: Coordinate(latitude: 90, longitude: 0),
             b: Coordinate(latitude: -90, longitude: 0), km: .pi * 6371.0088, tolerance: 1e-9),
        Case(name: "across the antimeridian is short (1 degree on the equator)",
             a: Coordinate(latitude: 0, longitude: 179.5), b: Coordinate(latitude: 0, longitude: -179.5),
             km: 111.19508, tolerance: 1e-6),
        Case(name: "near the pole, opposite meridians", a: Coordinate(latitude: 89.9, longitude: 0),
             b: Coordinate(latitude: 89.9, longitude: 180), km: 22.239016, tolerance: 1e-6),
        Case(name: "Sydney-Auckland", a: Coordinate(latitude: -33.8688, longitude: 151.2093),
             b: Coordinate(latitude: -36.8485, longitude: 174.7633), km: 2155.9013, tolerance: 1e-6),
        Case(name: "Tokyo-San Francisco across the Pacific", a: Coordinate(latitude: 35.6762, longitude: 139.6503),
             b: Coordinate(latitude: 37.7749, longitude: -122.4194), km: 8274.6264, tolerance: 1e-6),
    ]

    func testKnownDistances() {
        for c in Self.cases {
            let d = haversineDistance(c.a, c.b)
            XCTAssertEqual(d, c.km, accuracy: c.km * c.tolerance, c.name)
            // Symmetric.
            XCTAssertEqual(haversineDistance(c.b, c.a), d, accuracy: 1e-9, c.name)
        }
    }

    func testSamePointIsZero() {
        for p in [Coordinate(latitude: 0, longitude: 0), Coordinate(latitude: 52.37, longitude: 4.89),
                  Coordinate(latitude: 90, longitude: 45), Coordinate(latitude: -89.99, longitude: -180)] {
            XCTAssertEqual(haversineDistance(p, p), 0, accuracy: 1e-9, "\(p)")
        }
        // Longitude is meaningless at a pole.
        XCTAssertEqual(haversineDistance(Coordinate(latitude: 90, longitude: 0), Coordinate(latitude: 90, longitude: 120)),
                       0, accuracy: 1e-6)
    }

    func testSmallDistancesAreStable() {
        // 1e-5 degree of latitude is about 1.11 m; the law of cosines loses this, haversine keeps it.
        let d = haversineDistance(Coordinate(latitude: 10, longitude: 10), Coordinate(latitude: 10.00001, longitude: 10))
        XCTAssertEqual(d, 0.00111195, accuracy: 1e-8)
    }

    func testHighLatitudeRankingIsNotPlanar() {
        // From Longyearbyen (78.2N, 15.6E) a planar lat/lon metric prefers Oslo (59.9N, 10.8E, ~19
        // "degrees") over a point at 84N, 100E (~85 "degrees"); on the sphere the arctic point is
        // ~1408 km away and Oslo ~2044 km (PowerDNS's planar approximation misranks exactly this).
        let svalbard = Coordinate(latitude: 78.22, longitude: 15.65)
        let oslo = Coordinate(latitude: 59.91, longitude: 10.75)
        let arctic = Coordinate(latitude: 84.0, longitude: 100.0)
        let planarOslo = hypot(oslo.latitude - svalbard.latitude, oslo.longitude - svalbard.longitude)
        let planarArctic = hypot(arctic.latitude - svalbard.latitude, arctic.longitude - svalbard.longitude)
        XCTAssertLessThan(planarOslo, planarArctic, "premise: the planar metric prefers Oslo")
        XCTAssertLessThan(haversineDistance(svalbard, arctic), haversineDistance(svalbard, oslo),
                          "the sphere knows the arctic point is nearer")
    }

    func testPrecomputedTermAgreesWithTheFormula() {
        // The ranker's trig-free term must give the same distances as the public function.
        var points: [Coordinate] = []
        for lat in stride(from: -90.0, through: 90, by: 22.5) {
            for lon in stride(from: -180.0, through: 180, by: 36) {
                points.append(Coordinate(latitude: lat, longitude: lon))
            }
        }
        points.append(Coordinate(latitude: 48.8566, longitude: 2.3522))
        points.append(Coordinate(latitude: 48.8567, longitude: 2.3523))
        for a in points {
            for b in points {
                let fast = distanceKm(haversineTerm: haversineTerm(RadianPoint(a), RadianPoint(b)))
                // Within a metre everywhere (asin is ill-conditioned next to the antipode, where both
                // forms differ by ~0.2 m; elsewhere they agree to micrometres).
                XCTAssertEqual(fast, haversineDistance(a, b), accuracy: 1e-3, "\(a) \(b)")
            }
        }
    }

    func testInternalTermRoundTrips() {
        for km in [0.0, 0.5, 10, 1000, 5540, 15000, 20015] {
            let a = haversineTerm(distanceKm: km)
            XCTAssertEqual(distanceKm(haversineTerm: a), km, accuracy: max(1e-6, km * 1e-9))
        }
        XCTAssertEqual(haversineTerm(distanceKm: 30000), 1)
    }
}
