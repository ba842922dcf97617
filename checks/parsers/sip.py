"""Clear-text SIP: one message from bytes, and framing of messages over a TCP byte stream.

Pure over bytes (sans-IO), so a SIP message reassembled from a capture, carried in a UDP
datagram or quoted inside an Expressway log line goes through the same code and gives the
same facts. Public surface:

- ``parse_message(data: bytes) -> SipMessage``: one complete message (start line, headers,
  body). Raises ``InputError`` when ``data`` is not SIP.
- ``looks_like_sip(data: bytes) -> bool``: cheap content sniff (start line), used to find SIP
  on any port.
- ``SipStreamFramer``: fed the bytes of one TCP direction in order, yields whole messages
  using Content-Length. Every buffer is capped (``MAX_HEADER_BYTES``, ``MAX_BODY_BYTES``).

Header names are matched case-insensitively and compact forms (``i`` for Call-ID, ``m`` for
Contact, ``l`` for Content-Length, ...) are expanded, because Expressway and Unified CM both
send them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kb.errors import InputError

# A SIP message's header block above this is not something any real UA sends; stop buffering.
MAX_HEADER_BYTES = 64 * 1024
# Bodies beyond this are cut (SDP is a few KB; the guide's Expressway SDP max size is 32768).
MAX_BODY_BYTES = 256 * 1024
# A start line longer than this is not SIP; while hunting for one we keep no more than this.
_MAX_PARTIAL_LINE = 1024
# Headers kept per message (a hostile message could repeat one forever).
MAX_HEADERS = 200

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
           "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE")
_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S+) SIP/2\.0\r?$")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3})(?: (.*?))?\r?$")
_COMPACT = {"i": "call-id", "m": "contact", "l": "content-length", "c": "content-type", "f": "from",
            "t": "to", "v": "via", "k": "supported", "s": "subject", "e": "content-encoding"}
# Static RTP payload types (RFC 3551) a codec offer may use without an a=rtpmap line.
STATIC_PAYLOADS = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 15: "G728", 18: "G729"}


@dataclass(frozen=True)
class SdpMedia:
    """One ``m=`` line: ``port`` 0 means the stream is declined."""

    kind: str
    port: int
    proto: str
    payloads: tuple[str, ...]
    codecs: tuple[str, ...]  # encoding names in offer order (rtpmap, else the static table)


@dataclass(frozen=True)
class SipMessage:
    """A SIP request (``method`` set) or response (``status`` set)."""

    method: str | None
    request_uri: str | None
    status: int | None
    reason: str | None
    headers: tuple[tuple[str, str], ...]  # (lower-case full name, value), in order
    body: bytes
    size: int  # bytes of the whole message as framed (start line to end of body)
    content_length: int | None

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        """First value of a header (full or compact name, any case)."""
        want = _canon(name)
        return next((v for k, v in self.headers if k == want), None)

    def header_all(self, name: str) -> tuple[str, ...]:
        want = _canon(name)
        return tuple(v for k, v in self.headers if k == want)

    @property
    def call_id(self) -> str | None:
        return self.header("call-id")

    @property
    def contact(self) -> str | None:
        return self.header("contact")

    @property
    def routes(self) -> tuple[str, ...]:
        return self.header_all("route")

    @property
    def cseq_method(self) -> str | None:
        cseq = self.header("cseq")
        return cseq.split()[-1].upper() if cseq and cseq.split() else None

    @property
    def start_line(self) -> str:
        if self.is_request:
            return f"{self.method} {self.request_uri} SIP/2.0"
        return f"SIP/2.0 {self.status} {self.reason or ''}".rstrip()

    @property
    def has_sdp(self) -> bool:
        ctype = (self.header("content-type") or "").lower()
        return "application/sdp" in ctype or self.body.lstrip().startswith(b"v=0")

    @property
    def media(self) -> tuple[SdpMedia, ...]:
        return parse_sdp(self.body) if self.has_sdp else ()

    @property
    def audio(self) -> SdpMedia | None:
        """The first ``m=audio`` of the SDP body, if any."""
        return next((m for m in self.media if m.kind == "audio"), None)


def _canon(name: str) -> str:
    low = name.strip().lower()
    return _COMPACT.get(low, low)


def looks_like_sip(data: bytes) -> bool:
    """Whether ``data`` starts with a SIP request or status line (content sniffing, any port)."""
    head = data[:200]
    if head.startswith(b"SIP/2.0 "):
        return True
    word, _, rest = head.partition(b" ")
    return word.decode("ascii", "replace") in METHODS and b" SIP/2.0" in rest.split(b"\n", 1)[0]


def parse_message(data: bytes) -> SipMessage:
    """Parse one whole SIP message. The body is what follows the blank line, cut to Content-Length."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
    if len(head) > MAX_HEADER_BYTES:
        raise InputError(f"SIP header block longer than {MAX_HEADER_BYTES} bytes")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    first = lines[0].strip(b"\r")
    method = uri = reason = None
    status = None
    if m := _REQUEST_LINE.match(first):
        method, uri = m.group(1).decode("ascii"), m.group(2).decode("utf-8", "replace")
    elif m := _STATUS_LINE.match(first):
        status = int(m.group(1))
        reason = (m.group(2) or b"").decode("utf-8", "replace")
    else:
        raise InputError("not a SIP message (no SIP/2.0 start line)")
    headers: list[tuple[str, str]] = []
    for raw in lines[1:]:
        if not raw.strip():
            continue
        if raw[:1] in (b" ", b"\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + raw.strip().decode("utf-8", "replace"))
            continue
        name, colon, value = raw.partition(b":")
        if not colon:
            continue
        if len(headers) < MAX_HEADERS:
            headers.append((_canon(name.decode("utf-8", "replace")), value.strip().decode("utf-8", "replace")))
    clen = _content_length(headers)
    body = rest[:clen] if clen is not None else rest
    body = body[:MAX_BODY_BYTES]
    size = len(head) + len(sep) + len(body)
    return SipMessage(method=method, request_uri=uri, status=status, reason=reason, headers=tuple(headers),
                      body=body, size=size, content_length=clen)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    value = next((v for k, v in headers if k == "content-length"), None)
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if 0 <= n else None


def parse_sdp(body: bytes) -> tuple[SdpMedia, ...]:
    """Media lines of an SDP body with their codec names (rtpmap first, static payload types second)."""
    media: list[tuple[str, int, str, list[str]]] = []
    rtpmaps: list[dict[str, str]] = []
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 3:
                continue
            try:
                port = int(parts[1].split("/")[0])
            except ValueError:
                port = -1
            media.append((parts[0].lower(), port, parts[2], parts[3:]))
            rtpmaps.append({})
        elif line.startswith("a=rtpmap:") and media:
            pt, _, enc = line[len("a=rtpmap:"):].partition(" ")
            rtpmaps[-1][pt.strip()] = enc.split("/")[0].strip()
    out = []
    for (kind, port, proto, payloads), maps in zip(media, rtpmaps):
        codecs = []
        for pt in payloads:
            name = maps.get(pt) or (STATIC_PAYLOADS.get(int(pt)) if pt.isdigit() else None)
            if name:
                codecs.append(name)
        out.append(SdpMedia(kind=kind, port=port, proto=proto, payloads=tuple(payloads), codecs=tuple(codecs)))
    return tuple(out)


@dataclass(frozen=True)
class Framed:
    """A message cut from a stream: ``offset`` is its first byte's position in that direction."""

    message: SipMessage
    offset: int


class SipStreamFramer:
    """Cut one TCP direction's bytes into SIP messages by Content-Length.

    Feed bytes in stream order with ``feed``; it yields whole messages. Garbage before a start
    line is skipped (a capture may start mid-message). A header block that never ends within
    ``MAX_HEADER_BYTES`` marks the direction as not SIP and stops buffering, so memory stays flat.
    ``pending`` tells how many bytes of an incomplete message are waiting (for the
    "oversized message then reset" rule: the receiver may drop the socket before it is whole).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of self._buf[0]
        self.dead = False
        self.pending_start: int | None = None

    def feed(self, data: bytes) -> Iterator[Framed]:
        if self.dead:
            return
        self._buf += data
        while self._buf:
            start = self._find_start()
            if start < 0:
                # keep a possibly partial start line (after the last newline), at most _MAX_PARTIAL_LINE
                nl = self._buf.rfind(b"\n")
                keep = min(len(self._buf) - (nl + 1), _MAX_PARTIAL_LINE)
                self._offset += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                self.pending_start = None
                return
            if start:
                self._offset += start
                del self._buf[:start]
            end_head = self._buf.find(b"\r\n\r\n")
            sep = 4
            if end_head < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    self.dead = True
                    self._buf.clear()
                self.pending_start = self._offset
                return
            head = bytes(self._buf[:end_head])
            clen = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    try:
                        clen = max(0, int(value.strip()))
                    except ValueError:
                        clen = 0
            total = end_head + sep + clen
            if clen > MAX_BODY_BYTES:
                self.dead = True
                self._buf.clear()
                return
            if len(self._buf) < total:
                self.pending_start = self._offset
                return
            raw = bytes(self._buf[:total])
            offset = self._offset
            del self._buf[:total]
            self._offset += total
            self.pending_start = None
            try:
                yield Framed(parse_message(raw), offset)
            except InputError:
                continue

    @property
    def pending(self) -> int:
        """Bytes buffered for a message that is not complete yet."""
        return len(self._buf) if self.pending_start is not None else 0

    def pending_message_size(self) -> int | None:
        """Declared size (headers + Content-Length) of the incomplete message, when its headers are in."""
        end_head = self._buf.find(b"\r\n\r\n")
        if self.pending_start is None or end_head < 0:
            return None
        for line in bytes(self._buf[:end_head]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                try:
                    return end_head + 4 + max(0, int(value.strip()))
                except ValueError:
                    return None
        return end_head + 4

    def pending_start_line(self) -> str:
        """The start line of the incomplete message, for evidence text."""
        return bytes(self._buf[:200]).split(b"\r\n", 1)[0].decode("utf-8", "replace")

    def _find_start(self) -> int:
        """Offset of the first plausible start line in the buffer, -1 when none."""
        buf = bytes(self._buf[: MAX_HEADER_BYTES])
        if looks_like_sip(buf):
            return 0
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return -1
            if looks_like_sip(buf[nl + 1:]):
                return nl + 1
            pos = nl + 1
