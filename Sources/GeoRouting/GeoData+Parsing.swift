import DNSWire

extension GeoData {
    /// Parses `geo_data.json` in either form (see config-schema: the flat form
    /// `{"192.0.2.1": {"latitude": 38.8, "longitude": -77.0}}` loads unchanged as one pool named
    /// `default`; the rich form is `{"pools": {name: {"members": [...], "health_check": {...}}}}`).
    ///
    /// The whole file is checked and every problem reported at once, each with its key path and
    /// line: unknown keys, missing or mistyped values, coordinates out of range, bad or unspecified
    /// addresses, a duplicated address within a pool, empty pools, bad durations, status codes
    /// outside 100...599, `rise`/`fall` below 1.
    ///
    /// Health checks: a member's `health_check` replaces its pool's probe (`null` disables it for
    /// that member); `interval`, `timeout`, `rise` and `fall` it leaves out come from the pool's
    /// `health_check`, then from `defaults`.
    ///
    /// - Parameters:
    ///   - json: the file's bytes (UTF-8; `[UInt8]`, `Data`, a slice…).
    ///   - file: the name used in error messages, e.g. `geo_data.json`.
    ///   - defaults: the config's `health:` values.
    public static func parse(json: some Collection<UInt8>, file: String,
                             defaults: HealthCheckDefaults = HealthCheckDefaults()) throws(GeoDataError) -> GeoData {
        let root: JSONValue
        do {
            root = try JSONReader.parse(Array(json))
        } catch {
            throw GeoDataError(file: file, issues: [
                .init(code: .invalidJSON, path: "", line: error.line,
                      message: "invalid JSON at column \(error.column): \(error.message)"),
            ])
        }
        var parser = GeoDataParser(defaults: defaults)
        let data = parser.parseRoot(root)
        guard parser.issues.isEmpty, let data else {
            let issues = parser.issues.isEmpty
                ? [GeoDataError.Issue(code: .emptyPool, path: "", line: root.line, message: "no pools")]
                : parser.issues
            throw GeoDataError(file: file, issues: issues)
        }
        return data
    }
}

/// The `health_check` fields as written; unset fields are inherited (member → pool → defaults).
private struct CheckFields {
    var probe: HealthCheckSpec.Probe?
    var interval: Double?
    var timeout: Double?
    var rise: Int?
    var fall: Int?
}

/// What a `health_check` key said.
private enum CheckSetting {
    /// Key absent: inherit.
    case inherit
    /// `null`: no probe.
    case disabled
    /// A check object (possibly with errors already reported).
    case check(CheckFields)
}

/// Walks the JSON tree collecting issues; the result is only used when no issue was found.
private struct GeoDataParser {
    let defaults: HealthCheckDefaults
    var issues: [GeoDataError.Issue] = []

    init(defaults: HealthCheckDefaults) {
        self.defaults = defaults
    }

    mutating func report(_ code: GeoDataError.Code, _ path: String, _ line: Int?, _ message: String) {
        issues.append(.init(code: code, path: path, line: line, message: message))
    }

    // MARK: Structure helpers

    /// The members of an object value, or nil (reported) when `value` is not an object.
    mutating func object(_ value: JSONValue, _ path: String, what: String) -> [JSONValue.Member]? {
        if case .object(let members) = value.kind { return members }
        report(.wrongType, path, value.line, "must be \(what), not \(value.typeName)")
        return nil
    }

    /// Reports keys outside `allowed` and keys that appear twice.
    mutating func checkKeys(_ members: [JSONValue.Member], allowed: [String], _ path: String,
                            context: String) {
        var seen: [String] = []
        for m in members {
            let keyPath = GeoData.path(path, m.key)
            if !allowed.contains(m.key) {
                report(.unknownKey, keyPath, m.value.line,
                       "unknown key in \(context) (allowed: \(allowed.joined(separator: ", ")))")
            } else if seen.contains(m.key) {
                report(.invalidValue, keyPath, m.value.line, "duplicate key")
            }
            seen.append(m.key)
        }
    }

    func find(_ members: [JSONValue.Member], _ key: String) -> JSONValue? {
        members.first { $0.key == key }?.value
    }

    mutating func number(_ value: JSONValue, _ path: String, valid: (Double) -> Bool,
                         _ requirement: String) -> Double? {
        guard case .number(let d, _) = value.kind else {
            report(.wrongType, path, value.line, "\(requirement), not \(value.typeName)")
            return nil
        }
        guard valid(d) else {
            report(.invalidValue, path, value.line, requirement)
            return nil
        }
        return d
    }

    /// An integral number in `range`; out-of-range values are reported with `code`.
    mutating func integer(_ value: JSONValue, _ path: String, _ range: ClosedRange<Int>,
                          code: GeoDataError.Code, _ requirement: String) -> Int? {
        guard case .number(let d, _) = value.kind else {
            report(.wrongType, path, value.line, "\(requirement), not \(value.typeName)")
            return nil
        }
        guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            report(code, path, value.line, requirement)
            return nil
        }
        return Int(d)
    }

    mutating func string(_ value: JSONValue, _ path: String, _ requirement: String) -> String? {
        guard case .string(let s) = value.kind else {
            report(.wrongType, path, value.line, "\(requirement), not \(value.typeName)")
            return nil
        }
        return s
    }

    /// A positive duration: a string like `250ms`/`10s`/`5m`/`1h` or a number of seconds.
    mutating func duration(_ value: JSONValue, _ path: String) -> Double? {
        let requirement = "must be a duration greater than 0 such as \"250ms\", \"10s\", \"5m\" or a number of seconds"
        let seconds: Double?
        switch value.kind {
        case .string(let s): seconds = DurationText.seconds(s)
        case .number(let d, _): seconds = d.isFinite && d >= 0 ? d : nil
        default:
            report(.wrongType, path, value.line, "\(requirement), not \(value.typeName)")
            return nil
        }
        guard let s = seconds, s > 0 else {
            report(.badDuration, path, value.line, requirement)
            return nil
        }
        return s
    }

    /// An address usable as an A/AAAA answer.
    mutating func address(_ text: String, _ path: String, _ line: Int) -> IPAddress? {
        guard let a = IPAddress(text) else {
            report(.badAddress, path, line, "\"\(text)\" is not an IPv4 or IPv6 address")
            return nil
        }
        if a == .v4(0) || a == .v6(0, 0) {
            report(.badAddress, path, line, "the unspecified address \(a) cannot be a backend")
            return nil
        }
        return a
    }

    // MARK: Forms

    mutating func parseRoot(_ root: JSONValue) -> GeoData? {
        guard let top = object(root, "", what: "an object (the flat form or {\"pools\": …})") else {
            return nil
        }
        if find(top, "pools") != nil {
            return parseRich(top)
        }
        return parseFlat(top, line: root.line)
    }

    /// Flat form: every top-level key is an address; all of them form the pool `default`.
    mutating func parseFlat(_ top: [JSONValue.Member], line: Int) -> GeoData? {
        if top.isEmpty {
            report(.emptyPool, "", line, "no backends (expected {\"192.0.2.1\": {\"latitude\": …, \"longitude\": …}} or {\"pools\": …})")
            return nil
        }
        var members: [PoolMember] = []
        var firstPath: [IPAddress: String] = [:]
        for entry in top {
            let path = GeoData.path("", entry.key)
            let addr = address(entry.key, path, entry.value.line)
            if let a = addr {
                if let earlier = firstPath[a] {
                    report(.duplicateAddress, path, entry.value.line,
                           "duplicate address \(a) (also \(earlier))")
                } else {
                    firstPath[a] = path
                }
            }
            guard let fields = object(entry.value, path, what: "an object with latitude and longitude") else {
                continue
            }
            if let m = parseMember(fields, path, line: entry.value.line, address: addr, poolCheck: nil) {
                members.append(m)
            }
        }
        return GeoData(validatedPools: [Pool(validatedName: GeoData.defaultPoolName, members: members)],
                       form: .flat)
    }

    /// Rich form: `{"pools": {name: {"members": [...], "health_check": {...}}}}`.
    mutating func parseRich(_ top: [JSONValue.Member]) -> GeoData? {
        checkKeys(top, allowed: ["pools"], "", context: "the top level of the rich form")
        guard let poolsValue = find(top, "pools"),
              let poolEntries = object(poolsValue, "pools", what: "an object of pools by name") else {
            return nil
        }
        if poolEntries.isEmpty {
            report(.emptyPool, "pools", poolsValue.line, "no pools")
            return nil
        }
        var pools: [Pool] = []
        var names: Set<String> = []
        for entry in poolEntries {
            let path = GeoData.path("pools", entry.key)
            if entry.key.isEmpty || entry.key.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) {
                report(.invalidValue, path, entry.value.line, "a pool name must be non-empty without spaces")
            }
            if !names.insert(entry.key).inserted {
                report(.invalidValue, path, entry.value.line, "duplicate pool name")
                continue
            }
            if let pool = parsePool(entry.value, name: entry.key, path) {
                pools.append(pool)
            }
        }
        return GeoData(validatedPools: pools, form: .rich)
    }

    mutating func parsePool(_ value: JSONValue, name: String, _ path: String) -> Pool? {
        guard let fields = object(value, path, what: "an object with \"members\"") else { return nil }
        checkKeys(fields, allowed: ["members", "health_check"], path, context: "a pool")
        var poolCheck: CheckFields?
        if let hc = find(fields, "health_check") {
            switch parseCheck(hc, GeoData.path(path, "health_check")) {
            case .check(let c): poolCheck = c
            case .disabled, .inherit: poolCheck = nil
            }
        }
        let membersPath = GeoData.path(path, "members")
        guard let mv = find(fields, "members") else {
            report(.missingKey, membersPath, value.line, "required: an array of members")
            return nil
        }
        guard case .array(let elements) = mv.kind else {
            report(.wrongType, membersPath, mv.line, "must be an array of members, not \(mv.typeName)")
            return nil
        }
        if elements.isEmpty {
            report(.emptyPool, membersPath, mv.line, "pool has no members")
            return nil
        }
        var members: [PoolMember] = []
        var firstIndex: [IPAddress: Int] = [:]
        for (i, element) in elements.enumerated() {
            let mpath = "\(membersPath)[\(i)]"
            guard let mf = object(element, mpath, what: "a member object") else { continue }
            var addr: IPAddress?
            let addressPath = GeoData.path(mpath, "address")
            if let av = find(mf, "address") {
                if let text = string(av, addressPath, "must be an IPv4 or IPv6 address string") {
                    addr = address(text, addressPath, av.line)
                }
                if let a = addr {
                    if let j = firstIndex[a] {
                        report(.duplicateAddress, addressPath, av.line,
                               "duplicate address \(a) (also members[\(j)])")
                    } else {
                        firstIndex[a] = i
                    }
                }
            } else {
                report(.missingKey, addressPath, element.line, "required: the backend's IPv4 or IPv6 address")
            }
            if let m = parseMember(mf, mpath, line: element.line, address: addr, poolCheck: poolCheck,
                                   allowAddressKey: true) {
                members.append(m)
            }
        }
        return Pool(validatedName: name, members: members)
    }

    /// The fields of one member (both forms). Returns nil when something is missing or invalid
    /// (already reported).
    mutating func parseMember(_ fields: [JSONValue.Member], _ path: String, line: Int, address: IPAddress?,
                              poolCheck: CheckFields?, allowAddressKey: Bool = false) -> PoolMember? {
        var allowed = ["latitude", "longitude", "name", "weight", "capacity", "health_check"]
        if allowAddressKey { allowed.insert("address", at: 0) }
        checkKeys(fields, allowed: allowed, path, context: "a member")
        var ok = address != nil

        var latitude: Double?
        let latPath = GeoData.path(path, "latitude")
        if let v = find(fields, "latitude") {
            latitude = number(v, latPath, valid: { abs($0) <= 90 }, "must be a number between -90 and 90")
        } else {
            report(.missingKey, latPath, line, "required: a number between -90 and 90")
        }
        var longitude: Double?
        let lonPath = GeoData.path(path, "longitude")
        if let v = find(fields, "longitude") {
            longitude = number(v, lonPath, valid: { abs($0) <= 180 }, "must be a number between -180 and 180")
        } else {
            report(.missingKey, lonPath, line, "required: a number between -180 and 180")
        }
        var name: String?
        if let v = find(fields, "name") {
            let p = GeoData.path(path, "name")
            name = string(v, p, "must be a non-empty string")
            if name?.isEmpty == true {
                report(.invalidValue, p, v.line, "must be a non-empty string")
                ok = false
            }
        }
        var weight: Double? = 1
        if let v = find(fields, "weight") {
            weight = number(v, GeoData.path(path, "weight"), valid: { $0 > 0 }, "must be a number greater than 0")
        }
        var capacity: Double?
        var capacityOK = true
        if let v = find(fields, "capacity") {
            capacity = number(v, GeoData.path(path, "capacity"), valid: { $0 > 0 }, "must be a number greater than 0")
            capacityOK = capacity != nil
        }
        var spec: HealthCheckSpec?
        var setting = CheckSetting.inherit
        if let v = find(fields, "health_check") {
            setting = parseCheck(v, GeoData.path(path, "health_check"))
        }
        switch setting {
        case .inherit:
            spec = resolve(poolCheck, pool: nil)
        case .disabled:
            spec = nil
        case .check(let c):
            spec = resolve(c, pool: poolCheck)
        }
        guard ok, capacityOK, let lat = latitude, let lon = longitude, let w = weight, let addr = address else {
            return nil
        }
        return PoolMember(address: addr, coordinate: Coordinate(latitude: lat, longitude: lon), name: name,
                          weight: w, capacity: capacity, healthCheck: spec)
    }

    /// Fills a check's unset timing fields from the pool's check, then the defaults.
    func resolve(_ check: CheckFields?, pool: CheckFields?) -> HealthCheckSpec? {
        guard let check, let probe = check.probe else { return nil }
        return HealthCheckSpec(probe: probe,
                               interval: check.interval ?? pool?.interval ?? defaults.interval,
                               timeout: check.timeout ?? pool?.timeout ?? defaults.timeout,
                               rise: check.rise ?? pool?.rise ?? defaults.rise,
                               fall: check.fall ?? pool?.fall ?? defaults.fall)
    }

    /// A `health_check` object: `type` (http|https|tcp), `port`, `path`, `host`, `expect`,
    /// `interval`, `timeout`, `rise`, `fall`; or `null` (no probe).
    mutating func parseCheck(_ value: JSONValue, _ path: String) -> CheckSetting {
        if case .null = value.kind { return .disabled }
        guard let fields = object(value, path, what: "an object with \"type\" (http, https or tcp) or null") else {
            return .check(CheckFields())
        }
        let httpKeys = ["type", "port", "path", "host", "expect", "interval", "timeout", "rise", "fall"]
        checkKeys(fields, allowed: httpKeys, path, context: "a health_check")
        var out = CheckFields()
        var type: String?
        let typePath = GeoData.path(path, "type")
        if let v = find(fields, "type") {
            type = string(v, typePath, "must be one of http, https, tcp")
            if let t = type, !["http", "https", "tcp"].contains(t) {
                report(.invalidValue, typePath, v.line, "must be one of http, https, tcp (got \"\(t)\")")
                type = nil
            }
        } else {
            report(.missingKey, typePath, value.line, "required: http, https or tcp")
        }
        var port: Int?
        let portPath = GeoData.path(path, "port")
        if let v = find(fields, "port") {
            port = integer(v, portPath, 1...65535, code: .invalidValue, "must be an integer from 1 to 65535")
        }
        var probePath = "/"
        if let v = find(fields, "path") {
            let p = GeoData.path(path, "path")
            if let s = string(v, p, "must be a string starting with \"/\"") {
                if s.hasPrefix("/") && !s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
                    probePath = s
                } else {
                    report(.invalidValue, p, v.line, "must start with \"/\" and contain no spaces or control characters")
                }
            }
        }
        var host: String?
        if let v = find(fields, "host") {
            let p = GeoData.path(path, "host")
            if let s = string(v, p, "must be a non-empty host name") {
                if s.isEmpty || s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
                    report(.invalidValue, p, v.line, "must be a non-empty host name without spaces")
                } else {
                    host = s
                }
            }
        }
        var expect = [200]
        if let v = find(fields, "expect") {
            let p = GeoData.path(path, "expect")
            let requirement = "must be an HTTP status code from 100 to 599"
            switch v.kind {
            case .number:
                if let c = integer(v, p, 100...599, code: .badStatusCode, requirement) { expect = [c] }
            case .array(let codes):
                if codes.isEmpty {
                    report(.badStatusCode, p, v.line, "must list at least one HTTP status code")
                }
                var list: [Int] = []
                for (i, c) in codes.enumerated() {
                    if let code = integer(c, "\(p)[\(i)]", 100...599, code: .badStatusCode, requirement) {
                        list.append(code)
                    }
                }
                if !list.isEmpty { expect = list }
            default:
                report(.wrongType, p, v.line, "must be a status code or an array of status codes, not \(v.typeName)")
            }
        }
        if let v = find(fields, "interval") { out.interval = duration(v, GeoData.path(path, "interval")) }
        if let v = find(fields, "timeout") { out.timeout = duration(v, GeoData.path(path, "timeout")) }
        let thresholdRequirement = "must be an integer from 1 to 1000"
        if let v = find(fields, "rise") {
            out.rise = integer(v, GeoData.path(path, "rise"), 1...1000, code: .badThreshold, thresholdRequirement)
        }
        if let v = find(fields, "fall") {
            out.fall = integer(v, GeoData.path(path, "fall"), 1...1000, code: .badThreshold, thresholdRequirement)
        }
        switch type {
        case "http", "https":
            let tls = type == "https"
            out.probe = .http(HealthCheckSpec.HTTPProbe(useTLS: tls, port: port ?? (tls ? 443 : 80), path: probePath,
                                                        host: host, expectedStatus: expect))
        case "tcp":
            for key in ["path", "host", "expect"] {
                if let v = find(fields, key) {
                    report(.unknownKey, GeoData.path(path, key), v.line, "only http and https checks take \"\(key)\"")
                }
            }
            if let port {
                out.probe = .tcp(port: port)
            } else if find(fields, "port") == nil {
                report(.missingKey, portPath, value.line, "required for a tcp check: the port to connect to")
            }
        default:
            break
        }
        return .check(out)
    }
}
