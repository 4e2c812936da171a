#if canImport(Glibc)
import Glibc
#endif
@testable import ProximaApp
import QueryEngine
import XCTest

/// Issue #12.3: the shell's table memory takes no memory for pages nothing has used. Residency is
/// read with mincore(2), which reports exactly which pages of a mapping are backed.
final class TableMemoryTests: XCTestCase {
    func residentPages(_ p: UnsafeMutableRawPointer, _ bytes: Int) -> Int {
        let page = Int(getpagesize())
        var vector = [UInt8](repeating: 0, count: (bytes + page - 1) / page)
        XCTAssertEqual(mincore(p, bytes, &vector), 0, "mincore: errno \(errno)")
        return vector.filter { $0 & 1 != 0 }.count
    }

    // The RRL buckets (2 MiB by default): zero-filled, unbacked until a bucket is written, and
    // then one 4 KiB page at a time (never a huge page).
    func testRateLimitPagesAreBackedOnlyWhenUsed() throws {
        let memory = TableMemory.lazyPages
        XCTAssertTrue(memory.zeroFilled)
        let bytes = 2 << 20
        let p = try XCTUnwrap(memory.allocate(bytes))
        defer { memory.deallocate(p, bytes) }
        XCTAssertEqual(Int(bitPattern: p) % 64, 0)
        XCTAssertEqual(residentPages(p, bytes), 0)
        p.storeBytes(of: 0xff, toByteOffset: 100_000, as: UInt8.self)
        p.storeBytes(of: 0xff, toByteOffset: 1_500_000, as: UInt8.self)
        XCTAssertEqual(residentPages(p, bytes), 2)
        XCTAssertEqual(p.load(fromByteOffset: 100_001, as: UInt8.self), 0)
        XCTAssertEqual(p.load(fromByteOffset: bytes - 1, as: UInt8.self), 0)
    }

    // Location tables of 2 MiB and more: mapped 2 MiB-aligned (huge pages when the kernel gives
    // them), unbacked until used; smaller ones come zeroed from the allocator.
    func testLocationTableMemory() throws {
        let memory = TableMemory.hugePages
        XCTAssertTrue(memory.zeroFilled)
        let bytes = 4 << 20
        let p = try XCTUnwrap(memory.allocate(bytes))
        XCTAssertEqual(Int(bitPattern: p) % (2 << 20), 0)
        XCTAssertEqual(residentPages(p, bytes), 0)
        p.storeBytes(of: 1, toByteOffset: bytes - 8, as: UInt64.self)
        XCTAssertEqual(p.load(fromByteOffset: bytes - 8, as: UInt64.self), 1)
        memory.deallocate(p, bytes)

        let small = 256 << 10
        let s = try XCTUnwrap(memory.allocate(small))
        defer { memory.deallocate(s, small) }
        XCTAssertEqual(Int(bitPattern: s) % 64, 0)
        let raw = UnsafeRawBufferPointer(start: s, count: small)
        XCTAssertTrue(raw.allSatisfy { $0 == 0 }, "zero-filled")
    }
}
