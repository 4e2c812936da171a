// A self-signed certificate for 127.0.0.1, made with the openssl CLI (Scripts/setup --for-tests
// installs it). Shared by the TLS tests of AdminAPITests and DDNSTests: DDNSTests compiles this
// same file through a symlink (test targets cannot depend on each other).
import Foundation

enum SelfSignedCertificate {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Writes `<name>.crt` and `<name>.key` into `directory` and returns their paths.
    static func make(in directory: String, name: String) throws -> (cert: String, key: String) {
        let cert = directory + "/\(name).crt"
        let key = directory + "/\(name).key"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                             "-keyout", key, "-out", cert]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl req failed (\(process.terminationStatus)); install openssl")
        }
        return (cert, key)
    }
}
