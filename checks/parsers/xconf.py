"""xConfiguration dumps (``*c xConfiguration <path>: <value>``) as a small typed tree.

Cisco web pages sometimes run several ``*c`` records together on one line, so records are
split on ``*c `` rather than on newlines. Only the parts the Hybrid Call lint reads are
kept as structure (zones, search rules, SIP domains, call policy); every setting is also
kept flat, with its line number for evidence. xStatus blocks (``*s``) are skipped.
Sans-IO: ``XconfParser.feed(chunk)`` then ``result()``; caps on settings and line length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_SETTINGS = 200_000
MAX_LINE_BYTES = 64 * 1024
MAX_INDEX = 10_000  # zone / rule numbers beyond this are not real

_RECORD = re.compile(r"\*c xConfiguration (?P<path>[^:]+?)\s*:\s*(?P<value>.*?)\s*(?=\*c xConfiguration |\Z)")
_ZONE = re.compile(r"^Zones Zone (\d+) (.+)$")
_RULE = re.compile(r"^Zones Policy SearchRules Rule (\d+) (.+)$")
_DOMAIN = re.compile(r"^SIP Domains? (?:Domain )?(\d+) Name$")


@dataclass(frozen=True)
class Setting:
    path: str
    value: str
    line: int

    @property
    def text(self) -> str:
        shown = f'"{self.value}"' if self.value else ""
        return f"*c xConfiguration {self.path}: {shown}".rstrip()


@dataclass
class Xconf:
    """The settings of one dump. ``zones[n][key]`` and ``rules[n][key]`` are Settings."""

    settings: dict[str, Setting] = field(default_factory=dict)
    zones: dict[int, dict[str, Setting]] = field(default_factory=dict)
    rules: dict[int, dict[str, Setting]] = field(default_factory=dict)
    domains: list[str] = field(default_factory=list)
    truncated: bool = False

    def get(self, path: str) -> Setting | None:
        return self.settings.get(path)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.strip()


class XconfParser:
    def __init__(self) -> None:
        self._tail = b""
        self._line = 1
        self.conf = Xconf()

    def feed(self, chunk: bytes) -> None:
        buf = self._tail + chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0 and len(buf) > MAX_LINE_BYTES:
            cut = len(buf)  # an absurd line: read what we have, do not keep growing
        for raw in buf[:cut].split(b"\n")[:-1] if cut else []:
            self._line_in(raw)
        if cut == len(buf) and not buf.endswith(b"\n"):
            self._line_in(buf)
        self._tail = buf[cut:]

    def result(self) -> Xconf:
        if self._tail:
            self._line_in(self._tail)
            self._tail = b""
        return self.conf

    def _line_in(self, raw: bytes) -> None:
        line_no = self._line
        self._line += 1
        if b"xConfiguration" not in raw:
            return
        text = raw[:MAX_LINE_BYTES].decode("utf-8", "replace").replace("\r", "")
        for m in _RECORD.finditer(text):
            self._setting(m.group("path").strip(), _unquote(m.group("value")), line_no)

    def _setting(self, path: str, value: str, line: int) -> None:
        conf = self.conf
        if len(conf.settings) >= MAX_SETTINGS:
            conf.truncated = True
            return
        setting = Setting(path, value, line)
        conf.settings[path] = setting
        if m := _ZONE.match(path):
            n = int(m.group(1))
            if n <= MAX_INDEX:
                conf.zones.setdefault(n, {})[m.group(2)] = setting
        elif m := _RULE.match(path):
            n = int(m.group(1))
            if n <= MAX_INDEX:
                conf.rules.setdefault(n, {})[m.group(2)] = setting
        elif _DOMAIN.match(path) and value:
            conf.domains.append(value)


def parse(chunks: Iterable[bytes]) -> Xconf:
    parser = XconfParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser.result()
