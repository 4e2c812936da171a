#if PROXIMA_FUZZING
import CLibFuzzer
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fuzz target's `LLVMFuzzerTestOneInput`: one input, 0 to keep going.
public typealias FuzzEntry = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The `main` of every fuzz target.
///
/// Built by `Scripts/fuzz` (`-sanitize=fuzzer,address -DPROXIMA_FUZZING`) it hands the command line
/// to libFuzzer. SwiftPM renames an executable's entry point and links `main` to it, so the target
/// keeps a Swift `@main` and calls `LLVMFuzzerRunDriver` instead of relying on libFuzzer's `main`.
///
/// In a plain build (the normal `swift build`, no sanitizer) it replays inputs: every file named on
/// the command line, and every file in a named directory, runs through the entry once, so a seed
/// corpus or a crash file can be checked without the sanitizer toolchain.
public enum FuzzDriver {
    public static func main(_ entry: FuzzEntry) -> Never {
        #if PROXIMA_FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, entry))
        #else
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty {
            printError("usage: \(CommandLine.arguments[0]) FILE|DIR...  (replays inputs; Scripts/fuzz fuzzes)")
            exit(2)
        }
        var count = 0
        for path in paths {
            for file in files(at: path) {
                guard let bytes = read(file) else {
                    printError("cannot read \(file)")
                    exit(1)
                }
                _ = bytes.withUnsafeBufferPointer { entry($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("replayed \(count) inputs")
        exit(0)
        #endif
    }

    static func printError(_ message: String) {
        var line = message + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// `path` itself, or the regular files directly inside it when it is a directory (sorted).
    static func files(at path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
            if n < buffer.count { return ferror(f) == 0 ? bytes : nil }
        }
    }
}

extension FuzzDriver {
    /// The fuzz input as an array (libFuzzer may pass a null pointer for the empty input).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
        guard let data, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }
}
