"""Packet captures -> observations, with a ladder (text and PNG) of every failing connection.

``observe(chunks, name) -> Observed`` reads the capture's bytes in order (the orchestrator opens
the file and reports progress), and ``scan(chunks) -> Scan`` exposes what was seen per connection
(tests compare it with tshark's decoding).

How it stays fast and flat on a big capture:
- records and IP/TCP headers are read with ``struct`` from the chunk buffer
  (``checks.parsers.pcap``); a connection whose first bytes are neither TLS nor SIP is marked
  ``other``, and once a TLS direction is encrypted its ordinary segments are dropped inside the
  record loop itself (the reader's ``quiet`` set), so background traffic costs one header peek;
- TLS directions are reassembled only until they switch to encrypted records
  (``checks.parsers.tls``); later alerts are still noticed when they sit alone in a segment;
  SIP directions go through a capped framer;
- named caps bound every table: ``MAX_ACTIVE_CONNECTIONS``, ``MAX_BUFFERED_BYTES`` (all
  reassembly, TLS and SIP buffers together), ``MAX_KEPT_CONNECTIONS`` / ``MAX_KEPT_OTHER_TLS``,
  ``MAX_TLS_BYTES_PER_DIRECTION``, ``MAX_STEPS``, ``MAX_SIP_MESSAGES``, ``MAX_PICTURES``.

Who is Webex and who is the Expressway (the observation codes are about roles, not about TCP
client and server): a side whose certificate carries Webex names (``CertInfo.webex_like``) is
Webex and its peer the Expressway; addresses learnt that way carry over to the capture's other
connections. Without certificates, on the Mutual TLS port 5062, a connection opened from the
Expressway's documented outbound port range 25000-29999 is outbound (the Expressway is the
client); otherwise the listener on 5062 is taken to be the Expressway-E (inbound). Connections
on other ports without Webex certificates are described but give no observation: nothing ties
them to Hybrid Call.

Every chain goes through ``checks.certs.analyze_chain``, as the live check does, so the same
chain gives the same code from a capture and from ``hcdoctor check``. TLS 1.3 hides
certificates and alerts: such connections are said to be encrypted and nothing is claimed.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import InvalidVersion

from checks.certs import ChainAnalysis, analyze_chain, webex_roots_in
from checks.model import Evidence, Observation, Observed, Timeline
from checks.parsers import tls as T
from checks.parsers.pcap import CaptureReader
from checks.parsers.sip import SipMessage, SipStreamFramer, looks_like_sip, parse_message
from checks.parsers.tcpstream import Delivery, HalfStream
from checks.sipcalls import observe_sip
from kb.errors import InputError

MTLS_PORT = 5062
# Expressway-E "TCP outbound port range" for SIP (Hybrid deployment guide: 25000-29999).
EXPRESSWAY_OUTBOUND_PORTS = range(25000, 30000)
# A SIP message above this many bytes is "large": Unified CM's old default SIP Max Incoming
# Message Size (up to 8.6, kept by upgrades) is 5000 bytes.
OVERSIZED_SIP_BYTES = 5000
# An unanswered SYN is only called unanswered when retried or when the capture ran this long after it.
SYN_PATIENCE_SECONDS = 3.0

MAX_ACTIVE_CONNECTIONS = 20_000  # connections with live state; the oldest is closed beyond this
MAX_KEPT_CONNECTIONS = 5_000  # summaries of Hybrid-relevant connections (5062, SIP, Webex certificates)
MAX_KEPT_OTHER_TLS = 1_000  # summaries of other TLS connections (described by ``scan``, never judged)
MAX_TLS_BYTES_PER_DIRECTION = 4 << 20  # handshake bytes read per direction before giving up
# A connection the capture joined mid-stream may show a SIP start line only after some bytes.
MIDSTREAM_SNIFF_BYTES = 4096
# Bytes waiting in reassembly, TLS and SIP buffers over all connections. Past it the connections
# that have waited longest stop being read (counted in a warning), so memory stays flat even when
# a capture holds thousands of half-finished handshakes.
MAX_BUFFERED_BYTES = 48 << 20
MAX_STEPS = 80  # ladder steps kept per connection
MAX_SIP_MESSAGES = 4_000  # SIP messages kept for the call rules
MAX_PICTURES = 20  # ladder PNGs per capture (one per distinct failing exchange)

_TCP = struct.Struct(">HHIIBB").unpack_from
SYN, RST, FIN, ACK = 0x02, 0x04, 0x01, 0x10


@dataclass
class Step:
    frame: int
    ts: float
    direction: int  # 0: from the connection's first sender, 1: back
    text: str
    kind: str  # tcp | tls | sip


@dataclass
class Conn:
    """Everything seen on one TCP connection (``ends[0]`` sent its first packet)."""

    index: int
    ends: tuple[tuple[str, int], tuple[str, int]]
    first_ts: float
    kind: str = "unknown"  # unknown | tls | sip | other
    syn_from: int | None = None
    syn_frames: list[int] = field(default_factory=list)
    synack_frame: int | None = None
    rst: list[tuple[int, int, float]] = field(default_factory=list)  # (frame, direction, ts)
    fin: list[tuple[int, int]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    hellos: dict[int, T.ClientHello | T.ServerHello] = field(default_factory=dict)
    version: int | None = None
    hello_retry: bool = False
    certificates: list[tuple[int, int, float, tuple[bytes, ...]]] = field(default_factory=list)
    cert_requests: list[tuple[int, int, tuple[str, ...]]] = field(default_factory=list)
    alerts: list[tuple[int, int, T.Alert]] = field(default_factory=list)
    appdata: dict[int, int] = field(default_factory=dict)  # direction -> first frame
    ccs: dict[int, int] = field(default_factory=dict)
    desync: list[str] = field(default_factory=list)
    gaps: int = 0
    big_sip: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # dir -> (frame, size, start line)
    sip_reset: tuple[int, int, int, str, int] | None = None  # (msg frame, size, dir, line, rst frame)
    halves: list[HalfStream] | None = None
    readers: list[T.TlsReader] | None = None
    framers: list[SipStreamFramer] | None = None
    done: bool = False  # no more payload needed
    quiet: list[bool] = field(default_factory=lambda: [False, False])  # per direction: payload no longer read
    sniffed: int = 0  # bytes seen before its protocol could be told (mid-stream starts)
    buffered: int = 0  # bytes this connection holds in its buffers (accounted by the scanner)
    late_alert_seqs: set[tuple[int, int]] = field(default_factory=set)
    call_ids: set[str] = field(default_factory=set)  # SIP Call-IDs carried (up to MAX_STEPS)
    keys: tuple[bytes, ...] = ()  # its two flow-table keys (one when both ends are the same)

    @property
    def client(self) -> int:
        """Direction index of the TLS/TCP client: ClientHello sender, else SYN sender, else first sender."""
        for d, h in self.hellos.items():
            if isinstance(h, T.ClientHello):
                return d
        return self.syn_from if self.syn_from is not None else 0

    @property
    def server_end(self) -> tuple[str, int]:
        return self.ends[1 - self.client]

    @property
    def label(self) -> str:
        ip, port = self.server_end
        return f"stream {self.index} ({_hostport(ip, port)})"

    def step(self, frame: int, ts: float, direction: int, text: str, kind: str) -> None:
        if len(self.steps) < MAX_STEPS:
            self.steps.append(Step(frame, ts, direction, text, kind))


@dataclass(frozen=True)
class Scan:
    """What a capture holds, per connection (in order of first packet), plus SIP messages and warnings."""

    connections: tuple[Conn, ...]
    sip: tuple[tuple[SipMessage, Evidence], ...]
    warnings: tuple[str, ...]
    frames: int
    last_ts: float
    format: str


# Byte strings found in the DER of Webex certificates (SAN dNSNames are plain IA5 text): a cheap
# test before any parsing, so thousands of unrelated HTTPS connections cost nothing at close.
_WEBEX_DER_MARKERS = (b"wbx2.com", b"webex.com", b"ciscospark.com")


def _mentions_webex(ders: tuple[bytes, ...]) -> bool:
    return any(marker in der for der in ders for marker in _WEBEX_DER_MARKERS)


def _sip_start_inside(data: bytes) -> bool:
    """A capture that starts in the middle of a SIP message still shows a start line a little later."""
    head = data[:4096]
    return b"\r\nSIP/2.0 " in head or any(f"\r\n{m} sip:".encode() in head for m in ("INVITE", "ACK", "BYE", "OPTIONS"))


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


class _Scanner:
    def __init__(self, name: str) -> None:
        self.name = name
        self.active: dict[bytes, tuple[Conn, int]] = {}
        self.conns: dict[int, Conn] = {}  # live connections by index, oldest first
        self.kept: list[Conn] = []
        self.kept_other = 0
        self.dropped = 0
        self.count = 0
        self.sip: list[tuple[SipMessage, Evidence]] = []
        self.sip_dropped = 0
        self.buffered = 0  # bytes held in all connections' buffers (see MAX_BUFFERED_BYTES)
        self.starved = 0
        self.cut_frames = 0
        self.last_ts = 0.0
        self.quiet: set[bytes] = set()  # the reader's set of flow directions it may skip

    # -- packets -------------------------------------------------------------------------------
    def run(self, chunks: Iterable[bytes]) -> Scan:
        reader = CaptureReader(chunks)
        self.quiet = reader.quiet
        tcp = _TCP
        active = self.active
        ts = 0.0
        for frame, ts, buf, _, src, dst, proto, l4, end, fragment, declared_end in reader.ip_packets():
            if fragment:
                continue
            if proto == 6:
                if end - l4 < 20:
                    continue
                sport, dport, seq, _ack, doff, flags = tcp(buf, l4)
                key = src + dst + buf[l4:l4 + 4]
                entry = active.get(key)
                pstart = l4 + (doff >> 4) * 4
                if entry is not None and (entry[0].done or entry[0].quiet[entry[1]]) and not flags & 0x07:
                    # finished, ignored or encrypted direction, no SYN/RST/FIN: only a TLS alert record
                    # alone in a segment still matters
                    if entry[0].kind != "tls" or end - pstart < 7 or buf[pstart] != 21:
                        continue
                self._tcp(frame, ts, src, dst, declared_end > end, declared_end, key, entry, sport, dport, seq,
                          flags, buf[pstart:end] if end > pstart else b"", buf, l4)
            elif proto == 17 and end - l4 > 8:
                if buf[l4 + 8:l4 + 9].isalpha() and looks_like_sip(buf[l4 + 8:end]):
                    self._sip_datagram(bytes(buf[l4 + 8:end]), frame, f"{_ip(src)} → {_ip(dst)} (UDP)")
        self.last_ts = ts
        for conn in list(self.conns.values()):
            self._close(conn)
        warnings = list(reader.warnings)
        if self.cut_frames:
            warnings.append(f"{self.cut_frames} frame(s) were cut short by the capture's snap length; "
                            "their missing bytes were skipped")
        if self.dropped:
            warnings.append(f"{self.dropped} connection(s) beyond {MAX_KEPT_CONNECTIONS} were not kept for analysis")
        if self.starved:
            warnings.append(f"{self.starved} connection(s) were left unread because too many handshakes were "
                            "open at once")
        if self.sip_dropped:
            warnings.append(f"{self.sip_dropped} SIP message(s) beyond {MAX_SIP_MESSAGES} were not analysed")
        self.kept.sort(key=lambda c: c.index)
        return Scan(tuple(self.kept), tuple(self.sip), tuple(warnings), reader.frames, self.last_ts, reader.format)

    def _tcp(self, frame, ts, src, dst, cut, declared_end, key, entry, sport, dport, seq, flags, payload, buf,
             l4) -> None:
        if entry is None or (flags & SYN and not flags & ACK and entry[0].syn_from is not None
                             and (entry[0].rst or entry[0].fin) and entry[0].syn_from == entry[1]):
            if entry is not None:
                self._close(entry[0])
            if not (payload or flags & (SYN | RST | FIN)) and MTLS_PORT not in (sport, dport):
                return
            conn = self._new(src, dst, sport, dport, ts, key, buf, l4)
            d = 0
        else:
            conn, d = entry
        if flags & SYN:
            if flags & ACK:
                if conn.synack_frame is None:
                    conn.synack_frame = frame
                    conn.step(frame, ts, d, "SYN-ACK", "tcp")
            else:
                if conn.syn_from is None:
                    conn.syn_from = d
                if len(conn.syn_frames) < MAX_STEPS:
                    conn.syn_frames.append(frame)
                if len(conn.syn_frames) <= 3:
                    conn.step(frame, ts, d, "SYN" if len(conn.syn_frames) == 1 else "SYN (retransmitted)", "tcp")
            if conn.halves is not None:
                conn.halves[d].syn(seq)
        if payload and conn.kind == "tls" and (conn.done or conn.quiet[d]):
            self._late_alert(conn, d, seq, payload, frame, ts)
        elif payload and not conn.done and conn.halves is not None:
            half = conn.halves[d]
            deliveries = half.segment(seq, bytes(payload))
            if cut:
                self.cut_frames += 1
                pstart = l4 + (buf[l4 + 12] >> 4) * 4
                deliveries += half.lost(seq + declared_end - pstart)
            for delivery in deliveries:
                self._payload(conn, d, delivery, frame, ts)
            self._account(conn)
        if flags & RST:
            conn.rst.append((frame, d, ts))
            if len(conn.rst) <= 2:
                conn.step(frame, ts, d, "RST", "tcp")
            self._flush_sip_reset(conn, d, frame)
        if flags & FIN and len([f for f in conn.fin if f[1] == d]) == 0:
            conn.fin.append((frame, d))
            conn.step(frame, ts, d, "FIN", "tcp")
            self._flush_sip_reset(conn, d, frame)

    @staticmethod
    def _late_alert(conn: Conn, d: int, seq: int, payload, frame: int, ts: float) -> None:
        """After the handshake only whole alert records alone in a segment are noted (no reassembly)."""
        if len(payload) < 7 or payload[0] != 21 or payload[1] != 3 or (payload[3] << 8 | payload[4]) + 5 != len(payload):
            return
        if (d, seq) in conn.late_alert_seqs:
            return
        conn.late_alert_seqs.add((d, seq))
        alert = T.Alert(level=None, description=None, encrypted=True)
        conn.alerts.append((frame, d, alert))
        conn.step(frame, ts, d, "encrypted alert", "tls")

    def _new(self, src, dst, sport, dport, ts, key, buf, l4) -> Conn:
        if len(self.conns) >= MAX_ACTIVE_CONNECTIONS:
            self._close(next(iter(self.conns.values())))
        conn = Conn(index=self.count, ends=((_ip(src), sport), (_ip(dst), dport)), first_ts=ts)
        conn.halves = [HalfStream(), HalfStream()]
        self.count += 1
        self.conns[conn.index] = conn
        back = dst + src + buf[l4 + 2:l4 + 4] + buf[l4:l4 + 2]
        self.active[back] = (conn, 1)
        self.active[key] = (conn, 0)
        conn.keys = (key, back) if back != key else (key,)
        return conn

    def _account(self, conn: Conn) -> None:
        """Keep ``self.buffered`` current for ``conn``; over the budget, stop reading the oldest connections."""
        size = 0
        if not conn.done:
            for part in (conn.halves or ()):
                size += part.held_bytes
            for reader in (conn.readers or ()):
                size += reader.buffered
            for framer in (conn.framers or ()):
                size += framer.pending
        self.buffered += size - conn.buffered
        conn.buffered = size
        if self.buffered <= MAX_BUFFERED_BYTES:
            return
        for victim in list(self.conns.values()):
            if victim.buffered:
                self.buffered -= victim.buffered
                victim.buffered = 0
                victim.done = True
                victim.halves = victim.readers = victim.framers = None
                self.quiet.update(victim.keys)
                self.starved += 1
                if self.buffered <= MAX_BUFFERED_BYTES // 2:
                    return

    def _close(self, conn: Conn) -> None:
        """Drop a connection's live state and keep its summary if it matters."""
        if self.conns.pop(conn.index, None) is None:
            return
        self.buffered -= conn.buffered
        conn.buffered = 0
        for key in conn.keys:
            self.quiet.discard(key)
            if key in self.active and self.active[key][0] is conn:
                del self.active[key]
        conn.halves = conn.readers = conn.framers = None
        hybrid = (conn.kind == "sip" or MTLS_PORT in (conn.ends[0][1], conn.ends[1][1])
                  or any(_mentions_webex(ders) for _, _, _, ders in conn.certificates))
        if hybrid and len(self.kept) < MAX_KEPT_CONNECTIONS:
            self.kept.append(conn)
        elif not hybrid and conn.kind == "tls" and self.kept_other < MAX_KEPT_OTHER_TLS:
            self.kept.append(conn)  # described (``scan``) but never judged: nothing ties it to Hybrid Call
            self.kept_other += 1
        elif hybrid:
            self.dropped += 1

    # -- stream contents -----------------------------------------------------------------------
    def _payload(self, conn: Conn, d: int, delivery: Delivery, frame: int, ts: float) -> None:
        if delivery.gap:
            conn.gaps += 1
        if conn.kind == "unknown":
            if T.looks_like_tls(delivery.data) and delivery.offset == 0:
                conn.kind = "tls"
                conn.readers = [T.TlsReader(), T.TlsReader()]
            elif looks_like_sip(delivery.data) or _sip_start_inside(delivery.data):
                conn.kind = "sip"
                conn.framers = [SipStreamFramer(), SipStreamFramer()]
            elif conn.syn_from is None and conn.sniffed + len(delivery.data) < MIDSTREAM_SNIFF_BYTES:
                conn.sniffed += len(delivery.data)  # joined mid-stream: a start line may still come
                return
            else:
                conn.kind = "other"
                conn.done = True
                conn.halves = None
                self.quiet.update(conn.keys)
                return
        if conn.kind == "tls" and conn.readers is not None:
            self._tls(conn, d, delivery, frame, ts)
        elif conn.kind == "sip" and conn.framers is not None:
            framer = conn.framers[d]
            if delivery.gap:
                conn.framers[d] = framer = SipStreamFramer()
            for framed in framer.feed(delivery.data):
                msg = framed.message
                conn.step(frame, ts, d, msg.start_line[:60], "sip")
                if msg.call_id and len(conn.call_ids) < MAX_STEPS:
                    conn.call_ids.add(msg.call_id)
                if msg.size > OVERSIZED_SIP_BYTES:
                    conn.big_sip[d] = (frame, msg.size, msg.start_line)
                conn.big_sip.pop(1 - d, None)  # the other side got an answer
                self._keep_sip(msg, frame, conn.label)
            pending = framer.pending_message_size()
            if pending and pending > OVERSIZED_SIP_BYTES:
                conn.big_sip[d] = (frame, pending, framer.pending_start_line() + " (incomplete)")

    def _flush_sip_reset(self, conn: Conn, closer: int, frame: int) -> None:
        big = conn.big_sip.get(1 - closer)
        if conn.kind == "sip" and big and conn.sip_reset is None:
            conn.sip_reset = (big[0], big[1], 1 - closer, big[2], frame)

    def _keep_sip(self, msg: SipMessage, frame: int, where: str) -> None:
        if len(self.sip) >= MAX_SIP_MESSAGES:
            self.sip_dropped += 1
            return
        text = msg.start_line + (f" (Call-ID {msg.call_id})" if msg.call_id else "")
        self.sip.append((msg, Evidence(self.name, f"frame {frame}, {where}", text)))

    def _sip_datagram(self, data: bytes, frame: int, where: str) -> None:
        try:
            msg = parse_message(data)
        except InputError:
            return
        self._keep_sip(msg, frame, where)

    def _tls(self, conn: Conn, d: int, delivery: Delivery, frame: int, ts: float) -> None:
        assert conn.readers is not None
        reader = conn.readers[d]
        for ev in reader.feed(delivery.data, delivery.gap):
            self._tls_event(conn, d, ev, frame, ts)
        readers = conn.readers
        if d in conn.appdata:  # this side is encrypted now: only its alerts matter, seen without reassembly
            conn.quiet[d] = True
            if conn.halves is not None:
                conn.halves[d].drop()
            if len(conn.keys) == 2:
                self.quiet.add(conn.keys[d])
        finished = all(r.dead or d2 in conn.appdata for d2, r in enumerate(readers))
        too_long = conn.halves is not None and conn.halves[d].delivered > MAX_TLS_BYTES_PER_DIRECTION
        if finished or too_long:
            conn.done = True
            conn.halves = None
            conn.readers = None
            self.quiet.update(conn.keys)

    def _tls_event(self, conn: Conn, d: int, ev: T.TlsEvent, frame: int, ts: float) -> None:
        if isinstance(ev, T.ClientHello):
            conn.hellos.setdefault(d, ev)
            conn.step(frame, ts, d, "client hello" + (f" (SNI {ev.sni})" if ev.sni else ""), "tls")
        elif isinstance(ev, T.ServerHello):
            if conn.readers is not None and (ev.hello_retry or ev.version == 0x0304):
                conn.readers[1 - d].tls13_hint()
            if ev.hello_retry:
                conn.hello_retry = True
                conn.version = ev.version
                conn.step(frame, ts, d, "hello retry request", "tls")
                return
            conn.hellos[d] = ev
            conn.version = ev.version
            conn.step(frame, ts, d, f"server hello ({T.version_name(ev.version)}, cipher 0x{ev.cipher:04x})", "tls")
        elif isinstance(ev, T.Certificate):
            conn.certificates.append((frame, d, ts, ev.ders))
            conn.step(frame, ts, d, f"certificate ({_chain_text(ev.ders, ts)})", "tls")
        elif isinstance(ev, T.CertificateRequest):
            conn.cert_requests.append((frame, d, ev.ca_names))
            conn.step(frame, ts, d, f"certificate request ({len(ev.ca_names)} CA name{'s' if len(ev.ca_names) != 1 else ''})", "tls")
        elif isinstance(ev, T.Handshake):
            conn.step(frame, ts, d, ev.name, "tls")
        elif isinstance(ev, T.ChangeCipherSpec):
            conn.ccs.setdefault(d, frame)
            conn.step(frame, ts, d, "change cipher spec", "tls")
        elif isinstance(ev, T.Alert):
            conn.alerts.append((frame, d, ev))
            level = {1: "warning", 2: "fatal"}.get(ev.level or 0, "")
            conn.step(frame, ts, d, "encrypted alert" if ev.encrypted else f"alert {ev.name}" + (f" ({level})" if level else ""),
                      "tls")
        elif isinstance(ev, T.ApplicationData):
            conn.appdata.setdefault(d, frame)
            conn.step(frame, ts, d, "application data", "tls")
        elif isinstance(ev, T.Desync):
            conn.desync.append(ev.reason)
            conn.step(frame, ts, d, f"stopped reading TLS: {ev.reason}", "tls")


def _analyze(ders: tuple[bytes, ...], ts: float) -> ChainAnalysis | None:
    """``analyze_chain`` at the capture's own time; None when a certificate cannot be read.

    A capture can carry any bytes in a Certificate message, and cryptography rejects odd keys or
    algorithms with ValueError, TypeError, UnsupportedAlgorithm or InvalidVersion, not only with
    InputError (``checks.certs`` lets those through).
    """
    try:
        with warnings.catch_warnings():  # real-world certificates (negative serials) make cryptography warn
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return analyze_chain(ders, _when(ts))
    except (ValueError, TypeError, UnsupportedAlgorithm, InvalidVersion):
        return None


def _chain_text(ders: tuple[bytes, ...], ts: float) -> str:
    if not ders:
        return "empty: no certificate"
    analysis = _analyze(ders, ts)
    if analysis is None:
        return f"{len(ders)} cert{'s' if len(ders) != 1 else ''}, unparsable"
    return analysis.describe()


def _when(ts: float) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def scan(chunks: Iterable[bytes], name: str = "capture") -> Scan:
    """Read a whole capture (streaming) and summarise each TCP connection and SIP message."""
    return _Scanner(name).run(chunks)


# -- judgement ---------------------------------------------------------------------------------

@dataclass
class _Roles:
    webex: int | None  # direction index of the Webex side
    source: str


def _chain(conn: Conn, d: int) -> tuple[int, float, ChainAnalysis] | None:
    """The first non-empty, parsable Certificate message sent from direction ``d``."""
    for frame, sender, ts, ders in conn.certificates:
        if sender == d and ders:
            analysis = _analyze(ders, ts)
            return (frame, ts, analysis) if analysis is not None else None
    return None


def _roles(conn: Conn, webex_ips: set[str], exp_ips: set[str]) -> _Roles | None:
    for d in (0, 1):
        got = _chain(conn, d)
        if got and got[2].leaf and got[2].leaf.webex_like:
            return _Roles(d, "certificates")
    for d in (0, 1):
        ip = conn.ends[d][0]
        if ip in webex_ips and ip not in exp_ips:
            return _Roles(d, "addresses seen with Webex certificates")
        if ip in exp_ips and ip not in webex_ips:
            return _Roles(1 - d, "addresses seen with Webex certificates")
    client = conn.client
    if conn.ends[1 - client][1] != MTLS_PORT:
        return None
    if conn.ends[client][1] in EXPRESSWAY_OUTBOUND_PORTS:
        return _Roles(1 - client, "port 5062 connection from the Expressway outbound port range")
    return _Roles(client, "port 5062 listener taken as the Expressway-E")


def _ev(name: str, frame: int, text: str) -> Evidence:
    return Evidence(name, f"frame {frame}", text)


def _judge(conn: Conn, roles: _Roles, name: str) -> list[Observation]:
    """Observation codes for one TLS connection whose roles are known."""
    out: list[Observation] = []
    if conn.version == 0x0304:
        return out
    webex = roles.webex
    assert webex is not None
    exp = 1 - webex
    ip = [conn.ends[0][0], conn.ends[1][0]]
    facts = (("stream", str(conn.index)), ("roles", roles.source))

    exp_chain = _chain(conn, exp)
    webex_chain = _chain(conn, webex)
    if exp_chain:
        frame, _, analysis = exp_chain
        code = {"leaf_only": "tls.server_chain.leaf_only", "self_signed": "tls.server_chain.self_signed",
                "complete": "tls.server_chain.complete"}.get(analysis.shape)
        if code:
            out.append(Observation(code, (_ev(name, frame, f"{ip[exp]} (Expressway side) sent its Certificate: "
                                                           f"{analysis.describe()}"),), facts))
    for frame, sender, names in conn.cert_requests:
        if sender == exp and names and not webex_roots_in(names):
            shown = "; ".join(names[:4]) + (" …" if len(names) > 4 else "")
            out.append(Observation("tls.client_ca_list.no_webex_root", (
                _ev(name, frame, f"{ip[exp]} asked for a client certificate from these CAs only: {shown}"),), facts))
            break

    first_alert = next(((f, s, a) for f, s, a in conn.alerts if not a.encrypted and a.fatal), None)
    if first_alert:
        frame, sender, alert = first_alert
        if sender == exp and alert.description in (42, 48) and webex_chain and webex_chain[0] < frame:
            out.append(Observation("tls.expressway_rejected_webex_cert", (
                _ev(name, webex_chain[0], f"{ip[webex]} (Webex side) sent its Certificate: {webex_chain[2].describe()}"),
                _ev(name, frame, f"{ip[exp]} (Expressway side) answered with fatal alert {alert.name}")), facts))
        if sender == webex and alert.description in (42, 46, 48) and exp_chain and exp_chain[0] < frame:
            out.append(Observation("tls.webex_rejected_expressway_cert", (
                _ev(name, exp_chain[0], f"{ip[exp]} (Expressway side) sent its Certificate: {exp_chain[2].describe()}"),
                _ev(name, frame, f"{ip[webex]} (Webex side) answered with fatal alert {alert.name}")), facts))
    if conn.rst:
        frame, sender, _ = conn.rst[0]
        alert_before = any(f < frame for f, _, _ in conn.alerts)
        sender_talked = conn.appdata.get(sender, frame + 1) < frame
        if not alert_before and not sender_talked:
            if sender == exp and webex_chain and webex_chain[0] < frame:
                out.append(Observation("tls.expressway_reset_after_webex_cert", (
                    _ev(name, webex_chain[0], f"{ip[webex]} (Webex side) sent its Certificate: "
                                              f"{webex_chain[2].describe()}"),
                    _ev(name, frame, f"{ip[exp]} (Expressway side) reset the connection (TCP RST) without a TLS alert")),
                    facts))
            if sender == webex and exp_chain and exp_chain[0] < frame:
                out.append(Observation("tls.reset_without_alert_after_server_cert", (
                    _ev(name, exp_chain[0], f"{ip[exp]} (Expressway side) sent its Certificate: "
                                            f"{exp_chain[2].describe()}"),
                    _ev(name, frame, f"a TCP RST from {ip[webex]} (Webex direction) ended the handshake with no TLS alert")),
                    facts))
    return out


def _tcp_observations(conn: Conn, roles: _Roles | None, last_ts: float, name: str) -> list[Observation]:
    client = conn.client
    server_ip, server_port = conn.ends[1 - client]
    if server_port != MTLS_PORT or not conn.syn_frames or conn.synack_frame is not None:
        return []
    where = conn.label
    first = conn.syn_frames[0]
    client_ip = conn.ends[client][0]
    facts = (("stream", str(conn.index)),)
    reset = next(((f, d) for f, d, _ in conn.rst if d != client), None)
    if reset and roles is not None and roles.webex == client:  # a refusal by the Expressway-E's side
        return [Observation("tcp.refused", (
            _ev(name, first, f"SYN from {client_ip} to {_hostport(server_ip, server_port)}"),
            _ev(name, reset[0], f"{server_ip} answered the SYN with a RST: nothing listens on {server_port}")), facts)]
    if conn.rst or conn.fin or conn.steps and any(s.direction != client for s in conn.steps):
        return []
    if len(conn.syn_frames) < 2 and last_ts - conn.first_ts < SYN_PATIENCE_SECONDS:
        return []
    outbound = roles is not None and roles.webex is not None and roles.webex != client
    code = "tcp.unanswered.outbound" if outbound else "tcp.unanswered.inbound"
    direction = "outbound (Expressway to Webex)" if outbound else "inbound (towards the Expressway-E)"
    text = (f"{len(conn.syn_frames)} SYN(s) from {client_ip} to {_hostport(server_ip, server_port)} over "
            f"{max(0.0, last_ts - conn.first_ts):.1f} s got no answer; direction {direction}"
            + (f", from {roles.source}" if roles else ""))
    return [Observation(code, (Evidence(name, where, text),), facts)]


def _sip_reset_observation(conn: Conn, name: str) -> list[Observation]:
    if conn.sip_reset is None:
        return []
    mframe, size, d, line, rframe = conn.sip_reset
    sender, receiver = conn.ends[d][0], conn.ends[1 - d][0]
    return [Observation("sip.oversized_message_reset", (
        _ev(name, mframe, f"{sender} sent a {size}-byte SIP message ({line}), above {OVERSIZED_SIP_BYTES} bytes"),
        _ev(name, rframe, f"{receiver} closed the connection without answering it")),
        (("stream", str(conn.index)), ("size", str(size))))]


def _failing(conn: Conn, observations: list[Observation]) -> bool:
    if any(o.code != "tls.server_chain.complete" for o in observations):
        return True
    handshake_open = conn.kind == "tls" and len(conn.appdata) < 2
    return bool(any(a.fatal for _, _, a in conn.alerts) or (conn.rst and handshake_open)
                or (conn.kind == "tls" and conn.desync))


# Handshake steps left out of the one-line ladder (the per-frame lines and the PNG keep them).
_MINOR_STEPS = ("SYN-ACK", "server key exchange", "server hello done", "client key exchange", "certificate verify",
                "change cipher spec", "encrypted handshake message", "new session ticket")


def _ladder_text(conn: Conn) -> str:
    """One line for people: client hello → server certificate (…) → alert unknown_ca from 127.20.0.1 → FIN."""
    client = conn.client
    parts: list[str] = []
    for s in conn.steps:
        if s.text in _MINOR_STEPS or (s.text == "SYN" and conn.synack_frame is not None):
            continue
        who = "client" if s.direction == client else "server"
        ip = conn.ends[s.direction][0]
        if s.kind == "tcp" or s.text.startswith(("alert", "encrypted alert")):
            text = f"{s.text} from {ip}"
        elif s.text.startswith(("certificate", "application data")):
            text = f"{who} {s.text}"
        else:
            text = s.text
        if not parts or parts[-1] != text:
            parts.append(text)
    return " → ".join(parts)


def _timeline(name: str, conn: Conn, roles: _Roles | None, picture: bool) -> Timeline:
    client = conn.client
    names = ["", ""]
    for d in (0, 1):
        role = ""
        if roles and roles.webex is not None:
            role = " (Webex)" if d == roles.webex else " (Expressway)"
        names[d] = _hostport(*conn.ends[d]) + role
    lines = [_ladder_text(conn)]
    if conn.version == 0x0304:
        lines.append("TLS 1.3: certificates and alerts are encrypted, so nothing is said about them")
    for s in conn.steps:
        if s.text not in _MINOR_STEPS:
            lines.append(f"frame {s.frame}: {names[s.direction]} → {names[1 - s.direction]}: {s.text}")
    title = f"{name} {conn.label}: {names[client]} → {names[1 - client]}"
    png = _ladder_png(title, names[client], names[1 - client], conn, client) if picture else None
    return Timeline(title=title, lines=tuple(lines), picture=png)


def _ladder_png(title: str, left: str, right: str, conn: Conn, client: int) -> bytes | None:
    """A ladder diagram (two lanes, one arrow per step) as PNG bytes; None when Pillow is missing."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return None
    font = ImageFont.load_default()
    row, top, width = 26, 70, 900
    steps = conn.steps
    height = top + row * (len(steps) + 1) + 20
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    lx, rx = 170, width - 170
    draw.text((10, 8), title.replace("→", "->"), fill="black", font=font)
    draw.text((lx - 80, 36), left, fill="black", font=font)
    draw.text((rx - 80, 36), right, fill="black", font=font)
    draw.line((lx, top - 10, lx, height - 10), fill="gray", width=2)
    draw.line((rx, top - 10, rx, height - 10), fill="gray", width=2)
    for i, s in enumerate(steps):
        y = top + row * i + 14
        x0, x1 = (lx, rx) if s.direction == client else (rx, lx)
        bad = s.text.startswith("alert") or s.text == "RST"
        color = "firebrick" if bad else "navy" if s.kind == "tls" else "darkgreen" if s.kind == "sip" else "dimgray"
        draw.line((x0, y, x1, y), fill=color, width=2)
        tip = -8 if x1 > x0 else 8
        draw.polygon([(x1, y), (x1 + tip, y - 5), (x1 + tip, y + 5)], fill=color)
        draw.text((lx + 12, y - 13), s.text[:90], fill=color, font=font)
        draw.text((10, y - 6), f"frame {s.frame}", fill="gray", font=font)
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def observe(chunks: Iterable[bytes], name: str) -> Observed:
    """Observations, ladders of failing connections and warnings for one capture file."""
    result = scan(chunks, name)
    webex_ips: set[str] = set()
    exp_ips: set[str] = set()
    for conn in result.connections:
        for d in (0, 1):
            got = _chain(conn, d)
            if got and got[2].leaf and got[2].leaf.webex_like:
                webex_ips.add(conn.ends[d][0])
                exp_ips.add(conn.ends[1 - d][0])
    sip_observations = observe_sip(result.sip)
    troubled_calls = {o.fact("call_id") for o in sip_observations}
    observations: list[Observation] = []
    timelines: list[Timeline] = []
    tls13 = 0
    failing: dict[str, list[tuple[Conn, _Roles | None]]] = {}  # same exchange repeated: one ladder
    for conn in result.connections:
        roles = _roles(conn, webex_ips, exp_ips)
        found: list[Observation] = []
        if conn.kind == "tls" and roles is not None:
            found += _judge(conn, roles, name)
        found += _tcp_observations(conn, roles, result.last_ts, name)
        found += _sip_reset_observation(conn, name)
        found = [replace(o, scope=f"{name} stream {conn.index}") for o in found]
        if conn.version == 0x0304:
            tls13 += 1
        observations += found
        hybrid = roles is not None or conn.kind == "sip"
        if (hybrid and _failing(conn, found)) or conn.call_ids & troubled_calls:
            failing.setdefault(_ladder_text(conn), []).append((conn, roles))
    for same in failing.values():
        conn, roles = same[0]
        timeline = _timeline(name, conn, roles, picture=len(timelines) < MAX_PICTURES)
        if len(same) > 1:
            others = ", ".join(str(c.index) for c, _ in same[1:6]) + (", …" if len(same) > 6 else "")
            timeline = Timeline(timeline.title, (*timeline.lines, f"the same exchange was seen {len(same) - 1} more "
                                                  f"time(s): streams {others}"), timeline.picture)
        timelines.append(timeline)
    observations += sip_observations
    warnings = list(result.warnings)
    if tls13:
        warnings.append(f"{tls13} TLS 1.3 connection(s): their certificates and alerts are encrypted, "
                        "so nothing is said about them")
    if not result.frames:
        warnings.append("the capture holds no packets")
    return Observed(observations=tuple(observations), timelines=tuple(timelines),
                    warnings=tuple(f"{name}: {w}" for w in warnings))
