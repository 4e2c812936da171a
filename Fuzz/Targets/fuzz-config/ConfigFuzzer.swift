import FuzzSupport
import ProximaConfig

// The YAML config loader (Yams compose, duplicate-key marking, the section decoders and their
// validation) on arbitrary text. `ConfigLoader.load` reads no files: paths in the config are only
// resolved against the config file's directory. It must return a configuration or issues, never
// trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func configFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    switch ConfigLoader.load(yaml: text, file: "/etc/proxima/proxima.yaml",
                             environment: ["PROXIMA_ADMIN_TOKEN": "secret", "IPSTACK_KEY": "k"]) {
    case .success(let configuration):
        _ = String(describing: configuration)
    case .failure(let error):
        _ = error.description
    }
    return 0
}

@main
struct ConfigFuzzer {
    static func main() { FuzzDriver.main(configFuzzerTestOneInput) }
}
