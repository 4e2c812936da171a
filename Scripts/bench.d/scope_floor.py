#!/usr/bin/env python3
"""The fewest resolver cache entries any exact ECS scoping can reach on the bench's `scope` sample
(issue #12.1), from the City mmdb and data/geo_data.json alone, for comparison with what the
servers return. Stdlib only; slow (a few minutes: it walks the whole IPv4 tree in Python).

For every database record it computes the set of backends within the 5% tie band of the nearest
(the same haversine, radius 6371.0088 km), merges the IPv4 search tree bottom-up into the widest
aligned blocks with one set (what proxima's answer map does), and for the same 20,000 /24s the
bench's `scope` mode sends (same seed and rules as `scope_subnets` in Scripts/bench) counts
distinct (network masked to scope, scope):

  exact          the scope is the block of the client's set (proxima's map);
  acceptability  the scope is the widest block in which the answer (one member of the set, drawn
                 uniformly here) is within the tie band everywhere: the widest any exact scope
                 for a one-record answer can be;
  gaps-wild      as `exact`, but gaps (no record / no coordinates) merge with anything.

Usage: Scripts/bench.d/scope_floor.py [MMDB] [GEO_DATA_JSON]
"""

import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.setrecursionlimit(10000)
import mmdb_read  # noqa: E402


def main():
    mmdb = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data", "geoip", "GeoLite2-City.mmdb")
    geo = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "data", "geo_data.json")
    r = mmdb_read.Reader(mmdb)
    with open(geo) as f:
        doc = json.load(f)
    members = [(a, (m["latitude"], m["longitude"])) for a, m in doc.items() if ":" not in a]

    def hav(a, b):
        la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
        h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
        return 2 * 6371.0088 * math.asin(math.sqrt(min(1, h)))

    band_of = {}

    def band(off):
        if off not in band_of:
            rec, _ = r._decode(off, r.data_start)
            loc = rec.get("location") if isinstance(rec, dict) else None
            k = 0
            if loc and "latitude" in loc:
                d = [hav((loc["latitude"], loc["longitude"]), m) for _, m in members]
                best = min(d)
                for i, x in enumerate(d):
                    if x <= best * 1.05 + 1e-9:
                        k |= 1 << i
            band_of[off] = k
        return band_of[off]

    n = r.node_count

    def build(wild):
        memo, nodes = {}, []

        def walk(ref):
            if ref == n:
                return ("L", 0)
            if ref > n:
                return ("L", band(ref - n - 16 + r.data_start))
            if ref in memo:
                return memo[ref]
            a, b = walk(r.record(ref, 0)), walk(r.record(ref, 1))
            if a[0] == "L" and b[0] == "L" and (a == b or (wild and 0 in (a[1], b[1]))):
                res = a if a[1] else b
            else:
                ma = a[1] if a[0] == "L" else nodes[a[1]][2]
                mb = b[1] if b[0] == "L" else nodes[b[1]][2]
                nodes.append((a, b, ma & mb))
                res = ("N", len(nodes) - 1)
            memo[ref] = res
            return res

        return walk(r.ipv4_start), nodes

    # The bench's sample (Scripts/bench scope_subnets, seed 12).
    rng = random.Random(12)
    skip = {0, 10, 100, 127, 169, 172, 192, 198, 203}
    sample, chosen = [], set()
    while len(sample) < 20000:
        v = rng.getrandbits(24) << 8
        if v >> 24 in skip or v >> 24 >= 224 or v in chosen or r.location(v) is None:
            continue
        chosen.add(v)
        sample.append(v)

    def mask(s):
        return (0xFFFFFFFF << (32 - s)) & 0xFFFFFFFF if s else 0

    out = {}
    for name, wild in (("exact", False), ("gaps-wild", True)):
        root, nodes = build(wild)
        exact, accept = set(), set()
        draw = random.Random(3)
        for v in sample:
            ref, d, path = root, 0, []
            while ref[0] == "N":
                path.append((d, nodes[ref[1]][2]))
                ref = nodes[ref[1]][(v >> (31 - d)) & 1]
                d += 1
            exact.add((v & mask(d), d))
            if not wild:
                x = draw.choice([i for i in range(len(members)) if ref[1] >> i & 1])
                s = next((pd for pd, pm in path if pm >> x & 1), d)
                accept.add((v & mask(s), s))
        out[name] = len(exact)
        if not wild:
            out["acceptability"] = len(accept)
        print(f"{name}: {len(exact)} entries" + (f"; acceptability: {len(accept)} entries" if not wild else ""),
              flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
