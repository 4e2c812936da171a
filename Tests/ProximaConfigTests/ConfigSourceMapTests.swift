import XCTest
@testable import ProximaConfig

/// After loading, problems found by the caller (missing files, unknown pools) are located with the
/// same `file:line: key.path:` form as load errors.
final class ConfigSourceMapTests: XCTestCase {
    static let yaml = """
        zones:
          - origin: example.test.
            file: a.zone
          - origin: other.test.
            file: /srv/b.zone
        geoip:
          database: geo.mmdb
        geo_data: geo.json
        routing:
          names:
            WWW.example.test.:
              pool: web
        """

    func testSourceMapLocatesValuesAndFileReferences() throws {
        let c = try ConfigLoader.load(yaml: Self.yaml, file: "/etc/p/proxima.yaml", environment: [:]).get()
        XCTAssertEqual(c.fileReferences, [
            FileReference(keyPath: "zones[0].file", path: "/etc/p/a.zone"),
            FileReference(keyPath: "zones[1].file", path: "/srv/b.zone"),
            FileReference(keyPath: "geoip.database", path: "/etc/p/geo.mmdb"),
            FileReference(keyPath: "geo_data", path: "/etc/p/geo.json"),
        ])
        let lines = c.fileReferences.map { c.source.line(of: $0.keyPath) }
        XCTAssertEqual(lines, [3, 5, 7, 8])
        XCTAssertEqual(c.source.issue(at: "zones[1].file", "no such file").description,
                       "/etc/p/proxima.yaml:5: zones[1].file: no such file")
        let www = try XCTUnwrap(c.routing.names["www.example.test."])
        XCTAssertEqual(www.keyPath, "routing.names.\"WWW.example.test.\"")
        XCTAssertEqual(c.source.line(of: www.keyPath), 11)
        XCTAssertEqual(c.source.line(of: www.keyPath + ".pool"), 12)
        // A key that was not written falls back to its nearest written ancestor.
        XCTAssertEqual(c.source.line(of: www.keyPath + ".ttl"), 11)
        XCTAssertEqual(c.source.line(of: "zones[0].origin"), 2)
        XCTAssertNil(c.source.line(of: "admin.listen"))
        XCTAssertEqual(c.source.issue(.conflict, at: "admin", "x").description, "/etc/p/proxima.yaml: admin: x")
    }
}
