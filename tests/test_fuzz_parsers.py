"""Bounded fuzzing of every parser not fuzzed elsewhere, seeded from real bytes.

Already fuzzed elsewhere (not repeated here): whole captures through ``checks.capture.observe``
(test_pcap_badinput.py), the log scanner, xConfiguration, SDL, netstat-from-fragments and the
archive walkers (test_logs_fuzz.py), DER certificates (test_certs.py) and webhook bodies
(test_hardening_webhook.py). Here: the sans-IO TLS reader, the SIP parser and stream framer,
TCP reassembly, the netstat reader on real pasted output, kind detection, PEM members, and the
front door ``checks.analysis.analyze`` on mutated files of every kind.

Seeds are real: TLS directions of the Zeek traces and of the OpenSSL handshakes in
``tests.support.capture_scenarios``, the SIP calls of those scenarios, the fixture logs, dumps
and traces, and certificates from ``tests.support.pki``. Each target states its outcome
(a result or a one-line ``InputError``; for TLS also "the same events however the bytes are
chunked", for TCP "every delivered byte is the byte sent at that offset") and every call is
held to a time bound per MB (``bound``). ``tests/benchmarks/fuzz_parsers.py`` runs the same
targets for minutes.
"""

from __future__ import annotations

import functools
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dpkt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.analysis import analyze
from checks.detect import HEAD_BYTES, KINDS, detect
from checks.model import Report
from checks.parsers import netstat, sip, tcpstream, tls
from checks.parsers.explog import LogScanner
from checks.pemfiles import PemStore, pem_ders
from kb.errors import InputError
from tests.support import capture_scenarios as S
from tests.support.archives import tar_gz, zip_of
from tests.support.capture_writer import write_pcap, write_pcapng

ROOT = Path(__file__).resolve().parent
LOGS = ROOT / "fixtures" / "logs"
ZEEK_TRACES = ROOT.parents[1] / "shared" / "third_party" / "zeek-tls" / "traces"  # shared/ sits beside the checkout

# The time one call may take: FLOOR_SECONDS for any input, else SECONDS_PER_MB. Measured on this
# 2-core machine (tests/benchmarks/fuzz_parsers.py --minutes 1.5, README "What the bot promises"):
# at worst 1.9 s/MB through analyze() and 1.0 s/MB in a single target, and no call used more than
# a fifth of its bound, which leaves room for a busy CI runner.
FLOOR_SECONDS = 1.0
SECONDS_PER_MB = 10.0
# Inputs grown by the "repeat" edit stop at this size, so that a run tests the time per MB too.
MAX_INPUT_BYTES = 2 << 20


def bound(size: int) -> float:
    return max(FLOOR_SECONDS, SECONDS_PER_MB * size / 1e6)


def one_line(exc: BaseException) -> None:
    message = str(exc)
    assert message and "\n" not in message, repr(message)


# -- seeds ------------------------------------------------------------------------------------

def _directions(ip_packets: Iterable[bytes]) -> list[bytes]:
    """TCP payload of each direction, reassembled by sequence number (real streams to mutate)."""
    halves: dict[tuple, tcpstream.HalfStream] = {}
    data: dict[tuple, bytearray] = {}
    for raw in ip_packets:
        try:
            ip = dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
        except (dpkt.UnpackError, IndexError):
            continue
        seg = ip.data
        if not isinstance(seg, dpkt.tcp.TCP):
            continue
        key = (bytes(ip.src), seg.sport, bytes(ip.dst), seg.dport)
        half = halves.setdefault(key, tcpstream.HalfStream())
        if seg.flags & dpkt.tcp.TH_SYN:
            half.syn(seg.seq)
        for d in half.segment(seg.seq, bytes(seg.data)):
            data.setdefault(key, bytearray()).extend(d.data)
    return [bytes(v) for v in data.values() if v]


def _trace_packets(path: Path) -> Iterable[bytes]:
    with path.open("rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(frame)
            if isinstance(eth.data, (dpkt.ip.IP, dpkt.ip6.IP6)):
                yield bytes(eth.data)


@functools.cache
def tls_seeds() -> tuple[bytes, ...]:
    """TLS directions: OpenSSL handshakes of the scenarios (1.2, 1.3, mTLS, alerts) and the Zeek traces."""
    out: list[bytes] = []
    for name in ("clean-tls12", "clean-tls13", "mtls-webex-ca-untrusted", "mtls-incomplete-chain",
                 "mtls-firewall-inspection"):
        out += _directions(f.ip for f in S.SCENARIOS[name].build())
    if ZEEK_TRACES.is_dir():
        for trace in sorted(ZEEK_TRACES.glob("*.pcap")):
            if trace.stat().st_size < 100_000:
                out += _directions(_trace_packets(trace))
    return tuple(d for d in out if tls.looks_like_tls(d))


@functools.cache
def sip_streams() -> tuple[bytes, ...]:
    """SIP over TCP from the capture scenarios (G.729-only call, oversized INVITE)."""
    out: list[bytes] = []
    for name in ("bidir-unsupported-codec", "bidir-ucm-max-message-size"):
        out += _directions(f.ip for f in S.SCENARIOS[name].build())
    return tuple(d for d in out if sip.looks_like_sip(d))


@functools.cache
def sip_seeds() -> tuple[bytes, ...]:
    """The capture streams, plus each SIP message quoted in two fixture logs, alone and all in a row."""
    out = list(sip_streams())
    for name in ("bidir-unsupported-codec.log", "bidir-ucm-max-message-size-expc.log"):
        scanner = LogScanner()
        records = [*scanner.feed(_fixture(name)), *scanner.close()]
        messages = list(dict.fromkeys(r.sip for r in records if r.sip))
        out += messages + [b"".join(messages)]
    return tuple(out)


@functools.cache
def pki() -> tuple[dict, dict]:
    return S.pkis()


@functools.cache
def pem_seeds() -> tuple[bytes, ...]:
    webex, expe = pki()
    return (webex["leaf"].chain_pem(include_root=True),  # a server file with its chain
            expe["leaf"].pem,  # leaf only
            webex["root"].pem + expe["root"].pem + expe["ica"].pem,  # a trusted-CA list
            b"subject=CN = x\n" + expe["leaf"].chain_pem() + expe["leaf"].key_pem())


def _fixture(name: str) -> bytes:
    return (LOGS / name).read_bytes()


@functools.cache
def netstat_seeds() -> tuple[bytes, ...]:
    return (_fixture("netstat-healthy.txt"), _fixture("netstat-not-listening.txt"))


@functools.cache
def file_seeds() -> tuple[bytes, ...]:
    """One or more real files of every kind ``checks.analysis`` reads."""
    webex, expe = pki()
    log = _fixture("mtls-webex-ca-untrusted.log")[:40_000]
    members = {"tmp/log/network.log": log, "tmp/xconf.txt": _fixture("xconf-expe-localcpl.txt"),
               "tmp/ca_expe_1.pem": webex["root"].pem + expe["root"].pem,
               "tmp/server_expe_1.pem": expe["leaf"].pem}
    return (write_pcap(S.SCENARIOS["mtls-incomplete-chain"].build()),
            write_pcapng(S.SCENARIOS["bidir-unsupported-codec"].build()),
            tar_gz(members), zip_of(members), log, _fixture("two-faults.log")[:30_000],
            _fixture("xconf-expe-search-rule-shadowed.txt"), _fixture("cucm-sdl-trace.txt")[:30_000],
            _fixture("netstat-not-listening.txt"), webex["leaf"].chain_pem(include_root=True),
            _fixture("pdf-pasted-identity.txt"), _fixture("controlhub-test-socket.txt"))


@functools.cache
def detect_seeds() -> tuple[bytes, ...]:
    return tuple(s[:HEAD_BYTES] for s in file_seeds())


# -- mutation ---------------------------------------------------------------------------------

# (position, value, op): x set a byte, i insert a run, d delete, c copy a slice elsewhere,
# n write a length-like number (length-field lies), r repeat the input (size for the time bound).
OPS = "xxidcnr"
_NUMBERS = (0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF, 0x4000, 0x4800, 0xFFFF, 0x10000, 0xFFFFFF)


def mutate(seed: bytes, edits: Iterable[tuple[int, int, str]], cut: int) -> bytes:
    data = bytearray(seed)
    for pos, value, op in edits:
        pos %= max(1, len(data))
        if op == "x":
            data[pos:pos + 1] = bytes([value & 0xFF])
        elif op == "i":
            data[pos:pos] = bytes([value & 0xFF]) * (value % 7 + 1)
        elif op == "d":
            del data[pos:pos + value % 64 + 1]
        elif op == "c":
            src = value % max(1, len(data))
            data[pos:pos] = data[src:src + value % 300 + 1]
        elif op == "n":
            width = value % 3 + 1
            data[pos:pos + width] = (_NUMBERS[value % len(_NUMBERS)] & ((1 << 8 * width) - 1)).to_bytes(width, "big")
        elif op == "r" and data:
            times = min(value % 64 + 2, MAX_INPUT_BYTES // len(data))
            data = data * max(1, times)
    if cut % 4 == 0 and data:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


def chunks_of(data: bytes, knobs: list[int]) -> list[bytes]:
    """Cut ``data`` at sizes taken from ``knobs`` (1 to 4096 bytes), the rest as one chunk."""
    out, pos = [], 0
    for k in knobs:
        size = 1 + k % (4096 if k & 1 else 9)
        out.append(data[pos:pos + size])
        pos += size
    out.append(data[pos:])
    return [c for c in out if c]


# -- targets: each raises AssertionError (or anything else) on a bad outcome ---------------------

def run_tls(data: bytes, knobs: list[int]) -> None:
    """Events are a pure function of the bytes: whole or chunked, the same list; buffers stay capped."""
    tls.looks_like_tls(data)
    hint = bool(knobs and knobs[0] & 2)
    whole, chunked = tls.TlsReader(), tls.TlsReader()
    if hint:
        whole.tls13_hint()
        chunked.tls13_hint()
    expected = whole.feed(data)
    events: list = []
    for piece in chunks_of(data, knobs):
        events += chunked.feed(piece)
        assert chunked.buffered <= tls.MAX_RECORD_BYTES + 5 + tls.MAX_HANDSHAKE_BYTES + 4 + len(piece)
    assert events == expected
    for e in events:
        if isinstance(e, (tls.Handshake, tls.Alert)):
            assert e.name
        if isinstance(e, tls.Alert):
            assert e.fatal in (True, False)
        if isinstance(e, tls.Certificate):
            assert len(e.ders) <= tls.MAX_CERTS
        if isinstance(e, tls.CertificateRequest):
            assert len(e.ca_names) <= tls.MAX_CA_NAMES
    assert sum(isinstance(e, tls.Desync) for e in events) <= 1
    if knobs and knobs[-1] % 5 == 0:  # a hole in the capture ends the reader, once
        was_dead = chunked.dead
        after = chunked.feed(b"x", gap=True)
        assert chunked.dead and chunked.buffered == 0
        assert after == [] if was_dead else len(after) == 1 and isinstance(after[0], tls.Desync)


_CLEN = re.compile(rb"(?im)^(content-length|l)[ \t]*:[^\r\n]*")
_LIES = (b"-1", b"0", b"1", b"99999999999999999999", b"262145", b"abc", b"", b" 12 34", b"0x10", b"\xd9\xa3")


def _lie(data: bytes, knobs: list[int]) -> bytes:
    """Rewrite every Content-Length to a value that does not match the body (or is not a number)."""
    if not knobs or knobs[0] % 3:
        return data
    lie = _LIES[knobs[0] % len(_LIES)] if knobs[0] & 4 else str(knobs[0] % 5000).encode()
    return _CLEN.sub(lambda m: m.group(1) + b": " + lie, data)


def _touch(msg: sip.SipMessage) -> None:
    assert msg.is_request == (msg.method is not None) and (msg.status is None) == msg.is_request
    assert len(msg.headers) <= sip.MAX_HEADERS and len(msg.body) <= sip.MAX_BODY_BYTES
    msg.start_line, msg.call_id, msg.contact, msg.routes, msg.cseq_method, msg.audio  # noqa: B018 - must not raise
    for m in msg.media:
        assert isinstance(m.port, int) and isinstance(m.codecs, tuple)


def run_sip(data: bytes, knobs: list[int]) -> None:
    """One message parses or raises a one-line InputError; the framer cuts a stream into messages
    in order, never overlapping, with capped buffers, whatever the chunking and Content-Length."""
    data = _lie(data, knobs)
    sip.looks_like_sip(data)
    try:
        _touch(sip.parse_message(data))
    except InputError as exc:
        one_line(exc)
    framer = sip.SipStreamFramer()
    fed = end = 0
    for piece in chunks_of(data, knobs[1:]):
        fed += len(piece)
        for framed in framer.feed(piece):
            assert end <= framed.offset and framed.offset + framed.message.size <= fed
            end = framed.offset + framed.message.size
            _touch(framed.message)
        assert framer.pending <= sip.MAX_HEADER_BYTES + sip.MAX_BODY_BYTES + len(piece)
        framer.pending_message_size()
        framer.pending_start_line()


def honest_sip_framing(stream: bytes, knobs: list[int]) -> None:
    """A real stream cut anywhere gives exactly the messages it gives whole."""
    whole = [(f.offset, f.message) for f in sip.SipStreamFramer().feed(stream)]
    framer = sip.SipStreamFramer()
    got = [(f.offset, f.message) for piece in chunks_of(stream, knobs) for f in framer.feed(piece)]
    assert got == whole and whole


_MASK = 0xFFFFFFFF


def run_tcp(data: bytes, knobs: list[int]) -> None:
    """Segments of ``data`` in any order, overlapping, retransmitted, around the 2**32 wrap: every
    delivered byte is the byte sent at that stream offset, held bytes stay under the cap, and once
    all is sent and holes are skipped, a stream with a SYN is whole."""
    if not data or not knobs:
        return
    k0 = knobs[0]
    isn = (_MASK - (k0 >> 8) % 70_000) if k0 & 1 else k0 & _MASK  # often just before the wrap
    segments = [(k % len(data), 1 + (k >> 12) % 1500) for k in knobs[1:]]
    if k0 & 8:  # then everything once more, in order, so the stream can complete
        segments += [(p, 1460) for p in range(0, len(data), 1460)]
    saved = tcpstream.MAX_HELD_BYTES, tcpstream.MAX_HELD_SEGMENTS
    if k0 & 16:  # small caps, so that holes are declared while segments are held
        tcpstream.MAX_HELD_BYTES, tcpstream.MAX_HELD_SEGMENTS = 500 + (k0 >> 5) % 3000, 2 + (k0 >> 9) % 6
    try:
        half = tcpstream.HalfStream()
        syn = bool(k0 & 4)
        if syn:
            half.syn((isn - 1) & _MASK)
        base = 0 if syn else (segments[0][0] if segments else 0)
        got = bytearray()
        last_end = 0

        def check(deliveries: list[tcpstream.Delivery]) -> None:
            nonlocal last_end
            for d in deliveries:
                assert d.offset >= last_end and (d.offset == last_end or d.gap)
                start = base + d.offset
                assert d.data == data[start:start + len(d.data)]
                last_end = d.offset + len(d.data)
                got.extend(d.data)
            assert half.held_bytes <= tcpstream.MAX_HELD_BYTES

        for pos, length in segments:
            check(half.segment((isn + pos) & _MASK, data[pos:pos + length]))
        while half.held_bytes:
            check(half.skip_gap())
        if syn and k0 & 8 and not half.gaps:
            assert bytes(got) == data
    finally:
        tcpstream.MAX_HELD_BYTES, tcpstream.MAX_HELD_SEGMENTS = saved


def run_netstat(data: bytes, knobs: list[int]) -> None:
    line = 0
    for found in netstat.listeners(chunks_of(data, knobs)):
        assert found.line > line and 0 <= found.port and len(found.text) <= netstat.MAX_LINE_BYTES
        line = found.line
        netstat.is_loopback(found.address)


def run_detect(data: bytes, knobs: list[int]) -> None:
    try:
        assert detect(data[:HEAD_BYTES]) in KINDS
    except InputError as exc:
        one_line(exc)


_PEM_NAMES = ("ca_expe_1.pem", "server_expe_1.pem", "client.pem", "upload.txt", "trusted.pem")


def run_pem(data: bytes, knobs: list[int]) -> None:
    """The file under one or two bundle names (so a trust list and a server file meet in ``observe``)."""
    store = PemStore()
    for name in (_PEM_NAMES[k % len(_PEM_NAMES)] for k in (knobs or [0])[:2]):
        try:
            assert store.add(name, data) in ("trusted", "server", "client")
        except InputError as exc:
            one_line(exc)
    try:
        assert len(pem_ders(data)) <= 2_000
    except InputError as exc:
        one_line(exc)
    for obs in store.observe():
        assert obs.code.startswith("pem.") and obs.evidence


_FILE_NAMES = ("upload.bin", "ca_expe_1.pem", "server_expe_1.pem", "network.log", "capture.pcap")
_ASKED = ("auto", "auto", "auto", "log", "xconf", "sdl", "netstat", "pem", "pcap")


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hcd-fuzz-"))


def run_analyze(data: bytes, knobs: list[int]) -> None:
    """The front door never raises: a Report whose errors are one line each, and that renders."""
    k = knobs[0] if knobs else 0
    path = _workdir() / _FILE_NAMES[k % len(_FILE_NAMES)]
    path.write_bytes(data)
    try:
        report = analyze([str(path)], _ASKED[(k >> 3) % len(_ASKED)])
    finally:
        path.unlink()
    assert isinstance(report, Report)
    for problem in report.errors:
        assert problem.error and "\n" not in problem.error
    for warning in report.warnings:
        assert "Traceback" not in warning
    report.to_dict()


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[], tuple[bytes, ...]]
    run: Callable[[bytes, list[int]], None]
    seconds: float  # share of the default run's fuzzing time


TARGETS = {t.name: t for t in (
    Target("tls", tls_seeds, run_tls, 4.0),
    Target("sip", sip_seeds, run_sip, 3.5),
    Target("tcpstream", lambda: tls_seeds()[:6] + sip_streams(), run_tcp, 3.5),
    Target("netstat", netstat_seeds, run_netstat, 2.0),
    Target("detect", detect_seeds, run_detect, 2.0),
    Target("pem", pem_seeds, run_pem, 3.0),
    Target("analyze", file_seeds, run_analyze, 8.0),
)}


def timed(target: Target, data: bytes, knobs: list[int]) -> float:
    """Run one input; the seconds it took (the caller compares them with ``bound``)."""
    start = time.perf_counter()
    target.run(data, knobs)
    return time.perf_counter() - start


# -- the bounded default run --------------------------------------------------------------------

EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 1 << 16), st.sampled_from(OPS)), max_size=8)
KNOBS = st.lists(st.integers(0, _MASK), max_size=24)


def _fuzz(target: Target) -> int:
    """Mutated seeds for ``target.seconds`` (hypothesis batches until then); the number run."""
    seeds = target.seeds()
    assert seeds, f"no seeds for {target.name}"
    deadline = time.monotonic() + target.seconds
    runs = 0

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(which=st.integers(0, len(seeds) - 1), edits=EDITS, cut=st.integers(0, 1 << 20), knobs=KNOBS)
    def batch(which: int, edits: list[tuple[int, int, str]], cut: int, knobs: list[int]) -> None:
        nonlocal runs
        if time.monotonic() > deadline:
            return
        data = mutate(seeds[which], edits, cut)
        took = timed(target, data, knobs)
        assert took < bound(len(data)), f"{target.name}: {took:.2f} s for {len(data)} bytes"
        runs += 1

    while time.monotonic() < deadline:
        batch()
    return runs


# Inputs each target must at least have run: low, because a busy 2-core runner may run few (the SIP
# target ran only 98 in its 3.5 s while another fuzz run shared the machine).
MIN_RUNS = 20


def test_fuzz_tls_reader():
    assert _fuzz(TARGETS["tls"]) >= MIN_RUNS


def test_fuzz_sip_parser_and_framer():
    assert _fuzz(TARGETS["sip"]) >= MIN_RUNS


def test_fuzz_tcp_reassembly():
    assert _fuzz(TARGETS["tcpstream"]) >= MIN_RUNS


def test_fuzz_netstat_reader():
    assert _fuzz(TARGETS["netstat"]) >= MIN_RUNS


def test_fuzz_kind_detection():
    assert _fuzz(TARGETS["detect"]) >= MIN_RUNS


def test_fuzz_pem_members():
    assert _fuzz(TARGETS["pem"]) >= MIN_RUNS


def test_fuzz_analyze_front_door():
    assert _fuzz(TARGETS["analyze"]) >= MIN_RUNS


@settings(max_examples=40, deadline=None, database=None)
@given(which=st.integers(0, 3), knobs=KNOBS)
def test_real_sip_streams_frame_the_same_however_cut(which, knobs):
    seeds = sip_streams()
    honest_sip_framing(seeds[which % len(seeds)], knobs)


@settings(max_examples=40, deadline=None, database=None)
@given(which=st.integers(0, 1 << 10), knobs=KNOBS)
def test_real_tls_streams_read_the_same_however_cut(which, knobs):
    seeds = tls_seeds()
    run_tls(seeds[which % len(seeds)], knobs)
