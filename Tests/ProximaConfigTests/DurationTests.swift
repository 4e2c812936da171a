import XCTest
@testable import ProximaConfig

/// `parseDuration`: the duration grammar of the config schema.
final class DurationTests: XCTestCase {
    func testAcceptedForms() {
        let table: [(String, Duration)] = [
            ("250ms", .milliseconds(250)),
            ("2s", .seconds(2)),
            ("5m", .seconds(300)),
            ("1h", .seconds(3600)),
            ("10", .seconds(10)),
            ("0", .zero),
            ("0s", .zero),
            ("1.5s", .milliseconds(1500)),
            ("0.25", .milliseconds(250)),
            (".5s", .milliseconds(500)),
            ("1.5ms", .microseconds(1500)),
            ("0.5m", .seconds(30)),
            ("24h", .seconds(86_400)),
            ("0.000000001", .nanoseconds(1)),
        ]
        for (text, expected) in table {
            XCTAssertEqual(parseDuration(text), expected, text)
        }
    }

    func testRejectedForms() {
        for text in ["", "s", "ms", "-1s", "+1s", "1 s", " 1s", "1s ", "1d", "1S", "1e3", "1.2.3s", "1.s",
                     "1sec", "inf", "nan", "0x10", "99999999999999999999s", "1000000h"] {
            XCTAssertNil(parseDuration(text), text)
        }
    }

    func testConfigTextAndSecondsRoundTrip() {
        let table: [(Duration, String, Double)] = [
            (.milliseconds(250), "250ms", 0.25),
            (.seconds(2), "2s", 2),
            (.seconds(300), "5m", 300),
            (.seconds(3600), "1h", 3600),
            (.zero, "0s", 0),
        ]
        for (duration, text, seconds) in table {
            XCTAssertEqual(duration.configText, text)
            XCTAssertEqual(parseDuration(text), duration)
            XCTAssertEqual(duration.configSeconds, seconds, accuracy: 1e-12)
        }
    }

    func testBareNumbersInYAMLAreSeconds() throws {
        let yaml = ConfigTestSupport.zoneOnly + "\ntcp:\n  idle_timeout: 15\nhealth:\n  interval: 0.5\n  timeout: 250ms\n"
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml))
        XCTAssertEqual(c.tcp.idleTimeout, .seconds(15))
        XCTAssertEqual(c.health.interval, .milliseconds(500))
        XCTAssertEqual(c.health.timeout, .milliseconds(250))
    }
}
