// A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temp dir, `postgres` on a free
// 127.0.0.1 port with trust authentication (loopback only), stopped and deleted after.
//
// Self-contained on purpose (Foundation + Glibc only): SwiftPM test targets cannot depend on each
// other, so IntegrationTests compiles this same file through a symlink
// (Tests/IntegrationTests/Support/PostgresCluster.swift), as the fuzz targets share sources.
//
// Needs Debian's `postgresql` package (`Scripts/setup --for-tests` installs it). The server refuses
// to run as root, so as root every server command runs as the `postgres` user (`runuser`), which
// owns the temp dir. When PostgreSQL cannot be started the initializer throws with the reason and
// the log's tail: a test using it fails, it never skips.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class PostgresCluster: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The superuser created by `initdb` (trust authentication: no password).
    let user = "proxima"
    /// The temp dir holding `data/`, the server log and the Unix socket.
    let directory: String
    /// The loopback TCP port the server listens on (kept across `stop()`/`start()`).
    private(set) var port: Int
    private let binaries: String
    private let runAs: String?
    private let lock = NSLock()
    private var destroyed = false

    var dataDirectory: String { directory + "/data" }
    var logFile: String { directory + "/server.log" }

    /// Creates and starts a cluster. Throws (with the reason) when that is impossible.
    init() throws {
        binaries = try Self.findBinaries()
        var template = Array("/tmp/proxima-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure(description: "PostgresCluster: mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        port = 0
        if geteuid() == 0 {
            guard let account = getpwnam("postgres") else {
                throw Failure(description: "PostgresCluster: running as root but there is no 'postgres' user to run " +
                              "the server as (install Debian's postgresql package: Scripts/setup --for-tests)")
            }
            guard chown(directory, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw Failure(description: "PostgresCluster: chown \(directory): \(String(cString: strerror(errno)))")
            }
            runAs = "postgres"
        } else {
            runAs = nil
        }
        do {
            try runServerTool("initdb", ["-D", dataDirectory, "-A", "trust", "-U", user, "-E", "UTF8",
                                         "--no-locale", "--no-sync", "--no-instructions"])
            var lastError: (any Error)?
            for _ in 0..<3 {
                port = try Self.freeLoopbackPort()
                do {
                    try start()
                    return
                } catch {
                    lastError = error // most likely the port was taken meanwhile: try another
                }
            }
            throw lastError ?? Failure(description: "PostgresCluster: could not start")
        } catch {
            destroy()
            throw error
        }
    }

    deinit {
        destroy()
    }

    /// `postgres://proxima@127.0.0.1:PORT/<database>`.
    func url(database: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Starts the server (again) on the same data dir and port; returns when it accepts connections.
    func start() throws {
        let options = "-k \(directory) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off " +
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        try runServerTool("pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", options, "start"])
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected at once).
    func stop() throws {
        try runServerTool("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Creates a database and returns its URL.
    @discardableResult
    func createDatabase(_ name: String) throws -> String {
        try runServerTool("createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, name])
        return url(database: name)
    }

    /// Runs SQL through `psql` and returns its unaligned, tuples-only output.
    @discardableResult
    func psql(database: String, _ sql: String) throws -> String {
        try runServerTool("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database,
                                   "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server (if running) and deletes the temp dir. Idempotent.
    func destroy() {
        let first: Bool = lock.withLock {
            defer { destroyed = true }
            return !destroyed
        }
        guard first else { return }
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? runServerTool("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"])
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Running the tools

    @discardableResult
    private func runServerTool(_ tool: String, _ arguments: [String]) throws -> String {
        let executable = binaries + "/" + tool
        let argv = runAs.map { [Self.runuser, "-u", $0, "--", executable] } ?? [executable]
        // Output goes to a file, not a pipe: the server started by pg_ctl must not hold our pipe open.
        let outputPath = directory + "/.\(tool)-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let status = try Self.spawnAndWait(argv + arguments, outputPath: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw Failure(description: "PostgresCluster: \(tool) \(arguments.joined(separator: " ")) failed " +
                          "(\(status)): \(text.suffix(2000))\nserver log tail: \(logTail())")
        }
        return text
    }

    /// posix_spawn + waitpid (Foundation's `Process.waitUntilExit` was seen never returning here
    /// after `pg_ctl start`, its child already a zombie). Returns the exit status, or 128+signal.
    private static func spawnAndWait(_ argv: [String], outputPath: String) throws -> Int32 {
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else {
            throw Failure(description: "PostgresCluster: cannot create \(outputPath): \(String(cString: strerror(errno)))")
        }
        defer { close(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw Failure(description: "PostgresCluster: cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else {
                throw Failure(description: "PostgresCluster: waitpid \(argv[0]): \(String(cString: strerror(errno)))")
            }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private func logTail() -> String {
        guard let log = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "(no log)" }
        return String(log.suffix(2000))
    }

    private static var runuser: String {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "/usr/sbin/runuser"
    }

    /// `$PROXIMA_PG_BIN`, else the newest `/usr/lib/postgresql/<major>/bin` holding `initdb`.
    private static func findBinaries() throws -> String {
        if let given = ProcessInfo.processInfo.environment["PROXIMA_PG_BIN"], !given.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: given + "/initdb") else {
                throw Failure(description: "PostgresCluster: PROXIMA_PG_BIN=\(given) holds no initdb")
            }
            return given
        }
        let root = "/usr/lib/postgresql"
        let majors = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for major in majors where FileManager.default.isExecutableFile(atPath: "\(root)/\(major)/bin/initdb") {
            return "\(root)/\(major)/bin"
        }
        throw Failure(description: "PostgresCluster: no PostgreSQL server binaries in \(root)/*/bin " +
                      "(install Debian's postgresql package: Scripts/setup --for-tests)")
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0).
    private static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "PostgresCluster: socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw Failure(description: "PostgresCluster: bind: \(String(cString: strerror(errno)))") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            throw Failure(description: "PostgresCluster: getsockname: \(String(cString: strerror(errno)))")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
