#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The paid-request budget of the ipstack client (issue #8 item 8): at most `maxPerMinute`
/// requests in any 60 seconds (a sliding window, so no burst of twice the limit at a minute's
/// edge) and at most `monthlyQuota` per calendar month (UTC, ipstack's billing period).
///
/// A value-type state machine: `admit` says whether one more request may be sent and, when it
/// may, counts it. The client persists `month`/`monthCount` (see `IPStackUsageFile`) so a
/// restart does not reset the month.
struct IPStackUsage: Sendable, Equatable {
    /// Whether a request may be sent now.
    enum Admission: Sendable, Equatable {
        case allowed
        case rateLimited
        case quotaExhausted
    }

    let maxPerMinute: Int
    let monthlyQuota: Int
    /// Send times of the requests in the current window, oldest first (at most `maxPerMinute`).
    private(set) var recent: [ContinuousClock.Instant] = []
    /// Index of the oldest entry in `recent` once it is full (a ring).
    private var head = 0
    /// The counted month (`IPStackUsage.month(of:)`), and requests counted in it.
    private(set) var month: Int
    private(set) var monthCount: Int

    init(maxPerMinute: Int, monthlyQuota: Int, month: Int, monthCount: Int = 0) {
        self.maxPerMinute = max(1, maxPerMinute)
        self.monthlyQuota = max(0, monthlyQuota)
        self.month = month
        self.monthCount = max(0, monthCount)
    }

    /// Decides one request at `now` (monotonic) in `month` (wall clock); counts it when allowed.
    mutating func admit(now: ContinuousClock.Instant, month current: Int) -> Admission {
        if current != month {
            month = current
            monthCount = 0
        }
        guard monthCount < monthlyQuota else { return .quotaExhausted }
        if recent.count < maxPerMinute {
            recent.append(now)
        } else {
            // Full: the oldest of the last `maxPerMinute` requests must be a minute old.
            guard now - recent[head] >= .seconds(60) else { return .rateLimited }
            recent[head] = now
            head = (head + 1) % maxPerMinute
        }
        monthCount += 1
        return .allowed
    }

    /// Counts `requests` made by other processes sharing the usage file in `month`.
    mutating func absorb(_ requests: Int, month other: Int) {
        guard other == month, requests > 0 else { return }
        monthCount += requests
    }

    /// The month (years × 12 + month − 1, UTC) that `date` falls in.
    static func month(of date: Date) -> Int {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return (Int(parts.tm_year) + 1900) * 12 + Int(parts.tm_mon)
    }

    /// `YYYY-MM` of a month value.
    static func label(_ month: Int) -> String {
        let m = month % 12 + 1
        return "\(month / 12)-\(m < 10 ? "0" : "")\(m)"
    }

    static func parseLabel(_ text: String) -> Int? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m) else { return nil }
        return y * 12 + m - 1
    }
}

/// The ipstack usage state file: `{"month": "2026-11", "requests": 1234}`. Read once when the
/// client starts; written after every counted request by writing a temporary file beside it and
/// renaming it over the old one, so a crash leaves the old count or the new, never half a file.
enum IPStackUsageFile {
    struct Contents: Codable, Equatable {
        var month: String
        var requests: Int
    }

    /// The month and count stored at `path`; nil when missing or unreadable.
    static func read(_ path: String) -> (month: Int, requests: Int)? {
        guard let data = FileManager.default.contents(atPath: path),
              let c = try? JSONDecoder().decode(Contents.self, from: data),
              let month = IPStackUsage.parseLabel(c.month), c.requests >= 0 else { return nil }
        return (month, c.requests)
    }

    /// Adds `added` requests to the count stored for `month` (zero when the file is missing,
    /// unreadable or of another month) and writes the sum, at least `atLeast`; returns it. Holds an
    /// exclusive `flock` on `PATH.lock` from the read to the rename, so processes sharing the file
    /// add up their requests instead of overwriting each other's.
    static func merge(_ path: String, month: Int, added: Int, atLeast: Int) throws -> Int {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GeoIPError(.ipstackConfiguration, "cannot open \(lockPath): errno \(errno)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw GeoIPError(.ipstackConfiguration, "cannot lock \(lockPath): errno \(errno)") }
        }
        defer { flock(fd, LOCK_UN) }
        var stored = 0
        if let current = read(path), current.month == month { stored = current.requests }
        let (sum, overflow) = stored.addingReportingOverflow(max(0, added))
        let total = max(overflow ? Int.max : sum, atLeast)
        try write(path, month: month, requests: total)
        return total
    }

    /// Writes atomically; throws on failure (the caller logs it and keeps counting in memory).
    static func write(_ path: String, month: Int, requests: Int) throws {
        let data = try JSONEncoder().encode(Contents(month: IPStackUsage.label(month), requests: requests))
        let tmp = path + ".tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw GeoIPError(.ipstackConfiguration, "cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw GeoIPError(.ipstackConfiguration, "cannot rename \(tmp) to \(path): errno \(e)")
        }
    }
}
