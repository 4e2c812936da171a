import ArgumentParser
import Foundation
import ProximaApp

/// `proxima check`.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config, every zone, the geo data and the GeoIP database without serving.",
        discussion: """
        Prints each problem on its own line, as `file:line: message` for zone files and \
        `file:line: key.path: message` for the config, then a summary. Exit status 0 only when all is well, \
        1 when there are problems. Warnings (e.g. data hidden below a delegation) are printed but do not fail.

        Example: proxima check --config config/proxima.yaml
        """)

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    func run() throws {
        switch RuntimeLoader.load(configPath: config) {
        case .failure(let failure):
            let problems = failure.problems
            for p in problems { print(p.description) }
            print("\(config): \(problems.count) problem\(problems.count == 1 ? "" : "s") found")
            throw ExitCode(1)
        case .success(let rt):
            // `user:`/`group:` must name existing accounts (serve looks them up when started as root).
            do {
                _ = try PrivilegeDrop.resolve(rt.config)
            } catch {
                print(error.description)
                print("\(config): 1 problem found")
                throw ExitCode(1)
            }
            for w in rt.warnings { print("warning: \(w.description)") }
            let db = rt.database.map { "\($0.metadata.databaseType) built \($0.metadata.buildDate)" } ?? "none"
            print("\(config): ok — \(rt.zones.zones.count) zone\(rt.zones.zones.count == 1 ? "" : "s"), "
                  + "\(rt.routes.count) routed name\(rt.routes.count == 1 ? "" : "s"), "
                  + "\(rt.geoData?.pools.count ?? 0) pool\(rt.geoData?.pools.count == 1 ? "" : "s"), database \(db)")
        }
    }
}
