"""Benchmark: capture analysis vs tshark on a large capture (run by hand, not collected by pytest).

    python tests/benchmarks/bench_pcap.py [--size-mb 500] [--keep PATH]

Writes a capture of mixed background traffic (HTTPS bulk transfers, plain HTTP, RTP and DNS
over UDP) with failing 5062 connections mixed in (an incomplete chain rejected by Webex, a refused SYN), then times, in the same
run, ``hcdoctor analyze FILE --json`` and
``tshark -r FILE -Y 'tls.handshake.type==11 or tls.alert_message or tcp.flags.reset==1'``,
each in its own process, reporting MB/s, the ratio and peak RSS (from ``wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from OpenSSL import SSL  # noqa: E402

from tests.support.capture_writer import Flow, Side, handshake  # noqa: E402
from tests.support.pki import expressway_pki, webex_pki  # noqa: E402

_ETH = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
_REC = struct.Struct("<IIII")


def _ipv4(src: int, dst: int, proto: int, l4: bytes) -> bytes:
    return struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst) + l4


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


class _Writer:
    def __init__(self, fh) -> None:
        self.fh = fh
        self.ts = 1_700_000_000.0
        self.size = 24
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def frame(self, ip: bytes) -> None:
        data = _ETH + ip
        self.ts += 0.00002
        sec = int(self.ts)
        self.fh.write(_REC.pack(sec, int((self.ts - sec) * 1e6), len(data), len(data)) + data)
        self.size += 16 + len(data)


def _handshake_frames() -> list[bytes]:
    """IP packets of failing 5062 connections: a real OpenSSL handshake where the Expressway-E sends its
    leaf alone and Webex rejects it, and a SYN refused by another Expressway."""
    w, e = webex_pki(), expressway_pki()
    frames: list = []
    hs = handshake(Side(w["leaf"], trust=(e["root"],)), Side(e["leaf"], send_chain=False, trust=(w["root"],)),
                   version=SSL.TLS1_2_VERSION)
    Flow(frames, ("127.10.0.1", 41000), ("127.20.0.1", 5062)).open().flights(hs).fin("c")
    Flow(frames, ("127.10.0.2", 41001), ("127.20.0.2", 5062)).open(answer=False).refuse()
    return [f.ip for f in frames]


def generate(path: Path, size_mb: int, seed: int = 7) -> int:
    rnd = random.Random(seed)
    target = size_mb * 1024 * 1024
    tls_hello = bytes.fromhex("16030100c8010000c40303") + bytes(rnd.getrandbits(8) for _ in range(194))
    appdata = [b"\x17\x03\x03" + struct.pack(">H", 1395) + bytes(rnd.getrandbits(8) for _ in range(1395))
               for _ in range(8)]
    http = [bytes(rnd.getrandbits(8) for _ in range(1400)) for _ in range(8)]
    rtp = [b"\x80\x00" + bytes(rnd.getrandbits(8) for _ in range(170)) for _ in range(8)]
    special = _handshake_frames()
    conv = 0
    with path.open("wb") as fh:
        w = _Writer(fh)
        while w.size < target:
            conv += 1
            client, server = 0x0A000000 + conv % 60000, 0xC0A80000 + conv % 250
            sport = 30000 + conv % 30000
            kind = conv % 10
            if kind < 5:  # HTTPS bulk download
                seq_c, seq_s = 1000, 90000
                w.frame(_ipv4(client, server, 6, _tcp(sport, 443, seq_c - 1, 0, 0x02, b"")))
                w.frame(_ipv4(server, client, 6, _tcp(443, sport, seq_s - 1, seq_c, 0x12, b"")))
                w.frame(_ipv4(client, server, 6, _tcp(sport, 443, seq_c, seq_s, 0x18, tls_hello)))
                seq_c += len(tls_hello)
                for i in range(300):
                    p = appdata[i % 8]
                    w.frame(_ipv4(server, client, 6, _tcp(443, sport, seq_s, seq_c, 0x10, p)))
                    seq_s += len(p)
                    if i % 4 == 0:
                        w.frame(_ipv4(client, server, 6, _tcp(sport, 443, seq_c, seq_s, 0x10, b"")))
                w.frame(_ipv4(client, server, 6, _tcp(sport, 443, seq_c, seq_s, 0x11, b"")))
            elif kind < 7:  # plain HTTP
                seq_c, seq_s = 1, 1
                w.frame(_ipv4(client, server, 6, _tcp(sport, 80, seq_c, seq_s, 0x18, b"GET / HTTP/1.1\r\n\r\n")))
                for i in range(200):
                    w.frame(_ipv4(server, client, 6, _tcp(80, sport, seq_s, seq_c, 0x10, http[i % 8])))
                    seq_s += 1400
            elif kind < 9:  # RTP
                for i in range(600):
                    w.frame(_ipv4(client, server, 17, _udp(sport, 20000 + conv % 1000, rtp[i % 8])))
            else:  # DNS
                for _ in range(20):
                    w.frame(_ipv4(client, 0x08080808, 17, _udp(sport, 53, b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 30)))
            if conv % 2000 == 1:
                for ip in special:
                    w.frame(ip)
    return path.stat().st_size


def _timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    return elapsed, usage.ru_maxrss * 1024, out.decode("utf-8", "replace")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--keep", help="write the capture here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_pcap_"))
    path = Path(args.keep) if args.keep else tmp / "mixed.pcap"
    try:
        t0 = time.perf_counter()
        size = generate(path, args.size_mb)
        print(f"wrote {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s: {path}")
        hc = [shutil.which("hcdoctor") or "hcdoctor", "analyze", str(path), "--json", "--kind", "pcap"]
        ts = ["tshark", "-r", str(path), "-Y", "tls.handshake.type==11 or tls.alert_message or tcp.flags.reset==1"]
        hc_s, hc_rss, hc_out = _timed(hc)
        ts_s, ts_rss, _ = _timed(ts)
        findings = [f["issue"] for f in json.loads(hc_out)["findings"]]
        mb = size / 1e6
        print(f"hcdoctor analyze: {hc_s:7.2f} s  {mb / hc_s:7.1f} MB/s  peak RSS {hc_rss / 1e6:6.0f} MB  findings {findings}")
        print(f"tshark -Y ...   : {ts_s:7.2f} s  {mb / ts_s:7.1f} MB/s  peak RSS {ts_rss / 1e6:6.0f} MB")
        print(f"throughput ratio hcdoctor/tshark: {ts_s / hc_s:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
