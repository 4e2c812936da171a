"""DDNS load for Scripts/bench (issue #9): API update throughput, the time from an API 200 to the
new answer on DNS, and a fixed-rate update stream that runs while DNS load is measured.

Standard library only; every loop is bounded in count and time; every target is 127.0.0.1.
"""
import contextlib
import glob
import http.client
import json
import os
import pwd
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time

ZONE = "dyn.bench.test."
TOKEN = "bench-admin-token-0123456789abcdef"
HOST = "host"


def config_section(api_port, store):
    """The `ddns:` section of a bench server's config."""
    return f"""ddns:
  zone: {ZONE}
  nameservers: [ns1.example.test.]
  listen: 127.0.0.1:{api_port}
  store: "{store}"
  admin_token: {TOKEN}
  max_updates_per_minute: 100000
  max_silos: 100000
"""


def address(k):
    """A distinct IPv4 address per update number (10.0.0.0/8 cycles after 16M updates)."""
    k &= 0xFFFFFF
    return f"10.{k >> 16}.{(k >> 8) & 255}.{k & 255}"


class Api:
    """One keep-alive connection to the DDNS API with the admin token."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def put(self, silo, ip):
        body = json.dumps({"dnsrecords": [{"hostname": HOST, "ip": ip}]})
        for attempt in (1, 2):   # one reconnect when the server closed an idle connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request("PUT", f"/silos/{silo}", body,
                                  {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    return 0
        return 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def silo_name(i):
    return f"s{i}"


def fqdn(i):
    return f"{HOST}.{silo_name(i)}.{ZONE}"


def wait_api(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ping")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    return False


def create_silos(port, count):
    api = Api(port)
    try:
        for i in range(count):
            status = api.put(silo_name(i), address(i))
            if status // 100 != 2:
                raise RuntimeError(f"creating silo {silo_name(i)}: HTTP {status}")
    finally:
        api.close()


def throughput(port, silos, updates, connections, max_seconds):
    """`updates` PUTs (each replaces one silo's record with a new address) over `connections`
    keep-alive connections; committed updates/s and PUT latency percentiles."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "failed": 0, "lat": []}
    deadline = time.time() + max_seconds

    def worker():
        api = Api(port)
        lat = []
        try:
            while time.time() < deadline:
                with lock:
                    k = state["next"]
                    if k >= updates:
                        break
                    state["next"] = k + 1
                t0 = time.perf_counter()
                status = api.put(silo_name(k % silos), address(silos + k))
                lat.append(time.perf_counter() - t0)
                with lock:
                    state["ok" if status // 100 == 2 else "failed"] += 1
        finally:
            api.close()
            with lock:
                state["lat"].extend(lat)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    lat = sorted(state["lat"]) or [0.0]
    return {"updates": state["ok"], "failed": state["failed"], "seconds": seconds,
            "updates_per_second": state["ok"] / seconds if seconds else 0,
            "put_p50_ms": lat[len(lat) // 2] * 1e3, "put_p99_ms": lat[int(len(lat) * 0.99)] * 1e3}


def _query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def _first_a(response):
    """The first A address in the answer section, or None."""
    def skip(off):
        while off < len(response):
            n = response[off]
            if n == 0:
                return off + 1
            if n & 0xC0 == 0xC0:
                return off + 2
            off += 1 + n
        return off
    if len(response) < 12 or struct.unpack(">H", response[6:8])[0] == 0:
        return None
    off = skip(skip(12) + 4)
    if off + 14 > len(response):
        return None
    rtype, _, _, rdlen = struct.unpack(">HHIH", response[off:off + 10])
    return socket.inet_ntoa(response[off + 10:off + 14]) if rtype == 1 and rdlen == 4 else None


def answer_latency(api_port, dns_ports, silos, samples, offset, max_wait=2.0):
    """For each sample: PUT a new address through `api_port`, then, from the moment the 200
    arrives, ask every DNS port until each answers the new address. Milliseconds, per sample the
    slowest node; a node that never answers within `max_wait` counts as `max_wait`."""
    api = Api(api_port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    out, missed = [], 0
    try:
        for n in range(samples):
            i = n % silos
            ip = address(offset + n)
            if api.put(silo_name(i), ip) // 100 != 2:
                missed += 1
                continue
            acked = time.perf_counter()
            worst = 0.0
            for port in dns_ports:
                seen = None
                qid = 0
                while time.perf_counter() - acked < max_wait:
                    qid = (qid + 1) & 0xFFFF
                    try:
                        s.sendto(_query(fqdn(i), qid), ("127.0.0.1", port))
                        while True:
                            data, _ = s.recvfrom(4096)
                            if data[:2] == struct.pack(">H", qid):
                                break
                        seen = _first_a(data)
                    except OSError:
                        seen = None
                    if seen == ip:
                        break
                    time.sleep(0.001)
                elapsed = time.perf_counter() - acked
                if seen != ip:
                    missed += 1
                worst = max(worst, min(elapsed, max_wait))
            out.append(worst * 1e3)
    finally:
        api.close()
        s.close()
    out.sort()
    if not out:
        return {"samples": 0, "missed": missed}
    return {"samples": len(out), "missed": missed, "p50_ms": statistics.median(out),
            "p99_ms": out[min(len(out) - 1, int(len(out) * 0.99))], "max_ms": out[-1]}


class Streamer:
    """PUTs at a fixed rate in a background thread while DNS load is measured (`with`)."""

    def __init__(self, port, silos, rate, offset=10_000_000):
        self.port, self.silos, self.rate, self.offset = port, silos, rate, offset
        self.stop = threading.Event()
        self.sent = self.ok = 0
        self.seconds = 0.0

    def _run(self):
        api = Api(self.port)
        start = time.perf_counter()
        k = 0
        try:
            while not self.stop.is_set() and k < 10_000_000:
                due = start + k / self.rate
                now = time.perf_counter()
                if due > now:
                    self.stop.wait(due - now)
                    continue
                status = api.put(silo_name(k % self.silos), address(self.offset + k))
                self.sent += 1
                self.ok += status // 100 == 2
                k += 1
        finally:
            api.close()
            self.seconds = time.perf_counter() - start

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=15)
        return False

    @property
    def achieved(self):
        return self.ok / self.seconds if self.seconds else 0.0


def _postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@contextlib.contextmanager
def postgres_cluster(workdir, port):
    """A throwaway PostgreSQL cluster in a temp dir of its own on 127.0.0.1:`port` (as `postgres` when we
    are root: initdb refuses root). Yields the store URL of a fresh `ddns` database."""
    bindir = _postgres_bin()
    if not bindir:
        raise RuntimeError("PostgreSQL is not installed (Scripts/setup --for-tests installs it)")
    # Its own temp dir, not under `workdir`: that one is private to us (0700) and the server runs
    # as `postgres` when we are root.
    base = tempfile.mkdtemp(prefix="proxima-bench-pg-")
    prefix = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(base, "data")

    def run(*cmd):
        subprocess.run(prefix + list(cmd), check=True, capture_output=True, timeout=120)

    run(os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "proxima", "--no-sync")
    run(os.path.join(bindir, "pg_ctl"), "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60",
        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on", "start")
    try:
        run(os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "proxima", "ddns")
        yield f"postgres://proxima@127.0.0.1:{port}/ddns"
    finally:
        subprocess.run(prefix + [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
