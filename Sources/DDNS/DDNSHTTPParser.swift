// The DDNS listener's HTTP/1.x request parser. Pure (no NIO types), so fuzz-ddns compiles this
// file itself.

/// The request header fields the API reads, collected while the head is parsed (names compared
/// case-insensitively, RFC 9110 §5.1). The first of repeated single-valued fields counts.
struct DDNSRequestFields: Equatable {
    var authorization: String?
    var origin: String?
    var secFetchSite: String?
    var forwardedFor: [String] = []
    /// `Content-Length` (checked by the parser: digits only, repeated fields equal); `Int.max`
    /// stands for a number too long to be a size anyone would send.
    var contentLength: Int?
    /// `Expect: 100-continue` (any element of the list, any case).
    var expectsContinue = false

    init() {}

    /// Takes one field line's name and value (value without surrounding blanks), if it is one of
    /// the fields above (`Content-Length` is the parser's: it checks the value first).
    mutating func take(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        switch name.count {
        case 6 where Self.named(name, "origin"):
            if origin == nil { origin = String(decoding: value, as: UTF8.self) }
        case 6 where Self.named(name, "expect"):
            // A list (RFC 9110 §10.1.1, §5.6.1): any element, blanks around it ignored.
            expectsContinue = expectsContinue || DDNSHTTPParser.listElements(value).contains {
                Self.named(UnsafeRawBufferPointer(rebasing: value[$0]), "100-continue")
            }
        case 13 where Self.named(name, "authorization"):
            if authorization == nil { authorization = String(decoding: value, as: UTF8.self) }
        case 14 where Self.named(name, "sec-fetch-site"):
            if secFetchSite == nil { secFetchSite = String(decoding: value, as: UTF8.self) }
        case 15 where Self.named(name, "x-forwarded-for"):
            forwardedFor.append(String(decoding: value, as: UTF8.self))
        default:
            break
        }
    }

    /// `name` is `lowercase` in any ASCII case.
    static func named(_ name: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        let wanted = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        guard name.count == wanted.count else { return false }
        return zip(name, wanted).allSatisfy { byte, want in
            (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == want
        }
    }
}

/// A request's head as the API needs it.
struct DDNSHTTPRequestHead: Equatable {
    var method: String
    var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (the only versions accepted).
    var minorVersion: Int
    var fields: DDNSRequestFields
    /// False when the connection closes after the reply: HTTP/1.0 without `Connection:
    /// keep-alive`, or `Connection: close`.
    var keepAlive: Bool
}

/// Why a request could not be read: the status to answer with (400, 431, 501 or 505) and what
/// was wrong. The connection closes after the reply (the stream cannot be resynchronised).
struct DDNSHTTPFailure: Error, Equatable {
    var status: Int
    var message: String
}

/// Reads HTTP/1.0 and HTTP/1.1 requests (RFC 9112) from a connection's bytes as they arrive: a
/// head, the body's bytes (as ranges of the input, not copied), the end; then the next request.
///
/// It replaced NIO's general decoder on the DDNS listener, where every update is one request and
/// the decoder's header list, its strings and its callbacks were the largest part of an update's
/// cost on the core the DNS workers use. It is strict where leniency lets two parsers read one
/// stream differently (RFC 9112 §11.2), and bounded:
/// - request line `METHOD SP target SP HTTP/1.x`, single spaces; the method a token, the target
///   visible ASCII; other versions 505;
/// - lines end in CRLF or a lone LF (§2.2 allows it); a CR elsewhere is refused, as are
///   obs-fold continuation lines (§5.2), blanks before a field's colon (§5.1) and control
///   characters in values (§5.5);
/// - up to `maxLeadingEmptyLines` empty lines before a request are skipped (§2.2);
/// - the head (request line and fields) is at most `maxHeadBytes` (431 past it), as are the
///   trailer fields of a chunked body (read and discarded);
/// - HTTP/1.1 needs exactly one `Host` and any version at most one (§3.2);
/// - the body is framed by `Content-Length` (digits only; repeated fields must agree) or by
///   `Transfer-Encoding: chunked` as the only coding (another final coding is 400, other codings
///   501, §6.1), never both and never a transfer coding in HTTP/1.0 (§6.1, §6.3); neither means
///   no body;
/// - a chunk-size line (size and ignored extensions) is at most `maxChunkLineBytes`.
///
/// The body's size limit is the caller's (it stops reading and answers 413).
struct DDNSHTTPParser {
    enum Event: Equatable {
        case head(DDNSHTTPRequestHead)
        /// Body bytes: this range of the input given to `next`.
        case body(Range<Int>)
        case end
    }

    static let maxHeadBytes = 16_384
    static let maxLeadingEmptyLines = 8
    static let maxChunkLineBytes = 1_024

    private enum State {
        /// Before a request (or in its head). `scanned`: bytes of complete, non-empty lines
        /// already looked at, so a head that arrives in pieces is scanned once.
        case head(scanned: Int)
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(scanned: Int)
        case failed(DDNSHTTPFailure)
    }

    private var state = State.head(scanned: 0)
    private var emptyLines = 0

    init() {}

    /// Reads from the start of `input` (the bytes not yet consumed): returns the next event, if
    /// `input` holds one, and how many bytes of `input` are used up (also when there is no event
    /// yet; the caller drops them and calls again with what follows and any new bytes).
    mutating func next(_ input: UnsafeRawBufferPointer) throws(DDNSHTTPFailure) -> (event: Event?, consumed: Int) {
        var offset = 0
        do throws(DDNSHTTPFailure) {
            while true {
                switch state {
                case .failed(let failure):
                    throw failure
                case .head(let scanned):
                    if scanned == 0, let skip = Self.emptyLine(input, at: offset) {
                        emptyLines += 1
                        guard emptyLines <= Self.maxLeadingEmptyLines else {
                            throw DDNSHTTPFailure(status: 400, message: "more than \(Self.maxLeadingEmptyLines) empty lines before a request")
                        }
                        offset += skip
                        continue
                    }
                    let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
                    switch Self.sectionEnd(rest, scanned: scanned) {
                    case .incomplete(let scannedNow):
                        state = .head(scanned: scannedNow)
                        return (nil, offset)
                    case .tooLarge:
                        throw DDNSHTTPFailure(status: 431, message: "request head over \(Self.maxHeadBytes) bytes")
                    case .end(let length):
                        let head = try parseHead(UnsafeRawBufferPointer(rebasing: rest[..<length]))
                        emptyLines = 0
                        return (.head(head), offset + length)
                    }
                case .fixed(let remaining):
                    if remaining == 0 {
                        state = .head(scanned: 0)
                        return (.end, offset)
                    }
                    let count = min(remaining, input.count - offset)
                    guard count > 0 else { return (nil, offset) }
                    state = .fixed(remaining: remaining - count)
                    return (.body(offset..<offset + count), offset + count)
                case .chunkData(let remaining):
                    if remaining == 0 {
                        state = .chunkDataEnd
                        continue
                    }
                    let count = min(remaining, input.count - offset)
                    guard count > 0 else { return (nil, offset) }
                    state = .chunkData(remaining: remaining - count)
                    return (.body(offset..<offset + count), offset + count)
                case .chunkDataEnd:
                    guard offset < input.count else { return (nil, offset) }
                    if input[offset] == 0x0A {
                        offset += 1
                    } else if input[offset] == 0x0D {
                        guard offset + 1 < input.count else { return (nil, offset) }
                        guard input[offset + 1] == 0x0A else { throw Self.bareCR }
                        offset += 2
                    } else {
                        throw DDNSHTTPFailure(status: 400, message: "chunk data longer than its size")
                    }
                    state = .chunkSize
                case .chunkSize:
                    let window = min(input.count - offset, Self.maxChunkLineBytes)
                    guard let lf = (offset..<offset + window).first(where: { input[$0] == 0x0A }) else {
                        guard window < Self.maxChunkLineBytes else {
                            throw DDNSHTTPFailure(status: 400, message: "chunk-size line over \(Self.maxChunkLineBytes) bytes")
                        }
                        return (nil, offset)
                    }
                    let size = try Self.chunkSize(UnsafeRawBufferPointer(rebasing: input[offset..<lf]))
                    offset = lf + 1
                    state = size == 0 ? .trailers(scanned: 0) : .chunkData(remaining: size)
                case .trailers(let scanned):
                    let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
                    if scanned == 0, let skip = Self.emptyLine(rest, at: 0) {
                        state = .head(scanned: 0)
                        return (.end, offset + skip)
                    }
                    switch Self.sectionEnd(rest, scanned: scanned) {
                    case .incomplete(let scannedNow):
                        state = .trailers(scanned: scannedNow)
                        return (nil, offset)
                    case .tooLarge:
                        throw DDNSHTTPFailure(status: 431, message: "trailer fields over \(Self.maxHeadBytes) bytes")
                    case .end(let length):
                        let section = UnsafeRawBufferPointer(rebasing: rest[..<length])
                        var position = 0
                        while try Self.nextField(section, at: &position) != nil {}
                        state = .head(scanned: 0)
                        return (.end, offset + length)
                    }
                }
            }
        } catch {
            state = .failed(error)
            throw error
        }
    }

    // MARK: - The head

    private mutating func parseHead(_ head: UnsafeRawBufferPointer) throws(DDNSHTTPFailure) -> DDNSHTTPRequestHead {
        // The request line (every line of the section ends in LF, the last one empty).
        var lineEnd = 0
        while head[lineEnd] != 0x0A { lineEnd += 1 }
        let requestLine = UnsafeRawBufferPointer(rebasing: head[..<(lineEnd > 0 && head[lineEnd - 1] == 0x0D ? lineEnd - 1 : lineEnd)])
        let (method, target, minor) = try Self.requestLine(requestLine)
        var fields = DDNSRequestFields()
        var hosts = 0
        var contentLength: Int?
        var transferCodings: [UnsafeRawBufferPointer] = []
        var sawTransferEncoding = false
        var close = false
        var keepAliveToken = false
        var position = lineEnd + 1
        while let (nameRange, valueRange) = try Self.nextField(head, at: &position) {
            let name = UnsafeRawBufferPointer(rebasing: head[nameRange])
            let value = UnsafeRawBufferPointer(rebasing: head[valueRange])
            switch name.count {
            case 4 where DDNSRequestFields.named(name, "host"):
                hosts += 1
            case 10 where DDNSRequestFields.named(name, "connection"):
                for element in Self.listElements(value) {
                    let token = UnsafeRawBufferPointer(rebasing: value[element])
                    if DDNSRequestFields.named(token, "close") { close = true }
                    if DDNSRequestFields.named(token, "keep-alive") { keepAliveToken = true }
                }
            case 14 where DDNSRequestFields.named(name, "content-length"):
                let length = try Self.contentLength(value)
                if let contentLength, contentLength != length {
                    throw DDNSHTTPFailure(status: 400, message: "Content-Length fields disagree")
                }
                contentLength = length
            case 17 where DDNSRequestFields.named(name, "transfer-encoding"):
                sawTransferEncoding = true
                transferCodings += Self.listElements(value).map { UnsafeRawBufferPointer(rebasing: value[$0]) }
            default:
                fields.take(name: name, value: value)
            }
        }
        guard hosts <= 1 else {
            throw DDNSHTTPFailure(status: 400, message: "more than one Host field")
        }
        guard hosts == 1 || minor == 0 else {
            throw DDNSHTTPFailure(status: 400, message: "an HTTP/1.1 request without a Host field")
        }
        if sawTransferEncoding {
            guard minor == 1 else {
                throw DDNSHTTPFailure(status: 400, message: "Transfer-Encoding in an HTTP/1.0 request")
            }
            guard contentLength == nil else {
                throw DDNSHTTPFailure(status: 400, message: "both Content-Length and Transfer-Encoding")
            }
            guard let last = transferCodings.last, DDNSRequestFields.named(last, "chunked") else {
                throw DDNSHTTPFailure(status: 400, message: "Transfer-Encoding whose last coding is not chunked")
            }
            guard transferCodings.count == 1 else {
                throw DDNSHTTPFailure(status: 501, message: "transfer codings other than chunked are not supported")
            }
            state = .chunkSize
        } else {
            state = .fixed(remaining: contentLength ?? 0)
        }
        fields.contentLength = contentLength
        return DDNSHTTPRequestHead(method: method, target: target, minorVersion: minor, fields: fields,
                                   keepAlive: !close && (minor == 1 || keepAliveToken))
    }

    private static func requestLine(_ line: UnsafeRawBufferPointer) throws(DDNSHTTPFailure) -> (String, String, Int) {
        if line.contains(0x0D) { throw bareCR }
        let malformed = DDNSHTTPFailure(status: 400, message: "request line is not METHOD SP target SP HTTP-version")
        guard let first = line.firstIndex(of: 0x20) else { throw malformed }
        guard let second = line[(first + 1)...].firstIndex(of: 0x20) else { throw malformed }
        let method = UnsafeRawBufferPointer(rebasing: line[..<first])
        let target = UnsafeRawBufferPointer(rebasing: line[(first + 1)..<second])
        let version = UnsafeRawBufferPointer(rebasing: line[(second + 1)...])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else {
            throw DDNSHTTPFailure(status: 400, message: "the method is not a token")
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw DDNSHTTPFailure(status: 400, message: "the request target is empty or holds a space, control or non-ASCII byte")
        }
        // "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); only 1.0 and 1.1 are served.
        guard version.count == 8, version[0] == 0x48, version[1] == 0x54, version[2] == 0x54, version[3] == 0x50,
              version[4] == 0x2F, version[6] == 0x2E,
              (0x30...0x39).contains(version[5]), (0x30...0x39).contains(version[7]) else {
            throw DDNSHTTPFailure(status: 400, message: "the HTTP version is not HTTP/x.y")
        }
        guard version[5] == 0x31, version[7] == 0x30 || version[7] == 0x31 else {
            throw DDNSHTTPFailure(status: 505, message: "only HTTP/1.0 and HTTP/1.1 are served")
        }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), Int(version[7] - 0x30))
    }

    /// The field line at `position` in `section` (a whole section: every line ends in LF, the
    /// last one empty): its name's and value's ranges (the value without blanks around it), and
    /// `position` moved past it; nil at the empty line. One pass over the line's bytes.
    private static func nextField(_ section: UnsafeRawBufferPointer, at position: inout Int) throws(DDNSHTTPFailure)
        -> (name: Range<Int>, value: Range<Int>)? {
        let start = position
        if section[start] == 0x0A {
            position = start + 1
            return nil
        }
        if section[start] == 0x0D, section[start + 1] == 0x0A {
            position = start + 2
            return nil
        }
        var index = start
        while isTokenByte(section[index]) { index += 1 }
        guard index > start, section[index] == 0x3A else { throw fieldLineFailure(section, start) }
        let name = start..<index
        index += 1
        while section[index] == 0x20 || section[index] == 0x09 { index += 1 }
        let valueStart = index
        var valueEnd = index
        while true {
            let byte = section[index]
            if byte == 0x0A { break }
            if byte == 0x0D {
                guard section[index + 1] == 0x0A else { throw bareCR }
                break
            }
            // field-vchar (visible ASCII and obs-text) and blanks inside; no other control byte.
            guard byte >= 0x20 && byte != 0x7F || byte == 0x09 else {
                throw DDNSHTTPFailure(status: 400, message: "field \(String(decoding: UnsafeRawBufferPointer(rebasing: section[name]), as: UTF8.self)) holds a control character")
            }
            index += 1
            if byte != 0x20 && byte != 0x09 { valueEnd = index }
        }
        position = section[index] == 0x0D ? index + 2 : index + 1
        return (name, valueStart..<valueEnd)
    }

    /// Why the field line at `start` is malformed (its name is not a token followed by a colon).
    private static func fieldLineFailure(_ section: UnsafeRawBufferPointer, _ start: Int) -> DDNSHTTPFailure {
        if section[start] == 0x20 || section[start] == 0x09 {
            return DDNSHTTPFailure(status: 400, message: "a field line starts with a blank (obsolete line folding)")
        }
        var end = start
        while section[end] != 0x0A { end += 1 }
        let line = section[start..<(end > start && section[end - 1] == 0x0D ? end - 1 : end)]
        if line.contains(0x0D) { return bareCR }
        guard line.contains(0x3A) else {
            return DDNSHTTPFailure(status: 400, message: "a field line has no colon")
        }
        return DDNSHTTPFailure(status: 400, message: "a field name is not a token (or has blanks before its colon)")
    }

    private static func contentLength(_ value: UnsafeRawBufferPointer) throws(DDNSHTTPFailure) -> Int {
        guard !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw DDNSHTTPFailure(status: 400, message: "Content-Length is not a number")
        }
        // Past 15 digits no body could be that long; the caller refuses it by size.
        guard value.count <= 15 else { return Int.max }
        return value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private static func chunkSize(_ line: UnsafeRawBufferPointer) throws(DDNSHTTPFailure) -> Int {
        var end = line.count
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        var size = 0
        var digits = 0
        var index = 0
        while index < end, let digit = hexValue(line[index]) {
            // Past 8 significant digits (4 GiB) the size only has to stay over any limit.
            if size <= 0xFFFF_FFFF { size = size * 16 + digit }
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw DDNSHTTPFailure(status: 400, message: "a chunk size is not hexadecimal") }
        // chunk-ext: BWS ";" name [= value], ... — read past, not interpreted (RFC 9112 §7.1.1).
        while index < end, line[index] == 0x20 || line[index] == 0x09 { index += 1 }
        guard index == end || line[index] == 0x3B else {
            throw DDNSHTTPFailure(status: 400, message: "a chunk size is not hexadecimal")
        }
        guard line[index..<end].allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw DDNSHTTPFailure(status: 400, message: "a chunk extension holds a control character")
        }
        return size
    }

    // MARK: - Lines

    private static let bareCR = DDNSHTTPFailure(status: 400, message: "a CR not followed by LF")

    private enum SectionEnd {
        case incomplete(scanned: Int)
        case tooLarge
        /// The section's length, through its empty last line.
        case end(Int)
    }

    /// Where the lines from the start of `input` end with an empty line, looking only at the
    /// first `maxHeadBytes` and resuming after the `scanned` bytes of complete lines.
    private static func sectionEnd(_ input: UnsafeRawBufferPointer, scanned: Int) -> SectionEnd {
        let window = min(input.count, maxHeadBytes)
        var lineStart = scanned
        var index = scanned
        while index < window {
            if input[index] == 0x0A {
                let length = index - lineStart
                if length == 0 || (length == 1 && input[lineStart] == 0x0D) {
                    return .end(index + 1)
                }
                lineStart = index + 1
            }
            index += 1
        }
        return window == maxHeadBytes ? .tooLarge : .incomplete(scanned: lineStart)
    }

    /// The length of the empty line (CRLF or LF) at `offset`, if one is there whole.
    private static func emptyLine(_ input: UnsafeRawBufferPointer, at offset: Int) -> Int? {
        guard offset < input.count else { return nil }
        if input[offset] == 0x0A { return 1 }
        if input[offset] == 0x0D, offset + 1 < input.count, input[offset + 1] == 0x0A { return 2 }
        return nil
    }

    /// The elements of a comma-separated list (RFC 9110 §5.6.1), blanks around each removed,
    /// empty elements skipped: ranges of `value`.
    static func listElements(_ value: UnsafeRawBufferPointer) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        var start = 0
        for index in 0...value.count where index == value.count || value[index] == 0x2C {
            var lower = start
            var upper = index
            while lower < upper, value[lower] == 0x20 || value[lower] == 0x09 { lower += 1 }
            while upper > lower, value[upper - 1] == 0x20 || value[upper - 1] == 0x09 { upper -= 1 }
            if lower < upper { elements.append(lower..<upper) }
            start = index + 1
        }
        return elements
    }

    /// tchar (RFC 9110 §5.6.2): digits, letters and ``!#$%&'*+-.^_`|~``, as bit masks of the
    /// bytes below 64 and from 64 to 127.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> byte & 1 == 1 }
        if byte < 128 { return (0x57FF_FFFF_C7FF_FFFE as UInt64) >> (byte - 64) & 1 == 1 }
        return false
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }
}
