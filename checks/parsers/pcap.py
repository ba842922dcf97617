"""Packet records from pcap / pcapng bytes, fed in chunks, and a fast peek at their IP and TCP/UDP headers.

Why not ``dpkt.pcap.Reader`` / ``dpkt.pcapng.Reader`` for the records: they need a file object
and build a ``dpkt.Packet`` per record header, and decoding every frame with ``dpkt.ethernet``
costs tens of microseconds per packet. A 500 MB capture of background traffic would then be
slower than tshark. Here the record framing (both formats) and the common header layouts
(Ethernet with VLAN tags, Linux SLL and SLL2, raw IP, BSD loopback/null; IPv4 and plain IPv6)
are read with ``struct.unpack_from`` straight from the chunk buffer, without copying frames.
Only the rare frames that need more (IPv6 extension headers) go through ``dpkt.ip6``.

Pure and streaming: ``CaptureReader(chunks)`` pulls chunks only as records need them, so
memory holds one chunk plus one record at most. Named caps: ``MAX_RECORD_BYTES``,
``MAX_BLOCK_BYTES``. Structural damage raises ``InputError`` (one line); a file that stops
mid-record ends the iteration with a warning in ``reader.warnings`` (a partial analysis).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import dpkt

from kb.errors import InputError

# Largest packet record we accept: tcpdump's default snaplen is 262144; 4x that leaves room for
# TSO/GRO super-frames and still rejects absurd lengths from a damaged file at once.
MAX_RECORD_BYTES = 1 << 20
# Largest pcapng block (any type); same reasoning, plus options.
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + 4096
# Interfaces a pcapng section may declare before we call the file damaged.
MAX_INTERFACES = 4096

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# Link types (LINKTYPE_* values; a few DLT_* aliases seen in the wild).
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = 0, 1, 101, 108, 113, 228, 229, 276
LINK_RAW_ALIASES = {12, 14, LINK_RAW}
SUPPORTED_LINKS = {LINK_NULL, LINK_ETHERNET, LINK_LOOP, LINK_SLL, LINK_SLL2, LINK_IPV4, LINK_IPV6} | LINK_RAW_ALIASES

# Smallest well-formed length of the pcapng blocks we read (IDB, obsolete PB, SPB, EPB, SHB).
_MIN_BLOCK = {1: 20, 2: 32, 3: 16, 6: 32, 0x0A0D0D0A: 28}
_ETH_IP4, _ETH_IP6, _ETH_VLAN, _ETH_QINQ, _ETH_QINQ_OLD = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100
_U16 = struct.Struct(">H").unpack_from
_IP4 = struct.Struct(">BBHHHBBH4s4s").unpack_from
_IP6 = struct.Struct(">IHBB16s16s").unpack_from


class CaptureReader:
    """Iterate ``(frame_no, ts, linktype, buf, offset, caplen, origlen)`` over a capture's records.

    ``buf[offset:offset + caplen]`` is the frame; ``buf`` is shared and only valid until the
    next record, so callers copy what they keep. ``frame_no`` counts from 1 like Wireshark.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buf = b""
        self._pos = 0
        self.warnings: list[str] = []
        self.format = ""
        self.frames = 0  # records read so far
        # TCP flow directions (src + dst + ports, as ``peek_ip`` gives them) whose ordinary segments
        # the caller no longer needs: segments without SYN/RST/FIN that do not start with a TLS alert
        # record are dropped inside the record loop (IPv4 over Ethernet), before any tuple is built.
        self.quiet: set[bytes] = set()

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``self._pos``; False at end of input."""
        if len(self._buf) - self._pos >= need:
            return True
        parts = [self._buf[self._pos:]]
        have = len(parts[0])
        for chunk in self._chunks:
            if not chunk:
                continue
            parts.append(bytes(chunk))
            have += len(chunk)
            if have >= need:
                break
        self._buf = b"".join(parts)
        self._pos = 0
        return have >= need

    def __iter__(self) -> Iterator[tuple[int, float, int, bytes, int, int, int]]:
        return self._start(decode=False)

    def ip_packets(self) -> Iterator[tuple]:
        """``(frame, ts, buf) + IpPacket`` for each IP record (others are counted in ``frames``, not yielded).

        On classic pcap over Ethernet (what tcpdump on an Expressway writes) the IPv4 header is
        decoded inside the record loop itself: one generator step per packet instead of two plus a
        call, which is most of the cost of reading a big capture in Python.
        """
        return self._start(decode=True)

    def _start(self, decode: bool) -> Iterator[tuple]:
        if not self._fill(4):
            if len(self._buf) - self._pos == 0:
                raise InputError("the capture file is empty")
            raise InputError("not a packet capture (too short for a pcap or pcapng header)")
        magic = self._buf[self._pos:self._pos + 4]
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            return self._pcap(*PCAP_MAGICS[magic], decode)
        if magic == PCAPNG_MAGIC:
            self.format = "pcapng"
            records = self._pcapng()
            return self._decoded(records) if decode else records
        raise InputError("not a packet capture (no pcap or pcapng magic number)")

    def _damaged(self, frame_no: int, problem: str) -> None:
        """Damage before any frame: the file is unusable (InputError). Later: keep what came before."""
        if frame_no <= 1:
            raise InputError(f"{problem}: the file is damaged or not a capture")
        self.warnings.append(f"{problem}: the file is damaged there; analysed the {frame_no - 1} frames before it")

    def _truncated(self, frame_no: int) -> None:
        self.warnings.append(f"the capture ends in the middle of frame {frame_no}; analysed the frames before it")

    @staticmethod
    def _decoded(records: Iterator[tuple[int, float, int, bytes, int, int, int]]) -> Iterator[tuple]:
        for frame, ts, linktype, buf, off, caplen, _ in records:
            ip = peek_ip(linktype, buf, off, caplen)
            if ip is not None:
                yield (frame, ts, buf) + ip

    def _pcap(self, endian: str, scale: float, decode: bool) -> Iterator[tuple]:
        if not self._fill(24):
            raise InputError("not a packet capture (pcap file header is cut short)")
        linktype = struct.unpack_from(endian + "I", self._buf, self._pos + 20)[0] & 0x0FFFFFFF
        self._pos += 24
        if linktype not in SUPPORTED_LINKS:
            raise InputError(f"pcap link type {linktype} is not supported (Ethernet, Linux cooked, raw IP, loopback are)")
        rec = struct.Struct(endian + "IIII").unpack_from
        fast = linktype == LINK_ETHERNET
        quiet = self.quiet
        frame = 0
        # the buffer and position live in locals on this hot loop; ``_fill`` sees them synced back
        buf, pos = self._buf, self._pos
        size = len(buf)
        while True:
            if size - pos < 16:
                self._buf, self._pos = buf, pos
                if not self._fill(16):
                    if len(self._buf) - self._pos:
                        self._truncated(frame + 1)
                    return
                buf, pos = self._buf, self._pos
                size = len(buf)
            sec, frac, caplen, origlen = rec(buf, pos)
            frame += 1
            if caplen > MAX_RECORD_BYTES:
                self._damaged(frame, f"frame {frame} claims {caplen} bytes, more than any capture holds")
                return
            off = pos + 16
            if off + caplen > size:
                self._buf, self._pos = buf, pos
                if not self._fill(16 + caplen):
                    self._truncated(frame)
                    return
                buf, pos = self._buf, self._pos
                size = len(buf)
                off = pos + 16
            pos = off + caplen
            self.frames = frame
            if not decode:
                yield frame, sec + frac * scale, linktype, buf, off, caplen, origlen
            elif fast and caplen >= 34 and buf[off + 12:off + 14] == b"\x08\x00":
                vihl, _, total, _, frag, _, proto, _, src, dst = _IP4(buf, off + 14)
                ihl = (vihl & 0x0F) * 4
                if vihl >> 4 == 4 and ihl >= 20:
                    ip_start = off + 14
                    declared = ip_start + total
                    ip_end = declared if ihl <= total and declared < pos else pos
                    l4 = ip_start + ihl
                    if (quiet and proto == 6 and ip_end - l4 >= 20 and not buf[l4 + 13] & 0x07
                            and src + dst + buf[l4:l4 + 4] in quiet):
                        pstart = l4 + (buf[l4 + 12] >> 4) * 4
                        if pstart >= ip_end or buf[pstart] != 0x15:  # not even a TLS alert: skip it here
                            continue
                    yield (frame, sec + frac * scale, buf, 4, src, dst, proto, ip_start + ihl, ip_end,
                           bool(frag & 0x1FFF), declared)
            else:
                ip = peek_ip(linktype, buf, off, caplen)
                if ip is not None:
                    yield (frame, sec + frac * scale, buf) + ip

    def _pcapng(self) -> Iterator[tuple[int, float, int, bytes, int, int, int]]:
        endian = "<"
        interfaces: list[tuple[int, float]] = []
        frame = 0
        while True:
            if len(self._buf) - self._pos < 12 and not self._fill(12):
                if len(self._buf) - self._pos:
                    self._truncated(frame + 1)
                return
            btype_raw = self._buf[self._pos:self._pos + 4]
            if btype_raw == PCAPNG_MAGIC:
                bom = self._buf[self._pos + 8:self._pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._damaged(frame + 1, "a pcapng section header without a valid byte-order mark")
                    return
                interfaces = []
            btype, blen = struct.unpack_from(endian + "II", self._buf, self._pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK_BYTES:
                self._damaged(frame + 1, f"a pcapng block of {blen} bytes after frame {frame}")
                return
            if len(self._buf) - self._pos < blen and not self._fill(blen):
                self._truncated(frame + 1)
                return
            start = self._pos
            self._pos += blen
            body = start + 8
            if blen < _MIN_BLOCK.get(btype, 12):
                self._damaged(frame + 1, f"a pcapng block of type {btype} only {blen} bytes long")
                return
            if btype == 1:  # Interface Description Block
                if len(interfaces) >= MAX_INTERFACES:
                    raise InputError("pcapng declares too many interfaces: the file is damaged")
                linktype = struct.unpack_from(endian + "H", self._buf, body)[0]
                interfaces.append((linktype, _if_tsresol(self._buf, body + 8, start + blen - 4, endian)))
            elif btype in (6, 2):  # Enhanced Packet Block / obsolete Packet Block
                if btype == 6:
                    iface, hi, lo, caplen, origlen = struct.unpack_from(endian + "IIIII", self._buf, body)
                else:
                    iface, _, hi, lo, caplen, origlen = struct.unpack_from(endian + "HHIIII", self._buf, body)
                frame += 1
                self.frames = frame
                data = body + 20
                if caplen > blen - 32 or iface >= len(interfaces):
                    self._damaged(frame, f"frame {frame} does not fit its pcapng block or names no interface")
                    return
                linktype, scale = interfaces[iface]
                if linktype not in SUPPORTED_LINKS:
                    continue
                yield frame, ((hi << 32) | lo) * scale, linktype, self._buf, data, caplen, origlen
            elif btype == 3:  # Simple Packet Block
                frame += 1
                self.frames = frame
                if not interfaces:
                    self._damaged(frame, "a pcapng simple packet before any interface")
                    return
                origlen = struct.unpack_from(endian + "I", self._buf, body)[0]
                linktype = interfaces[0][0]
                if linktype in SUPPORTED_LINKS:
                    yield frame, 0.0, linktype, self._buf, body + 4, min(origlen, blen - 16), origlen
            # other block types (statistics, name resolution, custom) carry nothing we use


def _if_tsresol(buf: bytes, pos: int, end: int, endian: str) -> float:
    """Seconds per timestamp unit from an IDB's ``if_tsresol`` option (default microseconds)."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


# What ``peek_ip`` returns. A plain tuple, not a dataclass: it is built for every packet of a
# capture and a frozen dataclass costs several times more to construct.
#   (version, src, dst, proto, l4, end, fragment, declared_end)
# ``l4``..``end`` is the transport layer (IP padding cut); ``fragment`` marks a later IP fragment
# (no transport header of its own); ``declared_end`` is where the IP length says the packet ends,
# past ``end`` when the capture's snap length cut the frame.
IpPacket = tuple[int, bytes, bytes, int, int, int, bool, int]


def peek_ip(linktype: int, buf: bytes, off: int, caplen: int) -> IpPacket | None:
    """Find the IP header of a frame and the span of its transport layer, or None for non-IP frames."""
    end = off + caplen
    if linktype == LINK_ETHERNET:  # the common case first
        if caplen < 14:
            return None
        etype = _U16(buf, off + 12)[0]
        pos = off + 14
        while etype in (_ETH_VLAN, _ETH_QINQ, _ETH_QINQ_OLD) and pos + 4 <= end:
            etype = _U16(buf, pos + 2)[0]
            pos += 4
    elif linktype == LINK_SLL:
        if caplen < 16:
            return None
        etype, pos = _U16(buf, off + 14)[0], off + 16
    elif linktype == LINK_SLL2:
        if caplen < 20:
            return None
        etype, pos = _U16(buf, off)[0], off + 20
    elif linktype in (LINK_NULL, LINK_LOOP):
        if caplen < 4:
            return None
        family = struct.unpack_from("<I", buf, off)[0]
        if family > 0xFFFF:
            family = struct.unpack_from(">I", buf, off)[0]
        etype = _ETH_IP4 if family == 2 else _ETH_IP6 if family in (10, 24, 28, 30) else 0
        pos = off + 4
    elif linktype in LINK_RAW_ALIASES or linktype in (LINK_IPV4, LINK_IPV6):
        if caplen < 1:
            return None
        etype = _ETH_IP4 if buf[off] >> 4 == 4 else _ETH_IP6 if buf[off] >> 4 == 6 else 0
        pos = off
    else:
        return None
    if etype == _ETH_IP4:
        if end - pos < 20:
            return None
        vihl, _, total, _, frag, _, proto, _, src, dst = _IP4(buf, pos)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return None
        ip_end = min(end, pos + total) if total >= ihl else end
        return 4, src, dst, proto, pos + ihl, ip_end, bool(frag & 0x1FFF), pos + total
    if etype == _ETH_IP6:
        if end - pos < 40:
            return None
        _, plen, nxt, _, src, dst = _IP6(buf, pos)
        ip_end = min(end, pos + 40 + plen) if plen else end
        if nxt in (6, 17):
            return 6, src, dst, nxt, pos + 40, ip_end, False, pos + 40 + plen
        return _ip6_extensions(buf, pos, ip_end, src, dst)
    return None


def _ip6_extensions(buf: bytes, pos: int, end: int, src: bytes, dst: bytes) -> IpPacket | None:
    """IPv6 with extension headers: rare, so dpkt walks them for us."""
    try:
        ip6 = dpkt.ip6.IP6(bytes(buf[pos:end]))
    except (dpkt.UnpackError, struct.error, ValueError):
        return None
    inner = ip6.data
    if not isinstance(inner, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        return None
    raw = bytes(inner)
    start = end - len(raw)
    proto = 6 if isinstance(inner, dpkt.tcp.TCP) else 17
    fragment = any(isinstance(h, dpkt.ip6.IP6FragmentHeader) for h in ip6.extension_hdrs.values() if h)
    return 6, src, dst, proto, start, end, fragment, end
