"""Unified CM SDL traces: the "Ignoring large message" lines that mean SIP Max Incoming Message Size.

SDL lines look like ``<seq>.<sub> |HH:MM:SS.mmm |AppInfo  |<text>``; only lines holding
the marker are decoded. Sans-IO over chunks, with a cap on the pending partial line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_LINE_BYTES = 64 * 1024
MARKER = b"Ignoring large message"
_LIMIT = re.compile(r"Only allow up to (\d+) bytes")
_FROM = re.compile(r"from ([^\s:\]]+(?::\[?\d+\]?)?)")
_TIME = re.compile(r"\|\s*(\d\d:\d\d:\d\d\.\d+)\s*\|")


@dataclass(frozen=True)
class LargeMessage:
    line: int
    text: str
    limit: int | None
    peer: str
    time: str


def scan(chunks: Iterable[bytes]) -> Iterator[LargeMessage]:
    tail = b""
    line_no = 1
    for chunk in chunks:
        buf = tail + chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0 and len(buf) > MAX_LINE_BYTES:
            cut = len(buf) - len(MARKER)
        yield from _lines(buf[:cut], line_no)
        line_no += buf.count(b"\n", 0, cut)
        tail = buf[cut:]
    if tail:
        yield from _lines(tail, line_no)


def _lines(buf: bytes, first_line: int) -> Iterator[LargeMessage]:
    pos = buf.find(MARKER)
    while pos >= 0:
        start = buf.rfind(b"\n", 0, pos) + 1
        end = buf.find(b"\n", pos)
        end = len(buf) if end < 0 else end
        text = buf[max(start, end - MAX_LINE_BYTES):end].decode("utf-8", "replace").strip()
        limit = _LIMIT.search(text)
        peer = _FROM.search(text.split(MARKER.decode(), 1)[1])
        clock = _TIME.search(text)
        yield LargeMessage(line=first_line + buf.count(b"\n", 0, start), text=text,
                           limit=int(limit.group(1)) if limit else None,
                           peer=peer.group(1) if peer else "", time=clock.group(1) if clock else "")
        pos = buf.find(MARKER, end)
