import DNSWire

extension AnswerCache {
    /// Counts where a reply just written sent its client (the status page's map), when it
    /// answered a routed name's A/AAAA question through this cache: the client network's
    /// location comes from the per-thread location table (filled from the locator on a miss),
    /// each answered address from the reply's answer records. Anything else (static answers,
    /// CNAME chains, error replies, clients the locator cannot place) is not counted.
    ///
    /// Costs one parse of the question and a table lookup per routed reply (a locator lookup
    /// the first time per client network), no lock and no allocation; reads only `response`'s
    /// bytes within its bounds.
    public mutating func noteAnswerFlow(query: UnsafeRawBufferPointer, response r: UnsafeRawBufferPointer,
                                        source: IPAddress, now: Double, into table: AnswerFlowTable) {
        // NOERROR with at least one answer record.
        guard r.count >= 12, r[3] & 0x0f == 0, r[6] != 0 || r[7] != 0, !snapshot.routes.isEmpty else { return }
        guard let q = SimpleQuery.parse(query) else { return }
        let isAAAA = q.qtype == RecordType.aaaa.rawValue
        guard isAAAA || q.qtype == RecordType.a.rawValue else { return }
        let slot = Int(truncatingIfNeeded: q.hash) & (AnswerCache.answerSlots - 1)
        guard let entry = entries[slot], case .routed = entry, q.keyMatches(entry.key, query) else { return }
        var client = source
        if let ecs = q.clientSubnet, ecs.sourcePrefixLength > 0,
           trustsEveryClientSubnet || snapshot.settings.trustsClientSubnet(from: source) {
            client = ecs.address
        }
        // Through the per-thread location table, as a ranked answer finds its client: an answer
        // the map or the engine gave has taught it nothing, so the first one per network places
        // the client with the locator and remembers it there (one table probe per answer after).
        guard let placed = cachedLocation(client, now: now), placed.placement != .unplaced else { return }
        let (latitude, longitude) = (placed.coordinate.latitude, placed.coordinate.longitude)
        guard let cell = AnswerFlow.cell(latitude: latitude, longitude: longitude) else { return }
        let answers = min(Int(r[6]) << 8 | Int(r[7]), 16)
        let rdlen = isAAAA ? 16 : 4
        var i = 12 + q.nameLength + 4
        for _ in 0..<answers {
            // Only records written as the routed answer: owner = pointer to the question, our type.
            guard i + 12 + rdlen <= r.count, r[i] == 0xc0, r[i + 1] == 0x0c,
                  r[i + 2] == 0, r[i + 3] == (isAAAA ? 28 : 1), r[i + 10] == 0, Int(r[i + 11]) == rdlen
            else { return }
            i += 12
            let address: IPAddress
            if isAAAA {
                var hi: UInt64 = 0, lo: UInt64 = 0
                for k in 0..<8 {
                    hi = hi << 8 | UInt64(r[i + k])
                    lo = lo << 8 | UInt64(r[i + 8 + k])
                }
                address = .v6(hi, lo)
            } else {
                address = .v4(UInt32(r[i]) << 24 | UInt32(r[i + 1]) << 16 | UInt32(r[i + 2]) << 8 | UInt32(r[i + 3]))
            }
            table.count(cell: cell, address: address)
            i += rdlen
        }
    }
}
