"""SIP calls seen in Expressway logs, followed across lines, files and bundle members.

The per-call faults need more than one message: a Contact parameter present on the INVITE
as received and gone on the INVITE as sent on; an INVITE with a Route header answered 404
"Policy Response" with no search rule tried in between; a 200 OK forwarded towards Unified
CM that never gets its ACK before the call ends with 603. One ``CallTracker`` is shared by
every log of an analysis, so an Expressway-C log and an Expressway-E log of the same call
combine. Messages are grouped into calls by Call-ID and by the Session-ID UUIDs, which the
Expressway B2BUA keeps when it changes the Call-ID.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field

from checks.model import Evidence, Observation, Timeline
from checks.parsers.sip import SipMessage

# Calls and messages kept per analysis; beyond these the oldest calls are not followed.
MAX_MESSAGES = 200_000
MAX_SEARCH_LINES = 100_000
MAX_TIMELINES = 5
MAX_TIMELINE_LINES = 14
_NULL_SESSION = re.compile(r"^0+$")
_UUID = re.compile(r"[0-9a-fA-F]{32}")


def epoch(ts: str) -> float | None:
    """UTC seconds of a syslog timestamp (offset applied), None when it has no usable offset."""
    if not ts:
        return None
    text = ts.replace(",", ".").replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.timestamp() if value.tzinfo else None


@dataclass
class SipSeen:
    """One SIP message as an Expressway logged it (summary line, full SIPMSG block, or both)."""

    file: str
    line: int
    order: int
    time: str
    received: bool
    remote: str  # ip:port of the other side
    local_port: str
    call_id: str
    method: str | None
    status: int | None
    cseq_method: str
    session_ids: tuple[str, ...] = ()
    contact: str = ""
    routes: tuple[str, ...] = ()
    warning: str = ""
    request_uri: str = ""
    to_uri: str = ""
    text: str = ""
    message: SipMessage | None = None
    full: bool = False

    @property
    def epoch(self) -> float | None:
        """UTC seconds, to order messages of different files (computed only when files are compared)."""
        return epoch(self.time)

    @property
    def remote_port(self) -> str:
        return self.remote.rsplit(":", 1)[-1] if ":" in self.remote else ""

    def evidence(self) -> Evidence:
        return Evidence(self.file, f"line {self.line}", self.text[:300])

    def label(self) -> str:
        arrow = "<-" if self.received else "->"
        what = self.method or f"{self.status} ({self.cseq_method})"
        return f"{_clock(self.time)} {arrow} {self.remote or '?'}  {what}"


def _clock(ts: str) -> str:
    return ts.split("T", 1)[1][:12] if "T" in ts else ts


@dataclass
class CallTracker:
    """Collects SIP messages and search-rule lines from every log, then applies the call rules."""

    messages: dict[tuple, SipSeen] = field(default_factory=dict)
    searches: dict[str, list[int]] = field(default_factory=dict)  # file -> orders of its search-rule lines
    search_count: int = 0
    order: int = 0
    dropped: int = 0

    def next_order(self) -> int:
        self.order += 1
        return self.order

    def add_message(self, key: tuple, seen: SipSeen) -> None:
        """``key`` identifies the logged message (file, Msg-Hash, direction) so that the INFO
        summary and the DEBUG block of the same message count once; the full block wins."""
        old = self.messages.get(key)
        if old is not None:
            if seen.full and not old.full:
                seen.order, seen.line = old.order, min(old.line, seen.line)
                self.messages[key] = seen
            return
        if len(self.messages) >= MAX_MESSAGES:
            self.dropped += 1
            return
        self.messages[key] = seen

    def add_search(self, file: str) -> None:
        """A search-rule line was logged now (only its place in the log order matters)."""
        if self.search_count < MAX_SEARCH_LINES:
            self.search_count += 1
            self.searches.setdefault(file, []).append(self.next_order())  # orders only grow: stays sorted

    def calls(self) -> list[list[SipSeen]]:
        """Messages grouped into calls (union of Call-ID and Session-ID UUIDs), each in log order."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        msgs = sorted(self.messages.values(), key=lambda s: s.order)
        for m in msgs:
            keys = [f"c:{m.call_id}"] if m.call_id else []
            keys += [f"s:{s}" for s in m.session_ids]
            for k in keys[1:]:
                parent[find(k)] = find(keys[0])
        groups: dict[str, list[SipSeen]] = {}
        for m in msgs:
            k = f"c:{m.call_id}" if m.call_id else (f"s:{m.session_ids[0]}" if m.session_ids else None)
            if k:
                groups.setdefault(find(k), []).append(m)
        return list(groups.values())

    def observe(self) -> tuple[list[Observation], list[Timeline]]:
        observations: list[Observation] = []
        timelines: list[Timeline] = []
        for call in self.calls():
            found = [o for o in (_squared_stripped(call), _route_rejected(call, self.searches), _ok_no_ack_603(call)) if o]
            observations += found
            if found and len(timelines) < MAX_TIMELINES:
                timelines.append(_timeline(call, found))
        return observations, timelines


def session_ids(value: str | None) -> tuple[str, ...]:
    """The non-null UUIDs of a Session-ID header or of Local-/Remote-SessionID fields."""
    if not value:
        return ()
    return tuple(u.lower() for u in _UUID.findall(value) if not _NULL_SESSION.match(u))


def _after(a: SipSeen, b: SipSeen) -> bool:
    """Whether ``a`` happened after ``b``: log order within a file, the clock across files."""
    if a.file != b.file and a.epoch is not None and b.epoch is not None:
        return a.epoch > b.epoch
    return a.order > b.order


def _invites(call: list[SipSeen], received: bool) -> list[SipSeen]:
    return [m for m in call if m.method == "INVITE" and m.received == received]


def _squared_stripped(call: list[SipSeen]) -> Observation | None:
    ingress = [m for m in _invites(call, True) if m.full and "call-type=squared" in m.contact.lower()]
    if not ingress:
        return None
    first = ingress[0]
    egress = [m for m in _invites(call, False) if m.full and m.order > first.order and m.remote_port != "5062"
              and "call-type=squared" not in m.contact.lower()]
    if not egress:
        return None
    out = egress[0]
    return Observation(
        "sip.call_type_squared_stripped",
        (Evidence(first.file, f"line {first.line}", f"{first.text}  [received from {first.remote}; Contact: {first.contact}]"[:400]),
         Evidence(out.file, f"line {out.line}", f"{out.text}  [sent to {out.remote}; Contact: {out.contact}]"[:400])),
        (("call_id", first.call_id), ("egress", out.remote)),
    )


def _searched(searches: dict[str, list[int]], file: str, after: int, before: int) -> bool:
    """Whether a search-rule line of ``file`` was logged between two messages (by log order)."""
    orders = searches.get(file, [])
    i = bisect.bisect_right(orders, after)
    return i < len(orders) and orders[i] < before


def _route_rejected(call: list[SipSeen], searches: dict[str, list[int]]) -> Observation | None:
    for inv in _invites(call, True):
        if not inv.routes:
            continue
        rejects = [m for m in call if not m.received and m.status == 404 and m.cseq_method == "INVITE"
                   and m.order > inv.order and m.file == inv.file]
        for rej in rejects:
            if rej.full and "policy response" not in rej.warning.lower():
                continue
            if _searched(searches, inv.file, inv.order, rej.order):
                continue
            return Observation(
                "sip.preloaded_route_rejected",
                (Evidence(inv.file, f"line {inv.line}", f"{inv.text}  [received; Route: {', '.join(inv.routes)}]"[:400]),
                 Evidence(rej.file, f"line {rej.line}", (f"{rej.text}  [sent; Warning: {rej.warning}]"
                                                          if rej.warning else rej.text)[:400])),
                (("call_id", inv.call_id), ("route", ", ".join(inv.routes))),
            )
    return None


def _ok_no_ack_603(call: list[SipSeen]) -> Observation | None:
    oks = [m for m in call if not m.received and m.status == 200 and m.cseq_method == "INVITE"
           and m.remote_port != "5062"]
    for ok in oks:
        later = [m for m in call if _after(m, ok)]
        declines = [m for m in later if m.status == 603]
        if not declines:
            continue
        decline = declines[0]
        acked = any(m.method == "ACK" and m.received and not _after(m, decline) for m in later)
        if acked:
            continue
        return Observation(
            "sip.ok_without_ack_then_603",
            (Evidence(ok.file, f"line {ok.line}", f"{ok.text}  [sent to {ok.remote}; no ACK came back]"),
             decline.evidence()),
            (("call_id", ok.call_id), ("to", ok.remote)),
        )
    return None


def _timeline(call: list[SipSeen], found: list[Observation]) -> Timeline:
    first = call[0]
    title = f"call {first.call_id or '?'} ({', '.join(o.code for o in found)})"
    lines = [f"{m.label()}   [{m.file} line {m.line}]" for m in call[:MAX_TIMELINE_LINES]]
    if len(call) > MAX_TIMELINE_LINES:
        lines.append(f"... {len(call) - MAX_TIMELINE_LINES} more messages")
    return Timeline(title=title, lines=tuple(lines))
