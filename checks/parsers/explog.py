"""Expressway (VCS) diagnostic log records, found fast in a byte stream.

A diagnostic log is mostly lines no Hybrid Call rule cares about (``developer.fsm``,
``developer.sip.leg``, media session chatter). Parsing every line in Python would be
many times slower than ``grep``, so ``LogScanner`` looks for a short list of byte
markers with ``bytes.find`` (C speed) and parses only the records around them. Which
records matter is decided by the markers, not by the line shape, so the same scan
handles every shape people upload:

- syslog prefix with or without milliseconds, with or without a process tag, with a
  forwarded-syslog PRI and a doubled ``tvcs: tvcs:`` tag;
- ``Event="..."`` lines and ``Module="..."`` lines (with ``CodeLocation``/``Method``/``Thread``);
- multi-line ``SIPMSG:`` blocks framed by `` |`` lines (their SIP text is returned whole);
- values padded with spaces (``Dst-port=" 5062 "``) and unescaped quotes inside CPL values;
- text pasted from PDFs: ``=`` signs lost and records run together on one line. Long
  lines are cut into records at the syslog timestamps instead of at newlines.

Sans-IO: ``feed(chunk)`` returns the records completed so far, ``close()`` the rest.
Memory is bounded by ``MAX_PENDING_BYTES`` whatever the file or line size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

# A line is held back until its newline arrives, but never more than this: beyond it the
# text is scanned as one long line (a PDF paste, or a hostile 10 MB line).
MAX_PENDING_BYTES = 2 * 1024 * 1024
# Kept from the end of an over-long line so a marker cut by a chunk boundary is still found.
_OVERLAP = 8 * 1024
# One record of a long line is cut out of at most this much text on each side of its marker.
MAX_RECORD_BYTES = 16 * 1024
# A SIPMSG block bigger than this is not read (the guide's SDP max size is 32768 bytes).
MAX_SIP_BLOCK_BYTES = 256 * 1024
# Lines longer than this are "long": they may hold several records run together.
_LONG_LINE = 4096

# Byte markers of every record a Hybrid Call rule or timeline uses. Each is checked with
# bytes.find; keep them few and distinctive (each one is a full pass over the data).
MARKERS: tuple[bytes, ...] = (
    b"Event",                # Inbound/Outbound TLS Negotiation Error, Search Completed, Call Rejected
    b"TCP Conne",            # Connecting / Connection Established / Failed / Closed
    b"SSL connection",       # developer.ssl: Failed to establish SSL connection
    b"network.dns",
    b"earch rule",           # network.search: Search rule '...' / Considering search rule
    b"CPL: <",
    b"SIPMSG:",
)
# Events a rule reads; other Event lines (registrations, admin sessions, alarms) are skipped.
EVENTS_KEPT = (b"TLS Negotiation Error", b"Search Completed", b"Call Rejected")
_EVENT_KEPT = re.compile(b"|".join(EVENTS_KEPT))
# DNS lines a rule reads: answers with port 5061, SRV queries for a Webex user's own domain.
_DNS_KEPT = re.compile(rb":5061'|\.calls?\.(?:ciscospark|webex)\.com\S*\s+Type\s*=?\s*\"SRV")
# Control Hub connectivity-test output is pasted as a short text, never found inside an Expressway
# log: these markers are only looked for in the first PASTE_BYTES of an input.
PASTE_MARKERS: tuple[bytes, ...] = (b"Socket failure", b"No DNS addresses found")
PASTE_BYTES = 1 << 20
# network.sip INFO summaries (Receive Request Method=INVITE, CSeq=1, ...): read only while the log
# has shown no SIPMSG block, because the DEBUG block of the same message says everything they say.
SUMMARY_MARKER = b", CSeq="

_TS = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
_RECORD_START = re.compile(rb"(?:<\d{1,3}>)?" + _TS)
_PREFIX = re.compile(
    r"^\s*(?:Line \d+:\s*)?(?:<(?P<pri>\d{1,3})>)?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)"
    r"\s+(?P<host>[^\s=\"]+)\s+(?P<tags>(?:[\w.\-]+(?:\[\d+\])?:\s+){0,3})"
)
# name="value" pairs; PDF pastes lose the '=' (Key "value"): then it is optional.
_PAIR_NATIVE = re.compile(r"([A-Za-z][\w\-]*)=\"([^\"]*)\"")
_PAIR = re.compile(r"([A-Za-z][\w\-]*)\s*=?\s*\"([^\"]*)\"")
# Detail can hold unescaped quotes: it runs to the quote that is followed by another pair or the end.
_DETAIL_LAZY = re.compile(r"Detail\s*=?\s*\"(.*?)\"(?=\s+[A-Za-z][\w\-]*\s*=?\s*\"|\s*$)")
_DETAIL_GREEDY = re.compile(r"Detail\s*=?\s*\"(.*)\"")


@dataclass(frozen=True)
class Record:
    """One log record around a marker.

    ``line`` is the 1-based line of the record's header; ``text`` its header text (the whole
    record for single-line records). ``sip`` is the de-framed SIP text of a ``SIPMSG:`` block
    (CRLF line ends, as on the wire), and ``sip_line`` the line its start line sits on. The
    name="value" pairs are split only when first asked for (most records are only tested
    for a substring).
    """

    line: int
    text: str
    time: str = ""
    host: str = ""
    process: str = ""
    body: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    sip: bytes | None = None
    sip_line: int = 0

    @cached_property
    def fields(self) -> Mapping[str, str]:
        fields: dict[str, str] = {}
        for key, value in (_PAIR_NATIVE if '="' in self.body else _PAIR).findall(self.body):
            fields.setdefault(key, value.strip())
        if "Detail" in fields:
            dm = (_DETAIL_GREEDY if "CPL:" in self.body else _DETAIL_LAZY).search(self.body)
            if dm:
                fields["Detail"] = dm.group(1).strip()
        fields.update(self.extra)
        return fields

    @property
    def module(self) -> str:
        return self.fields.get("Module", "")

    @property
    def event(self) -> str:
        return self.fields.get("Event", "")

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def decode(raw: bytes) -> str:
    """UTF-8 where it is, Latin-1 where it is not: logs mix encodings (user names, pasted text)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_record(text: str, line: int = 0, **more) -> Record:
    """Split one record's text into its syslog prefix and the rest (pairs are split lazily)."""
    if len(text) > 30 and text[10:11] == "T" and text[4:5] == "-" and text[:4].isdigit():
        # the usual shape, split without the general regex: "<time> <host> [<tag>: ...] <body>"
        time, _, rest = text.partition(" ")
        host, _, body = rest.partition(" ")
        process = ""
        for _ in range(3):
            tag, _, after = body.partition(" ")
            if not tag.endswith(":") or "=" in tag or '"' in tag:
                break
            process, body = tag[:-1], after.lstrip(" ")
        if host and "=" not in host and '"' not in host:
            return Record(line=line, text=text.strip(), time=time, host=host, process=process, body=body, **more)
    m = _PREFIX.match(text)
    time = host = process = ""
    body = text
    if m:
        time, host = m.group("ts"), m.group("host")
        tags = m.group("tags").split()
        process = tags[-1].rstrip(":") if tags else ""
        body = text[m.end():]
    return Record(line=line, text=text.strip(), time=time, host=host, process=process, body=body, **more)


def _record_bounds(buf: bytes, start: int, end: int, pos: int) -> tuple[int, int]:
    """Within a long line, the stretch between the syslog timestamps around ``pos``."""
    lo = max(start, pos - MAX_RECORD_BYTES)
    hi = min(end, pos + MAX_RECORD_BYTES)
    rec_start, rec_end = lo, hi
    for m in _RECORD_START.finditer(buf, lo, hi):
        if m.start() <= pos:
            rec_start = m.start()
        else:
            rec_end = m.start()
            break
    return rec_start, rec_end


_NEXT_RECORD = re.compile(rb"\n(?:<\d{1,3}>)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _sip_block(buf: bytes, marker_line_end: int, final: bool) -> tuple[int, bytes] | None:
    """End offset and raw framed text of the block after a ``SIPMSG:`` line; None when it is not all in ``buf``.

    Framing (formats.md 1.3): the SIP lines follow, each prefixed with one space and the first
    with `` |``; the block ends at a line whose text ends with ``|`` or before the next syslog
    record. Found with C-speed searches; the text is de-framed only if the message matters.
    """
    pos = marker_line_end + 1
    limit = min(len(buf), pos + MAX_SIP_BLOCK_BYTES)
    first_end = buf.find(b"\n", pos, limit)
    if first_end < 0:
        return None if not final and limit == len(buf) else (limit, b"")
    bar = buf.find(b"|\n", first_end, limit)
    if bar < 0 and first_end > pos and buf[first_end - 1:first_end] == b"|" and b"SIP/2.0" in buf[pos:first_end]:
        bar = first_end - 1  # flattened or one-line block: '|...|' on the first line
    nxt = _NEXT_RECORD.search(buf, first_end, bar if bar >= 0 else limit)
    if nxt is not None:
        return nxt.start() + 1, buf[pos:nxt.start()]
    if bar < 0:
        if not final and limit == len(buf):
            return None  # the block continues in the next chunk
        return limit, b""  # too big or cut off: skip it
    return bar + 2, buf[pos:bar]


# SIP messages no Hybrid Call rule reads (registrations, keepalives, presence) are not parsed.
SIP_METHODS_KEPT = (b"INVITE", b"ACK", b"BYE", b"CANCEL", b"UPDATE", b"PRACK")
_CSEQ_KEPT = re.compile(rb"\n ?(?:CSeq|cseq|CSEQ)[ \t]*:[ \t]*\d+[ \t]+(?:INVITE|ACK|BYE|CANCEL|UPDATE|PRACK)\b")
_CSEQ_METHOD_KEPT = re.compile(rb"\b(?:INVITE|ACK|BYE|CANCEL|UPDATE|PRACK)\b")
_SUMMARY_KEPT = re.compile(rb"Method=(?:INVITE|ACK|BYE|CANCEL|UPDATE|PRACK)\b")


def sip_text(framed: bytes) -> bytes | None:
    """The SIP message of a framed block (CRLF line ends), or None when no rule needs it."""
    text = framed.lstrip()
    if text.startswith(b"|"):
        text = text[1:]
    if text.startswith(b"SIP/2.0"):
        cseq = _CSEQ_KEPT.search(text)
        if cseq is None:
            return None
    elif not text.startswith(SIP_METHODS_KEPT):
        return None
    text = text.replace(b"\r", b"").replace(b"\n ", b"\n").rstrip(b"|")
    if text.endswith(b"\n"):
        text = text[:-1]
    return text.replace(b"\n", b"\r\n") + b"\r\n"


def _sip_skippable(buf: bytes, first: int) -> bool:
    """Whether the SIP message starting at ``first`` (its `` |`` line) is one no rule reads, judged from
    its start line (and CSeq for a response) without finding where the block ends."""
    if not buf.startswith(b" |", first):
        return False
    p = first + 2
    if buf.startswith(b"SIP/2.0", p):
        c = buf.find(b"CSeq:", p, p + 8192)
        if c < 0:
            return False
        eol = buf.find(b"\n", c)
        return eol >= 0 and _CSEQ_METHOD_KEPT.search(buf, c, eol) is None
    # judge only a whole start line (a chunk may end inside it)
    return buf.find(b"\n", p, p + 2048) >= 0 and not buf.startswith(SIP_METHODS_KEPT, p)


def _echo(header: bytes, sip: bytes) -> bool:
    """Copies of call-setup messages no call rule reads: a proxy logs each message twice (received,
    then sent on), and the rules follow the INVITEs both ways, the 200 OK as sent, the ACK as received
    and any 403/404/603. A 2xx as received, an ACK as sent, a BYE or CANCEL are skipped unless their
    SDP or Reason could matter to the codec rules."""
    received = b'Action="Received"' in header
    if received and sip.startswith(b"SIP/2.0 2"):
        method, status = None, 200
    elif not received and sip.startswith(b"ACK "):
        method, status = "ACK", None
    elif sip.startswith((b"BYE ", b"CANCEL ")):
        method, status = sip[:sip.find(b" ")].decode(), None
    else:
        return False
    return not needs_full_parse(sip, method, status)


_USUAL_PAYLOADS = frozenset({b"0", b"8", b"9"})  # static PCMU, PCMA, G722


def needs_full_parse(sip: bytes, method: str | None, status: int | None) -> bool:
    """Whether the shared SIP rules (``checks.sipcalls``) could say anything about this message: an SDP
    whose audio line lacks the usual G.711/G.722 payloads or is declined, an INVITE without SDP
    (the offer then comes in the answer), a BYE with a Reason, a 488. Healthy call setup is skipped."""
    if status == 488 or (method == "BYE" and b"Reason" in sip):
        return True
    at = sip.find(b"\nm=audio")
    if at < 0:
        return method == "INVITE"
    while at >= 0:
        eol = sip.find(b"\n", at + 1)
        words = sip[at + 1:eol if eol >= 0 else len(sip)].split()
        if len(words) < 2 or words[1] == b"0" or not _USUAL_PAYLOADS.intersection(words[3:]):
            return True
        at = sip.find(b"\nm=audio", at + 1)
    return False


def relevant(raw: bytes) -> bool:
    """Cheap byte test of a marker line: is it one a rule or a timeline reads?

    TCP lines matter on the Mutual TLS port, or when a connection failed (any port: the
    outbound DNS fault connects to 5061); DNS lines when they query SRV for a Webex user's
    domain or answer with port 5061; SIP summaries only for call-setup methods; Event lines
    only for the events a rule reads.
    """
    if b"TCP Conne" in raw:
        return b"5062" in raw or b"Connection Failed" in raw
    if b"network.dns" in raw:
        return b":5061'" in raw or (b"SRV" in raw and (b".call.ciscospark.com" in raw or b".calls.webex.com" in raw))
    if SUMMARY_MARKER in raw:
        return _SUMMARY_KEPT.search(raw) is not None
    if b"Event" in raw and not any(e in raw for e in EVENTS_KEPT):
        return any(m in raw for m in (b"SSL connection", b"earch rule", b"CPL: <") + PASTE_MARKERS)
    return True


class LogScanner:
    """Feed a log's bytes in order; get back the records around the markers, with line numbers."""

    def __init__(self, markers: Iterable[bytes] = MARKERS) -> None:
        self.markers = tuple(markers)
        self._buf = b""
        self._line = 1  # line number of self._buf[0]
        self.long_lines = 0
        self.skipped_sip_blocks = 0
        self.sip_blocks = 0
        self._base = 0  # stream offset of self._buf[0]
        self._done = 0  # stream offset up to which records were read (held-back text is not read twice)
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[Record]:
        self.bytes_seen += len(chunk)
        buf = self._buf + chunk if self._buf else chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) <= MAX_PENDING_BYTES:
                self._buf = buf
                return []
            cut = len(buf) - _OVERLAP  # an over-long line: scan what we have, keep an overlap
            self.long_lines += 1
        return self._scan(buf, cut, final=False)

    def close(self) -> list[Record]:
        buf, self._buf = self._buf, b""
        return self._scan(buf, len(buf), final=True) if buf else []

    def _scan(self, buf: bytes, cut: int, final: bool) -> list[Record]:
        markers = self.markers if self.sip_blocks else self.markers + (SUMMARY_MARKER,)
        if self._base < PASTE_BYTES:
            markers += PASTE_MARKERS
        hits: list[int] = []  # position * 16 + marker number, so one integer sort orders them
        for k, marker in enumerate(markers):
            i = buf.find(marker, 0, cut)
            while i >= 0:
                hits.append(i << 4 | k)
                i = buf.find(marker, i + len(marker), cut)
        hits.sort()
        records: list[Record] = []
        line = self._line
        counted = 0  # buf offset up to which newlines are counted into ``line``
        done = max(0, self._done - self._base)  # hits before this were read already
        keep_from = cut
        for code in hits:
            pos = code >> 4
            if pos < done:
                continue
            marker = markers[code & 15]
            start = buf.rfind(b"\n", 0, pos) + 1
            end = buf.find(b"\n", pos)
            if end < 0:
                end = len(buf)
            if end - start > _LONG_LINE:
                line += buf.count(b"\n", counted, start)
                counted = start
                rs, re_ = _record_bounds(buf, start, end, pos)
                if relevant(buf[rs:re_]):
                    records.append(parse_record(decode(buf[rs:re_]), line))
                done = re_
                continue
            # cheap rejections first, on the buffer itself (most marker lines are ordinary traffic)
            if marker == b"TCP Conne":
                if buf.find(b"5062", start, end) < 0 and buf.find(b"Failed", pos, end) < 0:
                    done = end
                    continue
            elif marker == b"network.dns":
                if _DNS_KEPT.search(buf, pos, end) is None:
                    done = end
                    continue
            elif marker == b"Event":
                if _EVENT_KEPT.search(buf, pos, end) is None:
                    done = end
                    continue
            elif marker == b"SIPMSG:" and _sip_skippable(buf, end + 1):
                done = end  # a registration, keepalive or presence message: nothing to read in it
                continue
            raw = buf[start:end]
            if b"SIPMSG:" in raw:
                line += buf.count(b"\n", counted, start)
                counted = start
                got = self._sip_record(buf, start, end, line, final)
                if got is None:  # the block is not complete yet: read it again with the next chunk
                    keep_from = self._header_start(buf, start)
                    break
                rec, block_end = got
                if rec is not None:
                    records.append(rec)
                done = max(block_end, end)
                continue
            done = end
            if SUMMARY_MARKER in raw and self.sip_blocks:
                continue  # the DEBUG block of the same message carries everything, and more
            if relevant(raw):
                line += buf.count(b"\n", counted, start)
                counted = start
                records.append(parse_record(decode(raw), line))
        if keep_from >= cut and cut and buf[cut - 1:cut] == b"\n":
            # hold back the last complete line as well: it may be the header of a SIPMSG block
            keep_from = buf.rfind(b"\n", 0, max(0, cut - 1)) + 1
        self._done = self._base + done
        # ``line`` is the line number at ``counted``: move it to ``keep_from`` (either side)
        if counted <= keep_from:
            self._line = line + buf.count(b"\n", counted, keep_from)
        else:
            self._line = line - buf.count(b"\n", keep_from, counted)
        self._base += keep_from
        self._buf = buf[keep_from:]
        return records

    @staticmethod
    def _header_start(buf: bytes, marker_line_start: int) -> int:
        return buf.rfind(b"\n", 0, max(0, marker_line_start - 1)) + 1

    def _sip_record(self, buf: bytes, start: int, end: int, line: int, final: bool) -> tuple[Record | None, int] | None:
        raw = buf[start:end]
        if raw.strip() == b"SIPMSG:":
            got = _sip_block(buf, end, final)
            if got is None:
                return None
            block_end, framed = got
            self.sip_blocks += 1
            if not framed:
                self.skipped_sip_blocks += 1
                return None, block_end
            sip = sip_text(framed)
            if sip is None:
                return None, block_end
            head_start = self._header_start(buf, start)
            header = buf[head_start:max(head_start, start - 1)]
            if _echo(header, sip):
                return None, block_end
            rec = parse_record(decode(header), line - 1, sip=sip, sip_line=line + 1)
            return rec, block_end
        # flattened block (web pages): header, 'SIPMSG:' and the start line on one line
        text = decode(raw)
        head, _, rest = text.partition("SIPMSG:")
        start_line = rest.strip().lstrip("|").split(" Via:", 1)[0].strip()
        rec = parse_record(head, line, extra=(("SIP-Start", start_line),), sip_line=line)
        return rec, end


def scan(chunks: Iterable[bytes], markers: Iterable[bytes] = MARKERS) -> Iterator[Record]:
    """Every record around a marker in a chunked byte stream, in file order."""
    scanner = LogScanner(markers)
    for chunk in chunks:
        yield from scanner.feed(chunk)
    yield from scanner.close()
