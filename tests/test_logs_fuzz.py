"""Bounded fuzzing of the log, xconf, SDL, netstat and bundle readers: hostile bytes never crash them.

The inputs are built from the fragments these parsers look for (markers, quotes, SIPMSG frames,
timestamps, ``*c`` records, tar headers) mixed with random bytes, so that the interesting code
paths are reached; the parsers may only return records or raise ``InputError``.
"""

from __future__ import annotations

import io
import tarfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.explog_observe import LogObserver
from checks.logcalls import CallTracker
from checks.parsers import bundle, netstat, sdl
from checks.parsers.explog import LogScanner
from checks.parsers.xconf import parse as parse_xconf
from checks.xconf_lint import lint
from kb.errors import InputError

FRAGMENTS = [
    b"\n", b" ", b'"', b"=", b"|", b"'", b"\r\n", b" SIPMSG:\n", b" |", b"\n |\n", b"SIP/2.0 ", b"INVITE sip:a@b SIP/2.0\n",
    b"2017-09-19T10:12:00.100-04:00 amer tvcs: ", b"<166>2020-11-18T19:55:58Z h tvcs: tvcs: ",
    b'Module="network.sip" Level="DEBUG":  Action="Received" Src-ip="1.2.3.4" Src-port="5062" Msg-Hash="1"',
    b'Module="network.tcp" Level="ERROR": Src-ip="1.1.1.1" Src-port="25000" Dst-ip="2.2.2.2" Dst-port="5062" ',
    b'Detail="TCP Connection Failed"', b'Detail="TCP Connecting"', b'Event="Inbound TLS Negotiation Error" ',
    b'Detail="sslv3 alert certificate unknown"', b"Failed to establish SSL connection bServer=\"true\" ",
    b"localAddress=\"['IPv4''TCP''1.2.3.4:5062']\"", b'Module="network.dns" Detail="Sending DNS query" ',
    b'Name="_sips._tcp.x.call.ciscospark.com" Type="SRV"', b"Resolved hostname to: ['IPv4''TCP''9.9.9.9:5061'] Port:'5061'",
    b"Considering search rule 'to DNS' towards target 'DNS' at priority '1' with alias 'a@x.call.ciscospark.com'",
    b'Detail="CPL: <rule destination=".*ciscospark.*"> matched "', b'Detail="CPL: <reject/> "',
    b'Event="Search Completed" Reason="Forbidden" Dst-alias="sip:a@x.calls.webex.com"',
    b", CSeq=1, Call-ID=abc, Receive Request Method=INVITE", b"Call-ID: abc\n", b"Contact: <sip:x>; call-type=squared\n",
    b"Route: <sip:cucm;lr>\n", b"CSeq: 1 INVITE\n", b"m=audio 0 RTP/SAVP 18\n", b"Content-Length: 99999\n",
    b"Socket failure", b"No DNS addresses found", b"\xff\xfe", b"\xe9", b"\x00",
]
XCONF_FRAGMENTS = [
    b"*c xConfiguration ", b"Zones Zone ", b"Zones Policy SearchRules Rule ", b"1 ", b"6 ", b"99999999999 ", b"Name: ",
    b"Type: ", b'"DNS"', b'"TraversalServer"', b"DNS SIP TLS Verify Subject Name: ", b'"calllservice.ciscospark.com"',
    b"Pattern String: ", b'"(a+)+$"', b'"[unclosed"', b'"(?!.*@%localdomains%.*$).*"', b"Pattern Type: ", b'"Regex"',
    b"Target Name: ", b"Priority: ", b'"x"', b'"1"', b"Progress: ", b'"Stop"', b"\n", b" ", b":", b'"',
    b"SIP Domains Domain 1 Name: ", b"Policy AdministratorPolicy Mode: ", b'"LocalCPL"', b"\xff",
]


def _data(fragments):
    return st.lists(st.one_of(st.sampled_from(fragments), st.binary(max_size=20)), max_size=60).map(b"".join)


def _chunked(data: bytes, sizes: list[int]):
    pos, out = 0, []
    for size in sizes or [len(data) or 1]:
        out.append(data[pos:pos + size])
        pos += size
    out.append(data[pos:])
    return [c for c in out if c]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(_data(FRAGMENTS), st.lists(st.integers(1, 200), max_size=8))
def test_log_scanner_and_observer_never_crash(data, sizes):
    tracker = CallTracker()
    observer = LogObserver("fuzz.log", tracker)
    scanner = LogScanner()
    for chunk in _chunked(data, sizes):
        for rec in scanner.feed(chunk):
            observer.add(rec)
            assert rec.line >= 1
    for rec in scanner.close():
        observer.add(rec)
    observer.finish()
    tracker.observe()


@FUZZ
@given(_data(XCONF_FRAGMENTS), st.lists(st.integers(1, 64), max_size=6))
def test_xconf_parser_and_lint_never_crash(data, sizes):
    conf = parse_xconf(_chunked(data, sizes))
    for o in lint(conf, "fuzz.txt"):
        assert o.code.startswith("xconf.") and o.evidence


@FUZZ
@given(_data(FRAGMENTS + [b"|AppInfo  |", b"Ignoring large message from 1.2.3.4:[5060]. Only allow up to 5000 bytes.",
                          b"tcp 0 0 127.0.0.1:5062 0.0.0.0:* LISTEN\n", b"tcp6 0 0 ::1:5062 :::* LISTEN\n"]))
def test_sdl_and_netstat_never_crash(data):
    for hit in sdl.scan([data[:7], data[7:]]):
        assert hit.line >= 1
    for listener in netstat.listeners([data]):
        assert 0 <= listener.port


def _tar_gz(payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("log.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


VALID = _tar_gz(b"2017-09-19T10:12:00.100-04:00 h tvcs: x\n" * 50)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6), st.integers(10, len(VALID)))
def test_bundle_walker_only_raises_input_error(flips, length):
    data = bytearray(VALID[:length])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        for member in bundle.walk_compressed([bytes(data)], lambda _w: None):
            for _chunk in member.chunks():
                pass
    except InputError:
        pass


@FUZZ
@given(st.binary(max_size=600))
def test_zip_walker_only_raises_input_error(data):
    try:
        for member in bundle.walk_zip(io.BytesIO(b"PK\x03\x04" + data), lambda _w: None):
            for _chunk in member.chunks():
                pass
    except InputError:
        pass
