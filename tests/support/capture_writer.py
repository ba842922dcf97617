"""Turn real TLS and SIP bytes into pcap / pcapng files, the way a capture on an Expressway would look.

The TLS bytes come from real OpenSSL handshakes run in memory (pyOpenSSL ``Connection`` objects
with no socket, pumped against each other: ``handshake``); this module only wraps them in TCP/IP
frames (``Flow``: SYN, segmentation by MSS, reordering, retransmissions, RST, FIN) and writes the
frames with a chosen link type (``write_pcap`` / ``write_pcapng``). Checksums and headers are
built with dpkt, so tshark decodes the result like any capture.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

import dpkt
from OpenSSL import SSL, crypto

from tests.support.pki import Issued

LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2 = 1, 0, 101, 113, 276


# -- real handshakes ---------------------------------------------------------------------------

@dataclass
class Side:
    """One TLS endpoint: what it presents and whom it trusts."""

    cert: Issued | None = None
    send_chain: bool = True  # send the intermediates with the leaf
    trust: tuple[Issued, ...] = ()
    client_ca_names: tuple[Issued, ...] = ()  # CertificateRequest names (server only)
    require_cert: bool = True


@dataclass
class Handshake:
    """Flights in order: (``"c"`` or ``"s"``, bytes). ``error`` names the side whose handshake failed."""

    flights: list[tuple[str, bytes]] = field(default_factory=list)
    error: str | None = None
    client: SSL.Connection | None = None
    server: SSL.Connection | None = None


def _context(side: Side, server: bool, version: int) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    if side.cert is not None:
        ctx.use_certificate(side.cert.cert)
        ctx.use_privatekey(side.cert.key)
        if side.send_chain:
            for issuer in side.cert.chain[:-1]:  # intermediates, not the root
                ctx.add_extra_chain_cert(issuer)
    store = ctx.get_cert_store()
    for anchor in side.trust:
        store.add_cert(crypto.X509.from_cryptography(anchor.cert))  # the store still takes pyOpenSSL certs
    mode = SSL.VERIFY_PEER | (SSL.VERIFY_FAIL_IF_NO_PEER_CERT if server and side.require_cert else 0)
    ctx.set_verify(mode, lambda conn, cert, errno, depth, ok: bool(ok))
    if server:
        for ca in side.client_ca_names:
            ctx.add_client_ca(ca.cert)
    return ctx


def _drain(conn: SSL.Connection) -> bytes:
    out = b""
    while True:
        try:
            out += conn.bio_read(65536)
        except SSL.WantReadError:
            return out


def handshake(client: Side, server: Side, version: int = SSL.TLS1_2_VERSION, sni: str | None = None,
              client_data: bytes = b"", server_data: bytes = b"") -> Handshake:
    """Run a real OpenSSL handshake in memory and keep every flight's bytes (alerts included)."""
    c = SSL.Connection(_context(client, False, version), None)
    s = SSL.Connection(_context(server, True, version), None)
    c.set_connect_state()
    s.set_accept_state()
    if sni:
        c.set_tlsext_host_name(sni.encode())
    result = Handshake(client=c, server=s)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, me, peer in (("c", c, s), ("s", s, c)):
            if done[name] or result.error:
                continue
            try:
                me.do_handshake()
                done[name] = True
            except SSL.WantReadError:
                pass
            except SSL.Error:
                result.error = name
            data = _drain(me)
            if data:
                result.flights.append((name, data))
                if not result.error:
                    peer.bio_write(data)
        if result.error or all(done.values()):
            break
    if not result.error:
        # a TLS 1.3 client only learns the server rejected it when it reads again
        for name, me, peer in (("c", c, s), ("s", s, c)):
            try:
                me.recv(1)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                pass
            except SSL.Error:
                result.error = name
            data = _drain(me)
            if data:
                result.flights.append((name, data))
                peer.bio_write(data)
    if not result.error:
        for name, me, payload in (("c", c, client_data), ("s", s, server_data)):
            if payload:
                me.send(payload)
                result.flights.append((name, _drain(me)))
    return result


# -- TCP/IP frames -----------------------------------------------------------------------------

@dataclass
class Frame:
    ts: float
    ip: bytes  # the IP packet
    version: int


class Flow:
    """One TCP connection between ``client`` and ``server`` ((ip, port) each), frames in send order."""

    def __init__(self, frames: list[Frame], client: tuple[str, int], server: tuple[str, int],
                 start: float = 1_700_000_000.0, mss: int = 1400):
        self.frames = frames
        self.ends = {"c": client, "s": server}
        self.seq = {"c": 1000, "s": 500_000}
        self.ts = start
        self.mss = mss

    def _packet(self, side: str, flags: int, payload: bytes = b"", seq: int | None = None) -> None:
        src, sport = self.ends[side]
        other = "s" if side == "c" else "c"
        dst, dport = self.ends[other]
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=(self.seq[side] if seq is None else seq) & 0xFFFFFFFF,
                           ack=self.seq[other] & 0xFFFFFFFF if flags & dpkt.tcp.TH_ACK else 0,
                           flags=flags, win=65535, data=payload)
        tcp.off = 5
        version = ipaddress.ip_address(src).version
        if version == 4:
            ip = dpkt.ip.IP(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                            p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
        else:
            ip = dpkt.ip6.IP6(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                              nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, data=tcp, plen=len(bytes(tcp)))
            ip.extension_hdrs = {}
            tcp.sum = 0
        self.ts += 0.001
        self.frames.append(Frame(self.ts, bytes(ip), version))

    def open(self, answer: bool = True) -> Flow:
        self._packet("c", dpkt.tcp.TH_SYN)
        self.seq["c"] += 1
        if answer:
            self._packet("s", dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
            self.seq["s"] += 1
            self._packet("c", dpkt.tcp.TH_ACK)
        return self

    def syn_retries(self, count: int, interval: float = 1.0) -> Flow:
        """The first SYN again ``count`` times, unanswered."""
        for _ in range(count):
            self.ts += interval
            self._packet("c", dpkt.tcp.TH_SYN, seq=self.seq["c"] - 1)
        return self

    def refuse(self) -> Flow:
        self._packet("s", dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK, seq=0)
        return self

    def send(self, side: str, data: bytes, mss: int | None = None, reorder: bool = False,
             retransmit: bool = False) -> Flow:
        """Send ``data`` in MSS-sized segments; optionally swap the first two and repeat one."""
        mss = mss or self.mss
        segments = []
        seq = self.seq[side]
        for i in range(0, len(data), mss):
            segments.append((seq + i, data[i:i + mss]))
        self.seq[side] += len(data)
        if reorder and len(segments) >= 2:
            segments[0], segments[1] = segments[1], segments[0]
        for n, (s, chunk) in enumerate(segments):
            self._packet(side, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, chunk, seq=s)
            if retransmit and n == 0:
                self._packet(side, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, chunk, seq=s)
        other = "s" if side == "c" else "c"
        self._packet(other, dpkt.tcp.TH_ACK)
        return self

    def flights(self, hs: Handshake, upto: int | None = None, **kw) -> Flow:
        for side, data in hs.flights[:upto]:
            self.send(side, data, **kw)
        return self

    def datagram(self, side: str, payload: bytes) -> Flow:
        """One UDP datagram between the same two endpoints (SIP over UDP)."""
        src, sport = self.ends[side]
        dst, dport = self.ends["s" if side == "c" else "c"]
        udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        udp.ulen = len(bytes(udp))
        ip = dpkt.ip.IP(src=ipaddress.ip_address(src).packed, dst=ipaddress.ip_address(dst).packed,
                        p=dpkt.ip.IP_PROTO_UDP, ttl=64, data=udp)
        self.ts += 0.001
        self.frames.append(Frame(self.ts, bytes(ip), 4))
        return self

    def rst(self, side: str) -> Flow:
        self._packet(side, dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK)
        return self

    def fin(self, side: str) -> Flow:
        self._packet(side, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
        self.seq[side] += 1
        return self


# -- writers -----------------------------------------------------------------------------------

def _link(frame: Frame, linktype: int, vlan: bool = False) -> bytes:
    ethertype = 0x0800 if frame.version == 4 else 0x86DD
    if linktype == LINK_ETHERNET:
        head = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb"
        if vlan:
            head += struct.pack(">HH", 0x8100, 42)
        return head + struct.pack(">H", ethertype) + frame.ip
    if linktype == LINK_NULL:
        return struct.pack("<I", 2 if frame.version == 4 else 30) + frame.ip
    if linktype == LINK_RAW:
        return frame.ip
    if linktype == LINK_SLL:
        return struct.pack(">HHH8sH", 0, 1, 6, b"\x00\x11\x22\x33\x44\x55\x00\x00", ethertype) + frame.ip
    if linktype == LINK_SLL2:
        return struct.pack(">HHIHBB8s", ethertype, 0, 2, 1, 0, 6, b"\x00\x11\x22\x33\x44\x55\x00\x00") + frame.ip
    raise ValueError(linktype)


def write_pcap(frames: list[Frame], linktype: int = LINK_ETHERNET, vlan: bool = False,
               snaplen: int = 262144, big_endian: bool = False, nanoseconds: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for f in sorted(frames, key=lambda f: f.ts):
        data = _link(f, linktype, vlan)
        cap = data[:snaplen]
        sec = int(f.ts)
        frac = int(round((f.ts - sec) * (1e9 if nanoseconds else 1e6)))
        out.append(struct.pack(order + "IIII", sec, frac, len(cap), len(data)) + cap)
    return b"".join(out)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def write_pcapng(frames: list[Frame], linktype: int = LINK_ETHERNET, vlan: bool = False) -> bytes:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # if_tsresol = 9 (nanoseconds), to exercise the option
    idb = _block(1, struct.pack("<HHI", linktype, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9) + b"\x00" * 4)
    out = [shb, idb]
    for f in sorted(frames, key=lambda f: f.ts):
        data = _link(f, linktype, vlan)
        ns = int(round(f.ts * 1e9))
        out.append(_block(6, struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(data), len(data)) + data))
    return b"".join(out)
