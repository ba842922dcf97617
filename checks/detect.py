"""What kind of evidence a file holds, judged from its first bytes, never from its name.

Admins rename files, paste text into ``.txt`` files and re-save captures, so the
analyzers are chosen by content: magic numbers for binary containers, then the
shape of the first text lines. Pure over a byte prefix.
"""

from __future__ import annotations

import re

from kb.errors import InputError

HEAD_BYTES = 64 * 1024  # how much of a file detection looks at

KINDS = ("pcap", "bundle", "xconf", "sdl", "netstat", "pem", "log")

_PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

_XCONF = re.compile(rb"^\s*\*c xConfiguration |\*c xConfiguration \w", re.M)
_XSTAT = re.compile(rb"^\s*\*s [A-Za-z]+: */?\s*$", re.M)
_SDL = re.compile(rb"^\s*\d+\.\d+\s*\|\s*\d\d:\d\d:\d\d\.\d+\s*\|\s*[A-Za-z]+\s*\|", re.M)
_SDL_TEXT = re.compile(rb"\|(?:AppInfo|SdlSig|SIPL|SdlStat)\s*\|")
_NETSTAT = re.compile(rb"^\s*(?:tcp6?|udp6?)\s+\d+\s+\d+\s+\S+:\S+\s+\S+", re.M)
_SYSLOG = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_PEM = b"-----BEGIN CERTIFICATE-----"


def is_tar(head: bytes) -> bool:
    """POSIX/GNU tar: the ``ustar`` magic at offset 257 of the first header block."""
    return len(head) >= 262 and head[257:262] == b"ustar"


def detect(head: bytes) -> str:
    """The kind of a file from its first bytes; InputError when it is none we can read.

    Text kinds are tried from the most specific shape to the least: a config dump or a
    trace also contains timestamps, and an Expressway log is the fallback for text.
    """
    if not head:
        raise InputError("the file is empty")
    if head[:4] in _PCAP_MAGICS or head[:4] == _PCAPNG_MAGIC:
        return "pcap"
    if head[:2] == _GZIP_MAGIC or head[:4] in _ZIP_MAGICS or is_tar(head):
        return "bundle"
    if _looks_binary(head):
        raise InputError("this is binary data, not a log, dump, trace, capture or archive we can read")
    if _XCONF.search(head) or _XSTAT.search(head):
        return "xconf"
    if _PEM in head and not _SYSLOG.search(head):
        return "pem"
    if _SDL.search(head) or len(_SDL_TEXT.findall(head)) >= 2:
        return "sdl"
    if len(_NETSTAT.findall(head)) >= 1 and not _SYSLOG.search(head):
        return "netstat"
    return "log"


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or a high share of control bytes: text files (any encoding we accept) have neither."""
    sample = head[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(sample) // 20
