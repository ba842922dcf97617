"""Expressway log records -> observations (``log.*``, ``sip.*``, ``text.*``) and timelines.

The parser finds records; this module knows what a Hybrid Call rule needs from them:
TLS negotiation errors with their Detail and direction, TCP attempts that fail,
which SRV answer led to which connection, which search rule or CPL rule ended a
call, and the SIP messages of each call (handed to the shared ``CallTracker``).
It never names an article: the articles' signatures turn these codes into findings.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from checks.logcalls import CallTracker, SipSeen, session_ids
from checks.model import Evidence, Observation, Timeline
from checks.parsers.explog import Record, needs_full_parse

MAX_CONNECTIONS = 5_000  # connections followed at once for timelines (oldest forgotten first)
MAX_EVENTS_PER_CONNECTION = 12
MAX_TIMELINES = 5
MAX_EVIDENCE_PER_CODE = 4
MAX_PENDING = 2_000  # pending searches / CPL decisions / SRV answers kept
EVIDENCE_CHARS = 400
DNS_ANSWER_WINDOW_LINES = 40  # an SRV answer this close after a query is taken as its answer

MTLS_PORT = "5062"
EXPRESSWAY_OUTBOUND_PORTS = range(25000, 30000)
# Detail text of a TLS failure -> (observation code, the direction in which it means that).
TLS_DETAILS: tuple[tuple[str, str, str], ...] = (
    ("self signed certificate in certificate chain", "log.tls.inbound.self_signed_in_chain", "inbound"),
    ("certificate verify failed", "log.tls.inbound.self_signed_in_chain", "inbound"),
    ("certificate identity was unacceptable", "log.tls.inbound.identity_unacceptable", "inbound"),
    ("alert certificate unknown", "log.tls.inbound.certificate_unknown", "inbound"),
    ("probably remote disconnect", "log.tls.outbound.remote_disconnect", "outbound"),
)
# A Webex user's address (Spark-era and current) and the user-domain SRV names behind it.
_WEBEX_ALIAS = re.compile(r"@[\w.\-]+\.(?:call\.ciscospark\.com|calls\.webex\.com|ciscospark\.com|webex\.com)\b", re.I)
_USER_DOMAIN_SRV = re.compile(r"^_sips\._tcp\.(?!callservice\.)[\w\-]+(?:\.[\w\-]+)*\.(?:call\.ciscospark\.com|calls\.webex\.com)\.?$", re.I)
# Search-rule targets that are the Webex/Hybrid zone rather than a generic DNS or B2B zone.
_WEBEX_TARGET = re.compile(r"hybrid|webex|spark|cloud", re.I)
_CONSIDERING = re.compile(r"Considering search rule '([^']*)' towards target '([^']*)'(?: at priority '([^']*)')?(?: with alias '([^']*)')?")
_SEARCH_ALIAS = re.compile(r"alias '([^']*)'")
_ADDR = re.compile(r"'((?:\d{1,3}\.){3}\d{1,3}|\[?[0-9A-Fa-f:]+\]?):(\d{1,5})'")
_SUMMARY = re.compile(r"^(Receive|Sending|Send) (Request|Response) (?:Method=(\w+)|Code=(\d{3}))")
_SUMMARY_FIELD = re.compile(r"(Method|CSeq|Call-ID|Request-URI|To|Code|Local-SessionID|Remote-SessionID|Msg-Hash)=([^,]*)")


_WANTED_HEADERS = {"call-id": "call-id", "i": "call-id", "cseq": "cseq", "contact": "contact", "m": "contact",
                   "route": "route", "warning": "warning", "session-id": "session-id", "to": "to", "t": "to"}
_START = re.compile(r"^(?:([A-Z]{3,10}) (\S+) SIP/2\.0|SIP/2\.0 (\d{3})\b)")


def peek_sip(sip: bytes) -> tuple[str | None, int | None, str, dict] | None:
    """Start line and the few headers the call rules follow (Call-ID, CSeq, Contact, Route, Warning,
    Session-ID, To), read in one pass over the header lines. Most logged SIP messages need nothing
    more; the ones whose SDP or Reason matter go through ``checks.parsers.sip.parse_message``
    (``needs_full_parse``)."""
    end = sip.find(b"\r\n\r\n")
    lines = (sip if end < 0 else sip[:end]).decode("utf-8", "replace").split("\r\n")
    m = _START.match(lines[0])
    if not m:
        return None
    headers: dict = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = _WANTED_HEADERS.get(name.strip().lower()) if colon else None
        if key is None:
            continue
        if key == "route":
            headers.setdefault("route", []).append(value.strip())
        elif key not in headers:
            headers[key] = value.strip()
    status = m.group(3)
    return m.group(1), int(status) if status else None, m.group(2) or "", headers


def _direction_by_port(src_port: str) -> str:
    """When a line does not say inbound or outbound: the Expressway opens its outbound connections from
    its TCP outbound port range (25000-29999), Webex from ephemeral ports outside it."""
    if not src_port.isdigit():
        return ""
    return "outbound" if int(src_port) in EXPRESSWAY_OUTBOUND_PORTS else "inbound"


def _clock(ts: str) -> str:
    return ts.split("T", 1)[1][:12] if "T" in ts else ts


@dataclass
class _Conn:
    events: list[str] = field(default_factory=list)
    failed: str = ""


@dataclass
class LogObserver:
    """Feed it the records of one log (``add``), then ``finish`` for its observations."""

    file: str
    calls: CallTracker
    found: dict[str, list[Observation]] = field(default_factory=dict)
    conns: OrderedDict = field(default_factory=OrderedDict)
    connecting: OrderedDict = field(default_factory=OrderedDict)
    last_srv: Record | None = None
    srv_5061: OrderedDict = field(default_factory=OrderedDict)  # ip -> (query, answer)
    considering: OrderedDict = field(default_factory=OrderedDict)  # alias -> record
    cpl_match: Record | None = None
    cpl_reject: tuple[Record, Record] | None = None
    records: int = 0

    # -- helpers ---------------------------------------------------------------------------
    def _ev(self, rec: Record, text: str | None = None) -> Evidence:
        return Evidence(self.file, f"line {rec.line}", (text or rec.text)[:EVIDENCE_CHARS])

    def _observe(self, code: str, evidence: tuple[Evidence, ...], **facts: str) -> None:
        bucket = self.found.setdefault(code, [])
        if len(bucket) < MAX_EVIDENCE_PER_CODE:
            bucket.append(Observation(code, evidence, tuple(facts.items())))

    def _conn(self, key: tuple[str, str, str, str]) -> _Conn:
        conn = self.conns.get(key)
        if conn is None:
            conn = self.conns[key] = _Conn()
            if len(self.conns) > MAX_CONNECTIONS:
                for old in list(self.conns)[: MAX_CONNECTIONS // 10]:
                    if not self.conns[old].failed:
                        del self.conns[old]
                while len(self.conns) > MAX_CONNECTIONS:
                    self.conns.popitem(last=False)
        return conn

    def _note(self, key, rec: Record, what: str, failed: bool = False) -> None:
        conn = self._conn(key)
        if len(conn.events) < MAX_EVENTS_PER_CONNECTION:
            conn.events.append(f"{_clock(rec.time)} {what}   [line {rec.line}]")
        if failed and not conn.failed:
            conn.failed = what

    @staticmethod
    def _key(rec: Record) -> tuple[str, str, str, str]:
        return (rec.get("Src-ip"), rec.get("Src-port"), rec.get("Dst-ip"), rec.get("Dst-port"))

    @staticmethod
    def _pend(store: OrderedDict, key, value) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > MAX_PENDING:
            store.popitem(last=False)

    # -- dispatch --------------------------------------------------------------------------
    def add(self, rec: Record) -> None:
        self.records += 1
        text = rec.text
        if rec.sip is not None or rec.extra:
            self._sip_block(rec)
            return
        if "TLS Negotiation Error" in text:
            self._tls_event(rec)
        elif "SSL connection" in text:
            self._ssl_error(rec)
        elif "TCP Conne" in text:
            self._tcp(rec)
        elif "network.dns" in text:
            self._dns(rec)
        elif "earch rule" in text:
            self._search(rec)
        elif "CPL: <" in text:
            self._cpl(rec)
        elif ", CSeq=" in text:
            self._sip_summary(rec)
        elif "Socket failure" in text:
            self._observe("text.socket_failure", (self._ev(rec),))
        elif "No DNS addresses found" in text:
            self._observe("dns.srv_missing", (self._ev(rec),))
        if "Search Completed" in text or "Call Rejected" in text:
            self._call_end(rec)

    # -- TLS -------------------------------------------------------------------------------
    def _classify(self, detail: str, direction: str) -> str | None:
        low = detail.lower()
        for needle, code, wanted in TLS_DETAILS:
            if needle in low and (direction in ("", wanted)):
                return code
        return None

    def _tls_event(self, rec: Record) -> None:
        event = rec.event or ("Inbound TLS Negotiation Error" if "Inbound TLS" in rec.text else
                              "Outbound TLS Negotiation Error" if "Outbound TLS" in rec.text else "TLS Negotiation Error")
        direction = "inbound" if event.startswith("Inbound") else "outbound" if event.startswith("Outbound") else \
            _direction_by_port(rec.get("Src-port"))
        detail = rec.get("Detail") or rec.text
        key = self._key(rec)
        self._note(key, rec, f"{event}: {rec.get('Detail')}", failed=True)
        if rec.get("Dst-port") != MTLS_PORT:
            return
        code = self._classify(detail, direction)
        if code:
            self._observe(code, (self._ev(rec),), detail=rec.get("Detail"), peer=rec.get("Src-ip") if
                          direction == "inbound" else rec.get("Dst-ip"))

    def _ssl_error(self, rec: Record) -> None:
        if "Failed to establish SSL connection" not in rec.text and "Failed to establish SSL" not in rec.text:
            return
        server = rec.get("bServer").lower()
        direction = "inbound" if server == "true" else "outbound" if server == "false" else ""
        addrs = {}
        for name in ("localAddress", "remoteAddress"):
            m = _ADDR.search(rec.get(name))
            if m:
                addrs[name] = m.groups()
        local, remote = addrs.get("localAddress"), addrs.get("remoteAddress")
        if direction == "inbound" and local:
            port_ok = local[1] == MTLS_PORT
            key = (remote[0], remote[1], local[0], local[1]) if remote else None
        elif direction == "outbound" and remote:
            port_ok = remote[1] == MTLS_PORT
            key = (local[0], local[1], remote[0], remote[1]) if local else None
        else:
            return
        reason = rec.get("ssl_error_reason") or rec.text
        if key:
            self._note(key, rec, f"SSL handshake failed ({'Expressway is server' if direction == 'inbound' else 'Expressway is client'}): "
                       f"{reason.split(':')[-1].strip() or 'no SSL error'}", failed=True)
        if not port_ok:
            return
        code = self._classify(reason, direction)
        if code is None and direction == "outbound" and rec.get("error") == "5":
            code = "log.tls.outbound.remote_disconnect"
        if code:
            self._observe(code, (self._ev(rec),), detail=reason)

    # -- TCP -------------------------------------------------------------------------------
    def _tcp(self, rec: Record) -> None:
        detail = rec.get("Detail")
        key = self._key(rec)
        dport = rec.get("Dst-port")
        if not detail.startswith("TCP Conne"):
            return
        if detail == "TCP Connecting":
            self._note(key, rec, f"TCP Connecting {key[0]}:{key[1]} -> {key[2]}:{key[3]}")
            if dport in (MTLS_PORT, "5061"):
                self._pend(self.connecting, key, rec)
            return
        if detail == "TCP Connection Established":
            if key in self.conns:
                self._note(key, rec, "TCP Connection Established")
            self.connecting.pop(key, None)
            return
        if detail == "TCP Connection Closed":
            reason = rec.get("Reason")
            if key in self.conns or (reason and reason != "Got EOF on socket" and MTLS_PORT in (dport, key[1])):
                self._note(key, rec, f"TCP Connection Closed ({reason or 'no reason'})",
                           failed=bool(reason) and reason != "Got EOF on socket")
            if reason and dport == MTLS_PORT:
                code = self._classify(reason, _direction_by_port(key[1]))
                if code and code.startswith("log.tls.inbound"):
                    self._observe(code, (self._ev(rec),), detail=reason)
            return
        if detail == "TCP Connection Failed":
            self._note(key, rec, f"TCP Connection Failed {key[0]}:{key[1]} -> {key[2]}:{key[3]}", failed=True)
            started = self.connecting.pop(key, None)
            evidence = ((self._ev(started),) if started else ()) + (self._ev(rec),)
            if dport == MTLS_PORT:
                self._observe("log.tcp.outbound_5062_failed", evidence, destination=f"{key[2]}:{dport}")
            elif dport == "5061" and key[2] in self.srv_5061:
                query, answer = self.srv_5061[key[2]]
                self._observe("log.dns.user_domain_srv_5061", (self._ev(query), self._ev(answer)) + evidence,
                              query=query.get("Name"), destination=f"{key[2]}:{dport}")

    # -- DNS -------------------------------------------------------------------------------
    def _dns(self, rec: Record) -> None:
        text = rec.text
        if "Sending DNS query" in text:
            if "SRV" in text and _USER_DOMAIN_SRV.match(rec.get("Name")):
                self.last_srv = rec
        elif "Resolved hostname to" in text and self.last_srv is not None and ":5061'" in text:
            # the answer has no query id: take it as the user-domain query's when it follows closely
            if rec.line - self.last_srv.line <= DNS_ANSWER_WINDOW_LINES:
                for ip, port in _ADDR.findall(rec.get("Detail") or text):
                    if port == "5061":
                        self._pend(self.srv_5061, ip, (self.last_srv, rec))

    # -- search rules and CPL --------------------------------------------------------------
    def _search(self, rec: Record) -> None:
        detail = rec.get("Detail") or rec.text
        self.calls.add_search(self.file)
        m = _CONSIDERING.search(detail)
        if not m:
            return
        rule, target, _, alias = m.groups()
        alias = (alias or "").lower()
        if alias and _WEBEX_ALIAS.search(alias) and not _WEBEX_TARGET.search(target):
            self._pend(self.considering, alias.removeprefix("sip:"), rec)

    def _cpl(self, rec: Record) -> None:
        detail = rec.get("Detail") or rec.text
        if detail.startswith("CPL: <rule") and detail.rstrip().endswith("matched"):
            self.cpl_match = rec
        elif detail.startswith("CPL: <reject") and self.cpl_match is not None:
            self.cpl_reject = (self.cpl_match, rec)
            self.cpl_match = None

    def _call_end(self, rec: Record) -> None:
        reason = rec.get("Reason")
        code = rec.get("Response-code")
        alias = rec.get("Dst-alias").lower().removeprefix("sip:")
        if reason == "Not Found" or code == "404" or rec.get("Detail") == "Not Found":
            self._not_found(rec, alias)
        if reason == "Forbidden" or code == "403":
            self._forbidden(rec, alias)

    def _not_found(self, rec: Record, alias: str) -> None:
        considered = self.considering.pop(alias, None) if alias else None
        if considered is not None:
            self._observe("log.search.catchall_404", (self._ev(considered), self._ev(rec)), alias=alias)

    def _forbidden(self, rec: Record, alias: str) -> None:
        if self.cpl_reject is None:
            return
        match, reject = self.cpl_reject
        if _WEBEX_ALIAS.search(alias) or re.search(r"ciscospark|webex", match.get("Detail"), re.I):
            self.cpl_reject = None
            self._observe("log.cpl.reject_403", (self._ev(match), self._ev(reject), self._ev(rec)), alias=alias)

    # -- SIP -------------------------------------------------------------------------------
    def _direction(self, rec: Record, detail: str = "") -> bool:
        action = rec.get("Action")
        if action:
            return action.lower().startswith("receiv")
        if detail:
            return detail.startswith("Receive")
        return bool(rec.get("Src-ip")) and not rec.get("Dst-ip")

    def _sip_summary(self, rec: Record) -> None:
        detail = rec.get("Detail")
        m = _SUMMARY.match(detail)
        if not m:
            return
        received = self._direction(rec, detail)
        fields = {k: v.strip() for k, v in _SUMMARY_FIELD.findall(detail)}
        method = m.group(3) if m.group(2) == "Request" else None
        status = int(m.group(4)) if m.group(4) else None
        cseq_method = fields.get("Method", method or "")
        remote = f"{rec.get('Src-ip')}:{rec.get('Src-port')}" if received else f"{rec.get('Dst-ip')}:{rec.get('Dst-port')}"
        seen = SipSeen(
            file=self.file, line=rec.line, order=self.calls.next_order(), time=rec.time, received=received,
            remote=remote, local_port=rec.get("Local-port"), call_id=fields.get("Call-ID", ""), method=method,
            status=status, cseq_method=cseq_method,
            session_ids=session_ids(fields.get("Local-SessionID", "") + " " + fields.get("Remote-SessionID", "")),
            request_uri=fields.get("Request-URI", ""), to_uri=fields.get("To", ""), text=rec.text,
        )
        self._sip_message(rec, seen, fields.get("Msg-Hash", ""))
        self._sip_status(rec, seen)

    def _sip_block(self, rec: Record) -> None:
        if rec.sip is None:
            return
        peeked = peek_sip(rec.sip)
        if peeked is None:
            return
        method, status, ruri, headers = peeked
        message = None
        if needs_full_parse(rec.sip, method, status):
            from checks.parsers.sip import parse_message
            from kb.errors import InputError

            try:
                message = parse_message(rec.sip)
            except InputError:
                message = None
        fields = rec.fields
        received = self._direction(rec)
        remote = (f"{fields.get('Src-ip', '')}:{fields.get('Src-port', '')}" if received
                  else f"{fields.get('Dst-ip', '')}:{fields.get('Dst-port', '')}")
        cseq = headers.get("cseq", "").split()
        seen = SipSeen(
            file=self.file, line=rec.sip_line or rec.line, order=self.calls.next_order(), time=rec.time,
            received=received, remote=remote, local_port=fields.get("Local-port", ""), call_id=headers.get("call-id", ""),
            method=method, status=status, cseq_method=cseq[-1].upper() if cseq else "",
            session_ids=session_ids(headers.get("session-id")), contact=headers.get("contact", ""),
            routes=tuple(headers.get("route", ())), warning=headers.get("warning", ""), request_uri=ruri,
            to_uri=headers.get("to", ""), text=rec.sip[:rec.sip.find(b"\r\n")].decode("utf-8", "replace"),
            message=message, full=True,
        )
        self._sip_message(rec, seen, fields.get("Msg-Hash", ""))
        self._sip_status(rec, seen)

    def _sip_message(self, rec: Record, seen: SipSeen, msg_hash: str) -> None:
        key = (self.file, msg_hash, seen.received) if msg_hash else (self.file, rec.line, seen.received)
        self.calls.add_message(key, seen)

    def _sip_status(self, rec: Record, seen: SipSeen) -> None:
        """A 404 or 403 the Expressway sent closes a pending search or CPL story."""
        if seen.received or seen.status not in (403, 404) or seen.cseq_method != "INVITE":
            return
        alias = re.sub(r"^.*?<?sips?:", "", seen.to_uri).split(">")[0].split(";")[0].lower()
        if seen.status == 404:
            self._not_found(rec, alias)
        else:
            self._forbidden(rec, alias)

    # -- results ---------------------------------------------------------------------------
    def finish(self) -> tuple[list[Observation], list[Timeline]]:
        observations = [o for obs in self.found.values() for o in obs]
        timelines = []
        for key, conn in self.conns.items():
            if conn.failed and len(timelines) < MAX_TIMELINES:
                src, sport, dst, dport = key
                timelines.append(Timeline(f"connection {src}:{sport} -> {dst}:{dport} ({conn.failed})",
                                          tuple(conn.events)))
        return observations, timelines
