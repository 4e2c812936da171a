"""A small MaxMind DB reader (stdlib only) for the bench's ECS scope mode: IPv4 lookups of a
record's location, following the MaxMind DB File Format Specification v2.0 (the reader side of
Scripts/mmdb/build_mmdb.py). Not for the server: the server links libmaxminddb."""

import mmap
import struct

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


class Reader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        start = self.buf.rfind(METADATA_MARKER)
        if start < 0:
            raise ValueError(f"{path}: no MaxMind DB metadata")
        self.meta, _ = self._decode(start + len(METADATA_MARKER), start + len(METADATA_MARKER))
        self.node_count = self.meta["node_count"]
        self.record_size = self.meta["record_size"]
        self.node_bytes = self.record_size * 2 // 8
        self.tree_size = self.node_count * self.node_bytes
        self.data_start = self.tree_size + 16
        self.ipv4_start = 0
        if self.meta["ip_version"] == 6:
            node = 0
            for _ in range(96):
                if node >= self.node_count:
                    break
                node = self.record(node, 0)
            self.ipv4_start = node
        self.cache = {}

    def record(self, node, bit):
        b = self.buf
        off = node * self.node_bytes
        if self.record_size == 24:
            o = off + bit * 3
            return int.from_bytes(b[o:o + 3], "big")
        if self.record_size == 28:
            if bit == 0:
                return ((b[off + 3] & 0xF0) << 20) | int.from_bytes(b[off:off + 3], "big")
            return ((b[off + 3] & 0x0F) << 24) | int.from_bytes(b[off + 4:off + 7], "big")
        o = off + bit * 4
        return int.from_bytes(b[o:o + 4], "big")

    def lookup_v4(self, value):
        """(record offset or None, prefix length) for the IPv4 address `value` (an int)."""
        node = self.ipv4_start
        depth = 0
        while depth < 32 and node < self.node_count:
            node = self.record(node, (value >> (31 - depth)) & 1)
            depth += 1
        if node == self.node_count:
            return None, depth
        if node > self.node_count:
            return node - self.node_count - 16 + self.data_start, depth
        return None, depth

    def location(self, value):
        """(latitude, longitude) of the record holding IPv4 `value`, or None."""
        off, _ = self.lookup_v4(value)
        if off is None:
            return None
        if off not in self.cache:
            rec, _ = self._decode(off, self.data_start)
            loc = rec.get("location") if isinstance(rec, dict) else None
            lat = loc.get("latitude") if isinstance(loc, dict) else None
            lon = loc.get("longitude") if isinstance(loc, dict) else None
            self.cache[off] = (float(lat), float(lon)) if lat is not None and lon is not None else None
        return self.cache[off]

    def _decode(self, off, base):
        b = self.buf
        ctrl = b[off]
        off += 1
        t = ctrl >> 5
        if t == 1:  # pointer
            ss = (ctrl >> 3) & 3
            v = ctrl & 7
            if ss == 0:
                p = (v << 8) | b[off]
                off += 1
            elif ss == 1:
                p = ((v << 16) | int.from_bytes(b[off:off + 2], "big")) + 2048
                off += 2
            elif ss == 2:
                p = ((v << 24) | int.from_bytes(b[off:off + 3], "big")) + 526336
                off += 3
            else:
                p = int.from_bytes(b[off:off + 4], "big")
                off += 4
            value, _ = self._decode(base + p, base)
            return value, off
        if t == 0:  # extended
            t = 7 + b[off]
            off += 1
        size = ctrl & 0x1F
        if size == 29:
            size = 29 + b[off]
            off += 1
        elif size == 30:
            size = 285 + int.from_bytes(b[off:off + 2], "big")
            off += 2
        elif size == 31:
            size = 65821 + int.from_bytes(b[off:off + 3], "big")
            off += 3
        if t == 2:
            return b[off:off + size].decode("utf-8", "replace"), off + size
        if t == 3:
            return struct.unpack(">d", b[off:off + 8])[0], off + 8
        if t == 4:
            return bytes(b[off:off + size]), off + size
        if t in (5, 6, 9, 10):
            return int.from_bytes(b[off:off + size], "big"), off + size
        if t == 7:
            out = {}
            for _ in range(size):
                k, off = self._decode(off, base)
                v, off = self._decode(off, base)
                out[k] = v
            return out, off
        if t == 8:
            return int.from_bytes(b[off:off + size], "big", signed=size == 4), off + size
        if t == 11:
            out = []
            for _ in range(size):
                v, off = self._decode(off, base)
                out.append(v)
            return out, off
        if t == 14:
            return size != 0, off
        if t == 15:
            return struct.unpack(">f", b[off:off + 4])[0], off + 4
        raise ValueError(f"unknown MaxMind DB data type {t} at {off}")
