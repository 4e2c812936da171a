import DNSWire

/// One reference in a placement tree (the shape of a MaxMind DB search tree).
public enum PlacementRef: Hashable, Sendable {
    /// An inner node, by number.
    case node(UInt32)
    /// A record: every address below holds it (the id is the source's, e.g. a data-section offset).
    case record(UInt32)
    /// No record below.
    case empty
}

/// The address space as the location database divides it: a binary tree whose leaves are records
/// with (or without) coordinates. The answer map walks it; overrides are laid over it by the
/// builder. Implemented over the MaxMind DB search tree by `GeoIP`.
public protocol PlacementSource: Sendable {
    /// Number of inner nodes (node numbers are below it).
    var nodeCount: Int { get }
    /// The root of `family`'s address space (in an IPv6 database, IPv4 is the subtree at `::/96`).
    func root(_ family: AddressFamily) -> PlacementRef
    /// The two children of inner node `node` (bit 0, bit 1); nil when the node cannot be read.
    func children(_ node: UInt32) -> (PlacementRef, PlacementRef)?
    /// The coordinates of a record, nil when it has none (such clients are not placed by it).
    func coordinate(ofRecord record: UInt32) -> Coordinate?
}

/// The answer map of one routed pool and family (issue #12.1): the address space cut into the
/// widest aligned blocks inside which every client gets the same answer (`AnswerKey`), as a binary
/// trie whose sibling leaves with equal answers are merged. A lookup walks the address's bits to a
/// leaf; the depth of the leaf is the block's prefix, the ECS scope that stays exact.
///
/// Built off the query path from the database's networks, the overrides and the route's policy at
/// the current health and load; immutable after. A leaf is a class: clients that the database and
/// overrides do not place (`AnswerMap.unplaced`), or one `AnswerKey`.
public final class AnswerMap: Sendable {
    /// Class index of clients the map does not place (today's path answers them).
    public static let unplaced: Int32 = 0
    static let leafBit: UInt32 = 0x8000_0000

    /// Bits in an address of the family: 32 or 128.
    public let width: Int
    /// Two refs per node (bit 0, bit 1): a node index, or `leafBit | class`.
    let nodes: [UInt32]
    let root: UInt32
    /// Per class (index 0 is `unplaced`): its key, nil for `unplaced`.
    public let keys: [AnswerKey?]
    /// Per class: the fixed answer's addresses, flattened; `answerStart[c]..<answerStart[c+1]`.
    let answers: [IPAddress]
    let answerStart: [Int32]
    /// Per class: true when the answer needs the query's draw (or the class is `unplaced`).
    let needsDraw: [Bool]
    /// Per class: true when an override placed its clients (else the database did).
    let byOverride: [Bool]
    /// IPv4 maps: the ref reached after the first 16 bits of each /16 (or the leaf met earlier, with
    /// its depth in `topDepth`), so a lookup starts 16 levels down (gdnsd's trick as well).
    let top: [UInt32]
    let topDepth: [UInt8]
    static let topBits = 16

    /// Number of trie nodes.
    public var nodeCount: Int { nodes.count / 2 }
    /// Approximate bytes held (the trie and the class tables).
    public var byteCount: Int {
        nodes.count * 4 + top.count * 5 + answers.count * MemoryLayout<IPAddress>.stride + keys.count * 48
    }

    /// The class and block prefix of an IPv4 address (as `UInt32`, network order bits).
    @inline(__always)
    public func lookup(v4 a: UInt32) -> (cls: Int32, prefix: Int) {
        guard top.count == 1 << AnswerMap.topBits else { return lookup(hi: UInt64(a) << 32, lo: 0) }
        let i = Int(a >> UInt32(32 - AnswerMap.topBits))
        var ref = top[i]
        var depth = Int(topDepth[i])
        guard ref & AnswerMap.leafBit == 0 else { return (Int32(bitPattern: ref & ~AnswerMap.leafBit), depth) }
        return nodes.withUnsafeBufferPointer { n in
            while ref & AnswerMap.leafBit == 0 {
                guard depth < 32 else { return (AnswerMap.unplaced, 32) }
                ref = n[Int(ref) * 2 + Int((a >> UInt32(31 - depth)) & 1)]
                depth += 1
            }
            return (Int32(bitPattern: ref & ~AnswerMap.leafBit), depth)
        }
    }

    /// The class and block prefix of an address given as 128 bits (IPv4 in the top 32 bits of `hi`).
    @inline(__always)
    public func lookup(hi: UInt64, lo: UInt64) -> (cls: Int32, prefix: Int) {
        var ref = root
        var depth = 0
        return nodes.withUnsafeBufferPointer { n in
            while ref & AnswerMap.leafBit == 0 {
                guard depth < width else { return (AnswerMap.unplaced, width) }
                let bit = depth < 64 ? (hi >> UInt64(63 - depth)) & 1 : (lo >> UInt64(127 - depth)) & 1
                ref = n[Int(ref) * 2 + Int(bit)]
                depth += 1
            }
            return (Int32(bitPattern: ref & ~AnswerMap.leafBit), depth)
        }
    }

    /// The class and block prefix of `address` (its family must be the map's).
    public func lookup(_ address: IPAddress) -> (cls: Int32, prefix: Int) {
        switch address {
        case .v4(let v) where width == 32: return lookup(v4: v)
        case .v4(let v): return lookup(hi: UInt64(v) << 32, lo: 0)
        case .v6(let hi, let lo): return lookup(hi: hi, lo: lo)
        }
    }

    /// The fixed answer of class `cls`, or nil when the class needs the query's draw or is
    /// `unplaced`.
    public func fixedAnswer(_ cls: Int32) -> ArraySlice<IPAddress>? {
        fixedRange(cls).map { answers[$0] }
    }

    /// Where the fixed answer of class `cls` is (`answer(at:)`), or nil when the class needs the
    /// query's draw or is `unplaced` (the query path's form: no array is retained).
    @inline(__always)
    public func fixedRange(_ cls: Int32) -> Range<Int>? {
        let c = Int(cls)
        guard c > 0, c < needsDraw.count, !needsDraw[c] else { return nil }
        return Int(answerStart[c])..<Int(answerStart[c + 1])
    }

    /// One address of a fixed answer (`fixedRange`).
    @inline(__always)
    public func answer(at i: Int) -> IPAddress { answers[i] }

    init(width: Int, nodes: [UInt32], root: UInt32, keys: [AnswerKey?], answers: [IPAddress], answerStart: [Int32],
         needsDraw: [Bool], byOverride: [Bool], top: [UInt32], topDepth: [UInt8]) {
        self.width = width
        self.nodes = nodes
        self.root = root
        self.keys = keys
        self.answers = answers
        self.answerStart = answerStart
        self.needsDraw = needsDraw
        self.byOverride = byOverride
        self.top = top
        self.topDepth = topDepth
    }

    /// True when class `cls` is a placed client's (has a key).
    @inline(__always)
    public func isPlaced(_ cls: Int32) -> Bool { cls > 0 && Int(cls) < keys.count }

    /// True when an override placed the clients of class `cls` (else the database did).
    @inline(__always)
    public func placedByOverride(_ cls: Int32) -> Bool { cls > 0 && Int(cls) < byOverride.count && byOverride[Int(cls)] }

    /// Number of classes, `unplaced` included.
    public var classCount: Int { keys.count }
}

extension AnswerMap {
    /// Builds the map of `family` over `source` with `overrides` laid over it (the longest
    /// matching override wins, as in the locator), classifying each location with `key`
    /// (nil: not placed). `key` is called once per distinct coordinate.
    ///
    /// Cost: one visit per source node reachable from the family's root (aliased subtrees once,
    /// unless an override lies inside them), plus one `key` call per distinct coordinate.
    public static func build(source: any PlacementSource, family: AddressFamily, overrides: [LocationOverride],
                             key: @escaping (Coordinate) -> AnswerKey?) -> AnswerMap {
        var b = Builder(source: source, width: family == .v4 ? 32 : 128,
                        overrides: overrides.filter { AddressFamily(of: $0.network.address) == family },
                        key: key)
        let rootOverride = b.exact[Builder.OverrideKey(hi: 0, lo: 0, length: 0)]
        let root = b.walk(source.root(family), hi: 0, lo: 0, depth: 0, override: rootOverride)
        var answers: [IPAddress] = []
        var starts: [Int32] = [0]
        var draws: [Bool] = []
        for k in b.keys {
            if let fixed = k?.fixedAnswer {
                answers.append(contentsOf: fixed)
                draws.append(false)
            } else {
                draws.append(true)
            }
            starts.append(Int32(answers.count))
        }
        var top: [UInt32] = []
        var topDepth: [UInt8] = []
        if family == .v4 {
            top.reserveCapacity(1 << topBits)
            topDepth.reserveCapacity(1 << topBits)
            for prefix in 0..<(1 << topBits) {
                var ref = root
                var depth = 0
                while ref & leafBit == 0 && depth < topBits {
                    ref = b.nodes[Int(ref) * 2 + ((prefix >> (topBits - 1 - depth)) & 1)]
                    depth += 1
                }
                top.append(ref)
                topDepth.append(UInt8(depth))
            }
        }
        return AnswerMap(width: b.width, nodes: b.nodes, root: root, keys: b.keys, answers: answers,
                         answerStart: starts, needsDraw: draws, byOverride: b.byOverride, top: top, topDepth: topDepth)
    }

    /// The bottom-up merge: a subtree whose two halves are leaves of one class becomes that leaf.
    struct Builder {
        let source: any PlacementSource
        let width: Int
        /// Overrides of the family, sorted by address then prefix length.
        let overrides: [(hi: UInt64, lo: UInt64, length: Int, coordinate: Coordinate)]
        let exact: [OverrideKey: Coordinate]
        let key: (Coordinate) -> AnswerKey?
        var nodes: [UInt32] = []
        var keys: [AnswerKey?] = [nil]
        var byOverride: [Bool] = [false]
        /// Classes by key and whether an override placed them (kept apart for the metrics' label).
        var classOfKey: [ClassKey: UInt32] = [:]
        var classOfCoordinate: [Coordinate: UInt32] = [:]
        var classOfOverride: [Coordinate: UInt32] = [:]

        struct ClassKey: Hashable {
            var key: AnswerKey
            var byOverride: Bool
        }
        var classOfRecord: [UInt32: UInt32] = [:]
        /// Per source node: the merged ref, when no override lies inside (0xFFFF_FFFF: not yet).
        var memo: [UInt32]

        struct OverrideKey: Hashable {
            var hi: UInt64
            var lo: UInt64
            var length: Int
        }

        init(source: any PlacementSource, width: Int, overrides: [LocationOverride],
             key: @escaping (Coordinate) -> AnswerKey?) {
            self.source = source
            self.width = width
            self.key = key
            var list: [(hi: UInt64, lo: UInt64, length: Int, coordinate: Coordinate)] = []
            var exact: [OverrideKey: Coordinate] = [:]
            for o in overrides {
                let (hi, lo) = Builder.bits(o.network.address)
                list.append((hi, lo, o.network.prefixLength, o.coordinate))
                exact[OverrideKey(hi: hi, lo: lo, length: o.network.prefixLength)] = o.coordinate
            }
            list.sort { ($0.hi, $0.lo, $0.length) < ($1.hi, $1.lo, $1.length) }
            self.overrides = list
            self.exact = exact
            memo = Array(repeating: .max, count: max(0, source.nodeCount))
        }

        static func bits(_ a: IPAddress) -> (UInt64, UInt64) {
            switch a {
            case .v4(let v): return (UInt64(v) << 32, 0)
            case .v6(let hi, let lo): return (hi, lo)
            }
        }

        /// The last address of the block `hi:lo/depth`.
        func blockEnd(_ hi: UInt64, _ lo: UInt64, _ depth: Int) -> (UInt64, UInt64) {
            if depth >= 128 { return (hi, lo) }
            if depth >= 64 { return (hi, lo | (UInt64.max >> UInt64(depth - 64))) }
            return (hi | (depth == 0 ? .max : UInt64.max >> UInt64(depth)), .max)
        }

        /// True when an override more specific than `depth` starts inside the block.
        func overrideInside(_ hi: UInt64, _ lo: UInt64, _ depth: Int) -> Bool {
            guard !overrides.isEmpty else { return false }
            let end = blockEnd(hi, lo, depth)
            // First override at or after the block's start.
            var lower = 0
            var upper = overrides.count
            while lower < upper {
                let mid = (lower + upper) / 2
                if (overrides[mid].hi, overrides[mid].lo) < (hi, lo) { lower = mid + 1 } else { upper = mid }
            }
            var i = lower
            while i < overrides.count, (overrides[i].hi, overrides[i].lo) <= end {
                if overrides[i].length > depth { return true }
                i += 1
            }
            return false
        }

        mutating func leaf(_ coordinate: Coordinate?, override: Bool = false) -> UInt32 {
            guard let coordinate else { return AnswerMap.leafBit }
            if let c = override ? classOfOverride[coordinate] : classOfCoordinate[coordinate] {
                return AnswerMap.leafBit | c
            }
            var cls: UInt32 = 0
            if let k = key(coordinate) {
                let ck = ClassKey(key: k, byOverride: override)
                if let c = classOfKey[ck] {
                    cls = c
                } else {
                    cls = UInt32(keys.count)
                    keys.append(k)
                    byOverride.append(override)
                    classOfKey[ck] = cls
                }
            }
            if override { classOfOverride[coordinate] = cls } else { classOfCoordinate[coordinate] = cls }
            return AnswerMap.leafBit | cls
        }

        mutating func recordLeaf(_ record: UInt32) -> UInt32 {
            if let c = classOfRecord[record] { return c }
            let ref = leaf(source.coordinate(ofRecord: record))
            classOfRecord[record] = ref
            return ref
        }

        mutating func walk(_ ref: PlacementRef, hi: UInt64, lo: UInt64, depth: Int, override: Coordinate?) -> UInt32 {
            let inside = overrideInside(hi, lo, depth)
            if !inside {
                if let override { return leaf(override, override: true) }
                switch ref {
                case .empty: return AnswerMap.leafBit
                case .record(let r): return recordLeaf(r)
                case .node(let n):
                    if Int(n) < memo.count, memo[Int(n)] != .max { return memo[Int(n)] }
                }
            }
            guard depth < width else { return AnswerMap.leafBit }  // a tree deeper than the family: corrupt
            var children: (PlacementRef, PlacementRef) = (ref, ref)
            if case .node(let n) = ref {
                guard let c = source.children(n) else { return AnswerMap.leafBit }
                children = c
            }
            var refs: (UInt32, UInt32) = (0, 0)
            for bit in 0...1 {
                var (chi, clo) = (hi, lo)
                if bit == 1 {
                    if depth < 64 { chi |= 1 << UInt64(63 - depth) } else { clo |= 1 << UInt64(127 - depth) }
                }
                var childOverride = override
                if inside, let c = exact[OverrideKey(hi: chi, lo: clo, length: depth + 1)] { childOverride = c }
                let r = walk(bit == 0 ? children.0 : children.1, hi: chi, lo: clo, depth: depth + 1,
                             override: childOverride)
                if bit == 0 { refs.0 = r } else { refs.1 = r }
            }
            let result: UInt32
            if refs.0 == refs.1 && refs.0 & AnswerMap.leafBit != 0 {
                result = refs.0
            } else {
                result = UInt32(nodes.count / 2)
                nodes.append(refs.0)
                nodes.append(refs.1)
            }
            if !inside, case .node(let n) = ref, Int(n) < memo.count { memo[Int(n)] = result }
            return result
        }
    }
}
