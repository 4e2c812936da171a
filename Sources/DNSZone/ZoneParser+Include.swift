import DNSWire

extension ParserState {
    /// `$INCLUDE <file-name> [<domain-name>]` (RFC 1035 §5.1): reads another file in place.
    ///
    /// As Knot and BIND do it: a relative name is relative to the including file's directory; the
    /// optional origin (relative to the current `$ORIGIN`) applies to the included file only, which
    /// starts with no previous owner; afterwards the including file's `$ORIGIN`, `$TTL` and
    /// previous owner resume. Bounded: files outside `ZoneFileAccess.allowedRoot`, include loops,
    /// nesting deeper than `Limits.maxIncludeDepth` and more than `Limits.maxIncludesPerZone`
    /// directives are errors, reported at the `$INCLUDE` line.
    mutating func include(_ entry: ZoneEntry) {
        let t = entry.tokens
        let line = entry.line
        guard t.count == 2 || t.count == 3 else {
            issue(.syntax, line, t.count < 2 ? "$INCLUDE needs a file name: $INCLUDE <file> [<origin>]"
                                             : "unexpected \(t[3].shown) after $INCLUDE <file> <origin>")
            return
        }
        guard let access else {
            issue(.unsupportedDirective, line, "$INCLUDE is not available here (the zone was given as text, without file access)")
            return
        }
        let name: String
        switch t[1].decodeCharacterString() {
        case .success(let bytes) where !bytes.isEmpty && !bytes.contains(0):
            name = String(decoding: bytes, as: UTF8.self)
        case .success:
            issue(.include, line, "bad $INCLUDE file name \(t[1].shown)")
            return
        case .failure(let e):
            issue(.include, line, "bad $INCLUDE file name \(t[1].shown): \(e.message)")
            return
        }
        var includeOrigin = origin
        if t.count == 3 {
            switch parseName(t[2]) {
            case .success(let n): includeOrigin = n
            case .failure(let p):
                issue(.badName, t[2].line, "bad $INCLUDE origin \(t[2].shown): \(p.message)")
                return
            }
        }
        guard includedFrom.count < Limits.maxIncludeDepth else {
            issue(.include, line, "$INCLUDE nested more than \(Limits.maxIncludeDepth) files deep")
            return
        }
        guard includeCount < Limits.maxIncludesPerZone else {
            issue(.include, line, "more than \(Limits.maxIncludesPerZone) $INCLUDE directives in one zone")
            return
        }
        includeCount += 1

        let path = ZonePath.resolve(name, against: ZonePath.directory(of: ZonePath.normalize(file)))
        guard ZonePath.isInside(path, root: access.allowedRoot) else {
            issue(.include, line, "$INCLUDE \(path) is outside \(access.allowedRoot) (the configuration's directory); included files must lie below it")
            return
        }
        // Watched even when unreadable: the file appearing may be what fixes the zone.
        if !includedFiles.contains(path) { includedFiles.append(path) }
        guard let contents = access.read(path) else {
            issue(.include, line, "cannot read $INCLUDE file \(path)")
            return
        }
        let real = ZonePath.normalize(contents.realPath)
        guard ZonePath.isInside(real, root: access.allowedRealRoot) else {
            issue(.include, line, "$INCLUDE \(path) resolves to \(real), outside \(access.allowedRealRoot) (the configuration's directory)")
            return
        }
        guard !fileStack.contains(real) && !fileStack.contains(path) else {
            let chain = (fileStack + [real]).joined(separator: " -> ")
            issue(.include, line, "$INCLUDE loop: \(chain)")
            return
        }

        // Read the file with its own origin and no previous owner; then resume this file's context.
        let saved = (file: file, origin: origin, defaultTTL: defaultTTL, previousOwner: previousOwner)
        includedFrom.insert(ZoneIssue.Site(file: file, line: line), at: 0)
        fileStack.append(real)
        file = path
        origin = includeOrigin
        previousOwner = nil
        run(contents.text)
        fileStack.removeLast()
        includedFrom.removeFirst()
        file = saved.file
        origin = saved.origin
        defaultTTL = saved.defaultTTL
        previousOwner = saved.previousOwner
    }
}
