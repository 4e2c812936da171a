import DDNS
import DNSWire
import ProximaConfig

/// The managed block of a hosts file that `proxima ddns hosts` owns:
///
///     # BEGIN proxima silo1
///     203.0.113.7	dbserver.silo1.dyn.example.test dbserver
///     # END proxima silo1
///
/// Pure: bytes in, bytes out. The file is handled as bytes, not text, so lines that are not UTF-8
/// come back exactly as they were; only the block between the markers is ever replaced. Line
/// endings follow the file (CRLF when its first line ends in CRLF).
public enum HostsFileBlock {
    /// What to do with the file.
    public enum Outcome: Sendable, Hashable {
        /// The block already says exactly this: write nothing.
        case unchanged
        /// The whole new file.
        case rewritten([UInt8])
    }

    /// A file whose markers for this silo do not form one block: refused, the file is left alone.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case beginWithoutEnd(line: Int)
        case endWithoutBegin(line: Int)
        case secondBlock(line: Int, first: Int)

        public var description: String {
            switch self {
            case .beginWithoutEnd(let line): return "line \(line): BEGIN marker without a matching END marker"
            case .endWithoutBegin(let line): return "line \(line): END marker without a BEGIN marker before it"
            case .secondBlock(let line, let first): return "line \(line): a second block for this silo (the first begins at line \(first))"
            }
        }
    }

    /// `# BEGIN proxima <silo>`.
    public static func beginMarker(silo: String) -> String { "# BEGIN proxima \(silo)" }
    /// `# END proxima <silo>`.
    public static func endMarker(silo: String) -> String { "# END proxima \(silo)" }

    /// The block's lines for a silo's records, sorted (by name, then IPv4 before IPv6, then
    /// address) so that the same records always give the same bytes. A label `h` becomes
    /// `ip<TAB>FQDN h`, FQDN being the name the server says the record is served at
    /// (`servedNames`, parallel to the records), else `h.<silo>.<zone>`; just `ip<TAB>h` when
    /// neither is known. An absolute name `www.example.test.` becomes `ip<TAB>www.example.test`.
    /// Records whose names are not valid host names (the server is not trusted to have checked)
    /// are left out and returned in `skipped`, so nothing the server sends can inject another
    /// line or a comment.
    public static func lines(for silo: Silo, servedNames: [String?] = [], zone: String?) -> (lines: [String], skipped: [String]) {
        var entries: [(name: String, address: IPAddress, text: String)] = []
        var skipped: [String] = []
        for (index, record) in silo.records.enumerated() {
            guard case .success(let name) = DDNSClientRules.hostname(record.hostname),
                  case .success(let siloID) = DDNSClientRules.siloID(silo.id) else {
                skipped.append(String(record.hostname.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" }))
                continue
            }
            let address = record.address.mappedIPv4 ?? record.address
            let text: String
            if name.hasSuffix(".") {
                text = "\(address)\t\(name.dropLast())"
            } else if index < servedNames.count, let served = servedNames[index],
                      case .success(let fqdn) = DDNSClientRules.hostname(served.hasSuffix(".") ? served : served + "."),
                      fqdn.hasPrefix(name + ".") {
                text = "\(address)\t\(fqdn.dropLast()) \(name)"
            } else if let zone {
                text = "\(address)\t\(name).\(siloID).\(zone) \(name)"
            } else {
                text = "\(address)\t\(name)"
            }
            entries.append((name, address, text))
        }
        entries.sort { a, b in
            if a.name != b.name { return a.name < b.name }
            if a.address.family != b.address.family { return a.address.family < b.address.family }
            return a.address < b.address
        }
        var seen = Set<String>()
        let lines = entries.map(\.text).filter { seen.insert($0).inserted }
        return (lines, skipped)
    }

    /// Replaces (or appends) the silo's block in `file` with `lines`.
    ///
    /// - No block and no lines: unchanged (an empty silo adds nothing to a file it is not in).
    /// - No block: the block is appended (after a line break if the file lacks a final one).
    /// - One block: its contents are replaced; unchanged when they are already `lines`.
    /// - BEGIN without END, END without BEGIN, or two blocks: `Problem`, and nothing is written.
    /// Markers are matched exactly, ignoring trailing blanks and CR, so `silo1` never matches
    /// `silo10`'s block.
    public static func rewrite(_ file: [UInt8], silo: String, lines: [String]) -> Result<Outcome, Problem> {
        let begin = Array(beginMarker(silo: silo).utf8)
        let end = Array(endMarker(silo: silo).utf8)
        let crlf = usesCRLF(file)
        let eol: [UInt8] = crlf ? [0x0D, 0x0A] : [0x0A]

        // Split into lines with their byte ranges (each range includes its line ending).
        var ranges: [Range<Int>] = []
        var start = 0
        for i in file.indices where file[i] == 0x0A {
            ranges.append(start..<(i + 1))
            start = i + 1
        }
        if start < file.count { ranges.append(start..<file.count) }

        var blockStart: (index: Int, line: Int)?
        var block: (first: Int, last: Int)?
        for (index, range) in ranges.enumerated() {
            let content = trimmed(file[range])
            if content.elementsEqual(begin) {
                if let open = blockStart { return .failure(.beginWithoutEnd(line: open.line)) }
                if let block { return .failure(.secondBlock(line: index + 1, first: block.first + 1)) }
                blockStart = (index, index + 1)
            } else if content.elementsEqual(end) {
                guard let open = blockStart else { return .failure(.endWithoutBegin(line: index + 1)) }
                block = (open.index, index)
                blockStart = nil
            }
        }
        if let open = blockStart { return .failure(.beginWithoutEnd(line: open.line)) }

        var newBlock: [UInt8] = begin + eol
        for line in lines { newBlock += Array(line.utf8) + eol }
        newBlock += end + eol

        guard let block else {
            if lines.isEmpty { return .success(.unchanged) }
            var out = file
            if let last = out.last, last != 0x0A { out += eol }
            out += newBlock
            return .success(.rewritten(out))
        }
        let from = ranges[block.first].lowerBound
        let to = ranges[block.last].upperBound
        var replacement = newBlock
        // The END line had no line break (last line of the file): keep it without one.
        if file[to - 1] != 0x0A { replacement.removeLast(eol.count) }
        if file[from..<to].elementsEqual(replacement) { return .success(.unchanged) }
        return .success(.rewritten(Array(file[..<from]) + replacement + Array(file[to...])))
    }

    /// True when the file's first line ends in CR LF.
    static func usesCRLF(_ file: [UInt8]) -> Bool {
        guard let newline = file.firstIndex(of: 0x0A) else { return false }
        return newline > 0 && file[newline - 1] == 0x0D
    }

    /// A line without its line ending and trailing blanks.
    static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var line = line
        while let last = line.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { line.removeLast() }
        return line
    }
}
