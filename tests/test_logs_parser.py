"""The Expressway log scanner on every line shape of formats.md section 1, in any chunking."""

from __future__ import annotations

import random

import pytest

from checks.parsers import explog
from checks.parsers.explog import LogScanner, parse_record, scan

EVENT = ('2017-09-19T11:12:09.721-04:00 amer-expressway01 tvcs: Event="Inbound TLS Negotiation Error" Service="SIP" '
         'Src-ip="146.20.193.45" Src-port="33441" Dst-ip="172.16.2.2" Dst-port="5062" '
         'Detail="sslv3 alert certificate unknown" Protocol="TLS" Level="1" UTCTime="2017-09-19 15:12:09,721"')
NOISE = ('2017-09-19T11:12:09.722-04:00 amer-expressway01 tvcs: UTCTime="2017-09-19 15:12:09,722" '
         'Module="developer.fsm.fsm" Level="DEBUG" CodeLocation="ppcmains/fsm/Fsm.cpp(88)" Method="Fsm::processEvent" '
         'Thread="0x7f576cbee700":  state="Idle"')
SSL = ('2017-09-22T11:11:19.485-04:00 amer-expressway01 tvcs: UTCTime="2017-09-22 15:11:19,485" Module="developer.ssl" '
       'Level="ERROR" CodeLocation="ppcmains/ssl/ttssl/ttssl_openssl.cpp(68)" Method="::TTSSLErrorOutput" '
       'Thread="0x7fc67c6ec700": TTSSL_continueHandshake: Failed to establish SSL connection iResult="0" error="1" '
       "bServer=\"true\" localAddress=\"['IPv4''TCP''172.16.2.2:5062']\" remoteAddress=\"['IPv4''TCP''146.20.193.45:33441']\" "
       'ssl_error_reason="error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown"')
CPL = ('2017-09-19T10:12:00.100-04:00 amer-expressway01 tvcs: UTCTime="2017-09-19 14:12:00,100" Module="network.cpl" '
       'Level="DEBUG":  Remote-ip="192.168.1.5" Remote-port="26404" Detail="CPL: <rule unauthenticated-origin=".*" '
       'destination=".*@dmzlab\\.call\\.ciscospark\\.com.*" message-regex=""> matched "')
SIP_HEAD = ('2018-01-01T12:56:48.965-05:00 vm-bluck-fed-vcse1 tvcs: UTCTime="2018-01-01 17:56:48,965" Module="network.sip" '
            'Level="DEBUG":  Action="Received" Local-ip="10.81.54.5" Local-port="5062" Src-ip="10.122.73.183" '
            'Src-port="47177" Msg-Hash="14340233468942773735"')
SIP_BLOCK = [" SIPMSG:", " |INVITE sip:1004@cucm.example.com SIP/2.0", " Via: SIP/2.0/TLS 10.122.73.183:47177;rport",
             " Call-ID: e7e75ff9a67fb2435b25eab2a1498171", " CSeq: 101 INVITE", " Content-Type: application/sdp",
             " Content-Length: 20", " ", " v=0", " m=audio 4000 RTP/AVP 0", " |", ""]


def records(text: str | bytes, chunk: int | None = None):
    data = text.encode() if isinstance(text, str) else text
    chunks = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return list(scan(chunks))


def test_event_line_fields_and_line_number():
    (rec,) = records("\n".join([NOISE, NOISE, EVENT, NOISE]) + "\n")
    assert rec.line == 3
    assert rec.time == "2017-09-19T11:12:09.721-04:00" and rec.host == "amer-expressway01" and rec.process == "tvcs"
    assert rec.event == "Inbound TLS Negotiation Error"
    assert rec.get("Detail") == "sslv3 alert certificate unknown" and rec.get("Dst-port") == "5062"


@pytest.mark.parametrize("prefix", [
    "2016-04-19T17:09:13+10:00 expc tvcs:",                 # X8 without milliseconds
    "<166>2020-11-18T19:55:58.980Z host tvcs: tvcs:",       # forwarded syslog: PRI and doubled tag
    "2020-08-12T14:57:43.353-05:00 expc01",                 # no process token at all
    "2020-08-12T14:57:43.353-05:00 expc01 httpd[15060]: web:",
    "Line 190: 2017-09-19T11:12:09.721-04:00 amer-expressway01 tvcs:",  # Notepad++ Find All copy
])
def test_syslog_prefix_variants(prefix):
    line = f'{prefix} UTCTime="2016-04-19 07:09:13,979" Module="network.tcp" Level="ERROR":  Src-ip="172.16.2.2" ' \
           'Src-port="25026" Dst-ip="146.20.193.70" Dst-port="5062" Detail="TCP Connection Failed"'
    (rec,) = records(line + "\n")
    assert rec.get("Detail") == "TCP Connection Failed" and rec.module == "network.tcp"
    assert rec.time.startswith(("2016", "2020", "2017"))


def test_html_padded_values_are_trimmed():
    rec = parse_record(EVENT.replace('Dst-port="5062"', 'Dst-port=" 5062 "').replace(
        'Event="Inbound', 'Event=" Inbound').replace('Error" Service', 'Error " Service'))
    assert rec.get("Dst-port") == "5062" and rec.event == "Inbound TLS Negotiation Error"


def test_developer_line_with_free_text_payload():
    (rec,) = records(SSL + "\n")
    assert rec.get("bServer") == "true" and rec.get("CodeLocation").startswith("ppcmains/ssl")
    assert rec.get("ssl_error_reason").endswith("sslv3 alert certificate unknown")
    assert "['IPv4''TCP''172.16.2.2:5062']" in rec.get("localAddress")


def test_cpl_detail_keeps_its_unescaped_quotes():
    (rec,) = records(CPL + "\n")
    assert rec.get("Detail") == 'CPL: <rule unauthenticated-origin=".*" destination=".*@dmzlab\\.call\\.ciscospark\\.com.*" message-regex=""> matched'


def test_sipmsg_block_is_deframed_to_wire_text():
    (rec,) = records("\n".join([NOISE, SIP_HEAD] + SIP_BLOCK + [NOISE]) + "\n")
    assert rec.line == 2 and rec.sip_line == 4 and rec.get("Msg-Hash") == "14340233468942773735"
    assert rec.sip.startswith(b"INVITE sip:1004@cucm.example.com SIP/2.0\r\nVia:")
    assert b"\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n" in rec.sip


def test_sipmsg_variants_glued_bar_and_column_zero_bar():
    glued = [" SIPMSG:", " |BYE sip:a@b SIP/2.0", " Call-ID: x1", " CSeq: 2 BYE", " Reason: Q.850 ;cause=47",
             " Content-Length: 0|", ""]
    col0 = [" SIPMSG:", " |ACK sip:a@b SIP/2.0", " Call-ID: x2", " CSeq: 1 ACK", " Content-Length: 0", "|", ""]
    got = records("\n".join([SIP_HEAD] + glued + [SIP_HEAD] + col0 + [EVENT]) + "\n")
    assert [r.sip.split(b"\r\n")[0] for r in got[:2]] == [b"BYE sip:a@b SIP/2.0", b"ACK sip:a@b SIP/2.0"]
    assert b"x1" in got[0].sip and b"x2" in got[1].sip
    assert got[2].event == "Inbound TLS Negotiation Error" and got[2].line == 17


def test_echo_copies_are_not_returned_unless_their_sdp_matters():
    ok = [" SIPMSG:", " |SIP/2.0 200 OK", " Call-ID: x3", " CSeq: 101 INVITE", " Content-Type: application/sdp",
          " Content-Length: 30", " ", " v=0", " m=audio 4000 RTP/SAVP 9 101", " |", ""]
    assert records("\n".join([SIP_HEAD] + ok) + "\n") == []  # a 200 OK as received: only its sent copy is read
    declined = [line.replace("m=audio 4000 RTP/SAVP 9 101", "m=audio 0 RTP/SAVP *") for line in ok]
    (rec,) = records("\n".join([SIP_HEAD] + declined) + "\n")
    assert b"m=audio 0" in rec.sip
    sent = SIP_HEAD.replace('Action="Received"', 'Action="Sent"')
    (rec,) = records("\n".join([sent] + ok) + "\n")
    assert rec.sip.startswith(b"SIP/2.0 200 OK")


def test_registrations_and_keepalives_are_not_returned():
    block = [line.replace("INVITE sip:1004", "REGISTER sip:1004").replace("101 INVITE", "1 REGISTER") for line in SIP_BLOCK]
    assert records("\n".join([SIP_HEAD] + block) + "\n") == []


@pytest.mark.parametrize("chunk", [1, 7, 64, 333, 4096])
def test_any_chunking_gives_the_same_records(chunk):
    rnd = random.Random(chunk)
    lines = []
    for _ in range(30):
        lines += rnd.choice([[NOISE], [EVENT], [SSL], [CPL], [SIP_HEAD] + SIP_BLOCK])
    text = "\n".join(lines) + "\n"
    whole = records(text)
    parts = records(text, chunk)
    assert [(r.line, r.text, r.sip) for r in parts] == [(r.line, r.text, r.sip) for r in whole]
    assert len(whole) == sum(1 for line in lines if line in (EVENT, SSL, CPL, SIP_HEAD))


def test_pdf_pasted_records_are_split_on_timestamps():
    pasted = " ".join(l.replace('="', ' "') for l in (NOISE, EVENT, NOISE, EVENT.replace("33441", "40001"))) * 20
    got = records(pasted.encode())
    assert len(got) == 40 and all(r.line == 1 for r in got)
    assert {r.get("Src-port") for r in got} == {"33441", "40001"}
    assert all(r.get("Detail") == "sslv3 alert certificate unknown" for r in got)


def test_ten_megabyte_line_stays_bounded_and_later_lines_still_count():
    scanner = LogScanner()
    got = []
    got += scanner.feed(b"x" * 10_000_000)
    assert len(scanner._buf) <= explog.MAX_PENDING_BYTES
    got += scanner.feed(b"\n" + EVENT.encode() + b"\n")
    got += scanner.close()
    assert [(r.line, r.event) for r in got] == [(2, "Inbound TLS Negotiation Error")]
    assert scanner.long_lines >= 1


def test_mixed_encodings_are_read():
    latin = EVENT.replace("Service=\"SIP\"", 'User="Jos\xe9"').encode("latin-1")
    utf8 = EVENT.replace("Service=\"SIP\"", 'User="Zoë"').encode("utf-8")
    got = records(latin + b"\n" + utf8 + b"\n")
    assert [r.get("User") for r in got] == ["José", "Zoë"]


def test_memory_bound_on_a_block_that_never_ends():
    scanner = LogScanner()
    scanner.feed((SIP_HEAD + "\n SIPMSG:\n |INVITE sip:a@b SIP/2.0\n").encode())
    for _ in range(40):
        scanner.feed(b" X-Filler: " + b"y" * 20_000 + b"\n")
        assert len(scanner._buf) < explog.MAX_SIP_BLOCK_BYTES + 2 * 20_000 + 4096
    scanner.close()
    assert scanner.skipped_sip_blocks == 1
