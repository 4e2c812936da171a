import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ProximaApp
import ProximaConfig

/// How `proxima` subcommands reach a running server's admin API: through the Unix-domain socket
/// by default (its path from the config's `admin.socket`; access to the file is the credential),
/// or through a TCP URL with a bearer token from a file or variable (never from the command
/// line, where `ps` would show it).
struct AdminTarget {
    /// The request base: `http+unix://<socket>` or the URL as given.
    let base: String
    /// The bearer token (TCP only).
    let token: String?
    /// What to show in messages.
    let label: String

    /// `--admin` as given (a URL or a socket path), else the config's socket.
    static func resolve(admin: String?, configPath: String, tokenFile: String?, tokenEnv: String) throws -> AdminTarget {
        if let admin, admin.hasPrefix("http://") || admin.hasPrefix("https://") {
            var token: String?
            if let tokenFile {
                do {
                    token = try ProximaServer.readTokenFile(tokenFile)
                } catch {
                    throw ValidationError("--token-file: \(error)")
                }
            } else if let value = ProcessInfo.processInfo.environment[tokenEnv], !value.isEmpty {
                token = value
            }
            let base = admin.hasSuffix("/") ? String(admin.dropLast()) : admin
            return AdminTarget(base: base, token: token, label: admin)
        }
        let path: String
        if let admin {
            path = admin.hasPrefix("/") ? admin : FileManager.default.currentDirectoryPath + "/" + admin
        } else {
            guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
                throw ValidationError("cannot read \(configPath) to find the admin socket; pass --admin PATH or URL")
            }
            switch ConfigLoader.load(yaml: text, file: configPath, environment: [:],
                                     workingDirectory: FileManager.default.currentDirectoryPath) {
            case .failure(let error):
                throw ValidationError("\(configPath): \(error)")
            case .success(let config):
                guard let socket = config.admin?.socket else {
                    throw ValidationError("\(configPath) configures no admin socket (admin.socket); pass --admin PATH or URL")
                }
                path = socket
            }
        }
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path
        return AdminTarget(base: "http+unix://\(encoded)", token: nil, label: path)
    }

    /// Sends one request; returns the status and body, or exits 1 with the transport error.
    func send(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            try? await client.shutdown()
            return (Int(response.status.code), String(buffer: body))
        } catch {
            try? await client.shutdown()
            FileHandle.standardError.write(Data("admin API \(label): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `proxima force`: forces a backend up or down (or clears it) on the running server.
struct Force: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Force a backend up or down on the running server, or clear the override (none).",
        discussion: """
        Talks to the admin API through its Unix socket (admin.socket in the config) unless --admin names \
        another socket or a URL; over TCP the admin token comes from --token-file or --token-env.

        Examples:
          proxima force 192.0.2.10 down
          proxima force 192.0.2.10 none --config /etc/proxima/proxima.yaml
          proxima force 192.0.2.10 up --admin https://ns1.example:8053 --token-file /etc/proxima/admin.token
        """)

    @Argument(help: "Backend address.")
    var ip: String

    @Argument(help: "up, down or none.")
    var state: String

    @Option(name: .shortAndLong, help: "Path of the YAML config file (to find admin.socket).")
    var config: String = "config/proxima.yaml"

    @Option(name: .long, help: "Admin socket path or URL (default: the config's admin.socket).")
    var admin: String?

    @Option(name: .customLong("token-file"), help: "File holding the admin token (TCP URLs only).")
    var tokenFile: String?

    @Option(name: .customLong("token-env"), help: "Environment variable holding the admin token (TCP URLs only).")
    var tokenEnv: String = "PROXIMA_ADMIN_TOKEN"

    func validate() throws {
        guard ["up", "down", "none"].contains(state.lowercased()) else { throw ValidationError("state must be up, down or none") }
    }

    func run() async throws {
        let target = try AdminTarget.resolve(admin: admin, configPath: config, tokenFile: tokenFile, tokenEnv: tokenEnv)
        let escaped = ip.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".:"))) ?? ip
        let reply = try await target.send(.POST, "/backends/\(escaped)/force", json: #"{"state":"\#(state.lowercased())"}"#)
        guard reply.status == 200 else {
            FileHandle.standardError.write(Data("admin API: HTTP \(reply.status): \(reply.body)".utf8))
            throw ExitCode(1)
        }
        print(reply.body, terminator: "")
    }
}
