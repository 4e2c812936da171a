import Foundation
import XCTest

/// `Scripts/install` into a temporary root, and `systemd-analyze verify` on every unit in
/// `config/systemd` (issue #11, "Running as a service").
final class InstallTests: XCTestCase {
    /// Runs `executable` with `arguments`; returns (status, stdout, stderr).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, n in n } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static var script: String { LiveServer.repoRoot.appendingPathComponent("Scripts/install").path }

    func makeRoot() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        return root
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }

    func testInstallIntoDestdirNeverOverwritesConfig() throws {
        let root = try makeRoot()
        let binary = ServerProcess.binary.path
        let (status, _, err) = try Self.run(Self.script, ["--prefix", "/opt/proxima", "--destdir", root.path, "--binary", binary])
        XCTAssertEqual(status, 0, err)
        let r = root.path
        for (path, mode) in [("/opt/proxima/bin/proxima", 0o755), ("/opt/proxima/libexec/proxima/refresh-geoip-db", 0o755),
                             ("/opt/proxima/share/doc/proxima/README.md", 0o644),
                             ("/opt/proxima/share/doc/proxima/config-README.md", 0o644),
                             ("/etc/proxima/proxima.yaml", 0o644), ("/etc/proxima/zones/example.test.zone", 0o644),
                             ("/etc/systemd/system/proxima.service", 0o644),
                             ("/etc/systemd/system/proxima-geoip-refresh.timer", 0o644),
                             ("/var/lib/proxima", 0o750), ("/var/log/proxima", 0o750)] {
            XCTAssertEqual(Self.mode(r + path), mode, path)
        }
        XCTAssertTrue(FileManager.default.contentsEqual(atPath: r + "/opt/proxima/bin/proxima", andPath: binary))
        // Units point at the prefix, not at /usr/local, and not at the staging directory.
        let units = try FileManager.default.contentsOfDirectory(atPath: r + "/etc/systemd/system")
        let shipped = try FileManager.default.contentsOfDirectory(atPath: LiveServer.repoRoot.appendingPathComponent("config/systemd").path)
        XCTAssertEqual(Set(units), Set(shipped.filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") }))
        let service = try String(contentsOfFile: r + "/etc/systemd/system/proxima.service", encoding: .utf8)
        XCTAssertTrue(service.contains("ExecStart=/opt/proxima/bin/proxima serve --config /etc/proxima/proxima.yaml"), service)
        for u in units {
            let text = try String(contentsOfFile: r + "/etc/systemd/system/" + u, encoding: .utf8)
            XCTAssertFalse(text.contains("/usr/local"), u)
            XCTAssertFalse(text.contains(r), u)
        }
        // The installed config is valid as installed (its zone path is relative to it).
        let (check, checkOut, checkErr) = try Self.run(r + "/opt/proxima/bin/proxima", ["check", "--config", r + "/etc/proxima/proxima.yaml"])
        XCTAssertEqual(check, 0, checkOut + checkErr)

        // Again, with the operator's edits: kept, the new version beside them.
        let config = r + "/etc/proxima/proxima.yaml"
        let edited = try String(contentsOfFile: config, encoding: .utf8) + "\nidentity: {id: ns1-test}\n"
        try Data(edited.utf8).write(to: URL(fileURLWithPath: config))
        let (again, _, err2) = try Self.run(Self.script, ["--prefix", "/opt/proxima", "--destdir", root.path, "--binary", binary])
        XCTAssertEqual(again, 0, err2)
        XCTAssertEqual(try String(contentsOfFile: config, encoding: .utf8), edited, "an existing config is never overwritten")
        XCTAssertTrue(err2.contains("kept your /etc/proxima/proxima.yaml; the new version is /etc/proxima/proxima.yaml.dist"), err2)
        XCTAssertTrue(FileManager.default.contentsEqual(atPath: config + ".dist",
                                                        andPath: LiveServer.repoRoot.appendingPathComponent("config/install/proxima.yaml").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: r + "/etc/proxima/zones/example.test.zone.dist"), "unchanged: no .dist")

        let (bad, _, badErr) = try Self.run(Self.script, ["--prefix", "relative", "--destdir", root.path, "--binary", binary])
        XCTAssertEqual(bad, 2, badErr)
    }

    /// The build directory of the suite's own `proxima` (the one holding `workspace-state.json`
    /// above the binary), or nil when the binary does not sit in a SwiftPM build directory.
    static func suiteScratchPath() -> URL? {
        var dir = ServerProcess.binary.resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("workspace-state.json").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// Without `--binary` the script builds `proxima` itself (`swift build -c CONFIG --product
    /// proxima`) and installs what that build produced. The suite runs the script's build step
    /// with `--configuration debug` on its own build directory, which is already up to date, so
    /// the step costs a check instead of a release build of every dependency (and with
    /// `--ignore-lock`: `swift test` holds that directory's lock while tests run). The release
    /// compile itself is not run here.
    func testInstallWithoutBinaryRunsItsOwnBuild() throws {
        let scratch = try XCTUnwrap(Self.suiteScratchPath(), "no SwiftPM build directory above \(ServerProcess.binary.path)")
        let root = try makeRoot()
        let (status, _, err) = try Self.run(Self.script, ["--destdir", root.path, "--configuration", "debug",
                                                          "--scratch-path", scratch.path, "--swift-build-arg", "--ignore-lock"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(err.contains("building proxima (debug): swift build -c debug --product proxima --scratch-path \(scratch.path) "
                                   + "--ignore-lock"), err)
        let installed = root.path + "/usr/local/bin/proxima"
        XCTAssertEqual(Self.mode(installed), 0o755)
        // What the build produced, which is the binary this suite runs (the same build directory).
        XCTAssertTrue(FileManager.default.contentsEqual(atPath: installed, andPath: ServerProcess.binary.resolvingSymlinksInPath().path))
        let (check, checkOut, checkErr) = try Self.run(installed, ["check", "--config", root.path + "/etc/proxima/proxima.yaml"])
        XCTAssertEqual(check, 0, checkOut + checkErr)

        // A build that fails (here: no `swift` on PATH) stops the install before anything is copied.
        let other = try makeRoot()
        let (failed, _, failedErr) = try Self.run(Self.script, ["--destdir", other.path, "--configuration", "debug",
                                                                "--scratch-path", scratch.path, "--swift-build-arg", "--ignore-lock"],
                                                  environment: ["PATH": "/usr/bin:/bin"])
        XCTAssertEqual(failed, 1, failedErr)
        XCTAssertTrue(failedErr.contains("install: swift build failed"), failedErr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: other.path + "/usr/local/bin/proxima"))
        let (usage, _, usageErr) = try Self.run(Self.script, ["--binary", installed, "--scratch-path", scratch.path])
        XCTAssertEqual(usage, 2, usageErr)
        let (help, helpOut, _) = try Self.run(Self.script, ["--help"])
        XCTAssertEqual(help, 0)
        XCTAssertTrue(helpOut.contains("--scratch-path DIR") && helpOut.contains("--configuration release|debug"), helpOut)
    }

    /// `systemd-analyze verify` on the installed units (the binaries they name must exist, so
    /// the paths are pointed into the staging root). Any output is a finding: verify exits 0
    /// on unknown keys and bad values, and only says so.
    func testSystemdAnalyzeVerifiesEveryUnit() throws {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try XCTUnwrap(analyze, "systemd-analyze is missing: run Scripts/setup --for-tests (apt-get install systemd)")
        let root = try makeRoot()
        let (status, _, err) = try Self.run(Self.script, ["--destdir", root.path, "--binary", ServerProcess.binary.path])
        XCTAssertEqual(status, 0, err)
        let unitDir = root.appendingPathComponent("etc/systemd/system")
        let verifyDir = root.appendingPathComponent("verify")
        try FileManager.default.createDirectory(at: verifyDir, withIntermediateDirectories: true)
        var names: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: unitDir.path).sorted() {
            let text = try String(contentsOf: unitDir.appendingPathComponent(name), encoding: .utf8)
            let pointed = text.replacingOccurrences(of: "/usr/local/", with: root.path + "/usr/local/")
            try Data(pointed.utf8).write(to: verifyDir.appendingPathComponent(name))
            names.append(name)
        }
        XCTAssertTrue(names.contains("proxima.service") && names.contains("proxima-geoip-refresh.timer")
                      && names.contains("proxima-report-load.service"), "\(names)")
        let (vs, vout, verr) = try Self.run(tool, ["verify"] + names.map { verifyDir.appendingPathComponent($0).path },
                                            environment: ["SYSTEMD_LOG_LEVEL": "notice"])
        XCTAssertEqual(vs, 0, vout + verr)
        XCTAssertEqual(vout + verr, "", "systemd-analyze verify found problems")

        // The check is real: a misspelled key in a copy is reported.
        let broken = verifyDir.appendingPathComponent("proxima-broken.service")
        let service = try String(contentsOf: verifyDir.appendingPathComponent("proxima.service"), encoding: .utf8)
        try Data(service.replacingOccurrences(of: "Type=notify", with: "Typ=notify").utf8).write(to: broken)
        let (_, bout, berr) = try Self.run(tool, ["verify", broken.path])
        XCTAssertTrue((bout + berr).contains("Unknown key"), bout + berr)
    }
}
