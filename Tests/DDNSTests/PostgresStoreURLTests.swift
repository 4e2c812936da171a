import DDNS
import XCTest

final class PostgresStoreURLTests: XCTestCase {
    func testAcceptedForms() throws {
        let full = try PostgresStoreURL("postgres://proxima:s%40cret@db.example.test:6543/ddns?sslmode=require")
        XCTAssertEqual(full.endpoint, .tcp(host: "db.example.test", port: 6543))
        XCTAssertEqual(full.user, "proxima")
        XCTAssertEqual(full.password, "s@cret")
        XCTAssertEqual(full.database, "ddns")
        XCTAssertEqual(full.tls, .require)
        XCTAssertFalse(full.description.contains("cret"), "the password leaked into \(full)")

        let plain = try PostgresStoreURL("postgresql://u@127.0.0.1/d")
        XCTAssertEqual(plain.endpoint, .tcp(host: "127.0.0.1", port: 5432))
        XCTAssertNil(plain.password)
        XCTAssertEqual(plain.tls, .prefer)

        let v6 = try PostgresStoreURL("postgres://u@[::1]:5433/d?sslmode=disable")
        XCTAssertEqual(v6.endpoint, .tcp(host: "::1", port: 5433))
        XCTAssertEqual(v6.description, "postgres://u@[::1]:5433/d")

        let socket = try PostgresStoreURL("postgres://u@/d?host=/run/postgresql")
        XCTAssertEqual(socket.endpoint, .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
    }

    func testRefusedFormsNameTheProblem() {
        let cases: [(String, String)] = [
            ("mysql://u@h/d", "scheme"),
            ("postgres://u@h", "database name is missing"),
            ("postgres://u@h/", "database name is missing"),
            ("postgres://u@h/a/b", "contains '/'"),
            ("postgres://u@h:0/d", "port"),
            ("postgres://u@/d", "host is missing"),
            ("postgres://u@h/d?sslmode=maybe", "sslmode"),
            ("postgres://u@h/d?options=-c%20x", "unknown parameter 'options'"),
            ("postgres://u@h/d?host=relative", "host parameter"),
            ("postgres://u:pw@h/" + String(repeating: "d", count: 5000), "4096"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try PostgresStoreURL(text), text) { error in
                guard case SiloStoreError.incompatible(let message) = error else {
                    return XCTFail("\(text): \(error)")
                }
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertTrue(message.hasPrefix("ddns.store:"), message)
                XCTAssertFalse(message.contains("pw@"), message)
            }
        }
    }
}
