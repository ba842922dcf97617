"""Pasted ``netstat -an`` output: which local addresses listen on a TCP port.

The guide's test for "not listening on 5062" is ``netstat -an | grep ':5062'`` on the
Expressway root shell: healthy boxes listen on their interface addresses, a box with
mutual TLS off only on 127.0.0.1 and ::1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_LINE_BYTES = 4096
_LISTEN = re.compile(r"^\s*(tcp6?)\s+\d+\s+\d+\s+(\S+)\s+(\S+)\s+LISTEN\b", re.I)


@dataclass(frozen=True)
class Listener:
    line: int
    text: str
    address: str
    port: int


def _split(local: str) -> tuple[str, int] | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def listeners(chunks: Iterable[bytes]) -> Iterator[Listener]:
    tail = b""
    line_no = 0
    for chunk in chunks:
        buf = tail + chunk
        lines = buf.split(b"\n")
        tail = lines.pop()
        if len(tail) > MAX_LINE_BYTES:
            tail = b""
        for raw in lines:
            line_no += 1
            yield from _line(raw, line_no)
    if tail:
        yield from _line(tail, line_no + 1)


def _line(raw: bytes, line_no: int) -> Iterator[Listener]:
    text = raw[:MAX_LINE_BYTES].decode("utf-8", "replace").strip()
    m = _LISTEN.match(text)
    if m and (addr := _split(m.group(2))):
        yield Listener(line=line_no, text=text, address=addr[0], port=addr[1])


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "0:0:0:0:0:0:0:1")
