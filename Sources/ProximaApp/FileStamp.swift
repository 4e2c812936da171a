#if canImport(Glibc)
import Glibc
#endif

/// A file's identity and version as `stat(2)` reports it: device, inode, size and modification
/// time. Equal stamps mean "the same file, unchanged" for files replaced by rename (how
/// `Scripts/refresh-geoip-db`, editors and package managers install them) or rewritten in place.
struct FileStamp: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var mtimeNanos: Int64

    /// The stamp of `path` now; nil when it cannot be stat'ed.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}
