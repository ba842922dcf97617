"""The capture parsers on their own, fed literal bytes: TCP reassembly, the TLS reader, SIP framing."""

from __future__ import annotations

import pytest

from checks.parsers import tls as T
from checks.parsers.sip import SipStreamFramer, looks_like_sip, parse_message, parse_sdp
from checks.parsers.tcpstream import MAX_HELD_BYTES, HalfStream
from checks.sipcalls import observe_sip
from checks.model import Evidence
from kb.errors import InputError


def _joined(deliveries) -> bytes:
    return b"".join(d.data for d in deliveries)


def test_reassembly_in_order_out_of_order_overlap_retransmit():
    h = HalfStream()
    h.syn(999)
    assert _joined(h.segment(1000, b"abc")) == b"abc"
    assert _joined(h.segment(1006, b"ghi")) == b""  # held: 1003..1005 missing
    assert _joined(h.segment(1000, b"abc")) == b""  # retransmission
    assert h.retransmits == 1
    assert _joined(h.segment(1002, b"cdef")) == b"defghi"  # overlap trimmed, then the held segment
    assert h.next == 9 and h.gaps == 0


def test_reassembly_wraps_sequence_numbers():
    h = HalfStream()
    h.syn(0xFFFFFFFD)
    assert _joined(h.segment(0xFFFFFFFE, b"ab")) == b"ab"
    assert _joined(h.segment(0, b"cd")) == b"cd"
    assert h.next == 4


def test_reassembly_gap_is_marked_not_fatal():
    h = HalfStream()
    h.syn(0)
    h.segment(1, b"x")
    big = b"y" * 4096
    out = []
    for i in range(MAX_HELD_BYTES // 4096 + 2):
        out += h.segment(5000 + i * 4096, big)
    assert out and out[0].gap and out[0].offset == 4999
    assert h.gaps == 1 and h.gap_bytes == 4999 - 1


def test_reassembly_midstream_and_snaplen_loss():
    h = HalfStream()
    assert _joined(h.segment(123456, b"hello")) == b"hello"
    assert h.midstream
    got = h.lost(123456 + 5 + 100)  # 100 bytes known lost
    assert got == [] and h.gaps == 1
    d = h.segment(123456 + 105, b"next")
    assert d[0].gap and d[0].data == b"next"


def _record(ctype: int, body: bytes, version: bytes = b"\x03\x03") -> bytes:
    return bytes([ctype]) + version + len(body).to_bytes(2, "big") + body


def _handshake(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + len(body).to_bytes(3, "big") + body


def test_tls_message_split_across_records_and_feeds():
    ders = (b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02")
    certs = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    msg = _handshake(11, len(certs).to_bytes(3, "big") + certs)
    stream = _record(22, msg[:7]) + _record(22, msg[7:]) + _record(21, b"\x02\x30")
    r = T.TlsReader()
    events = []
    for i in range(len(stream)):
        events += r.feed(stream[i:i + 1])
    assert events[0] == T.Certificate(ders=ders)
    assert events[1] == T.Alert(level=2, description=48, encrypted=False) and events[1].name == "unknown_ca"


def test_tls_after_ccs_is_encrypted_and_claims_nothing():
    r = T.TlsReader()
    events = r.feed(_record(20, b"\x01") + _record(22, b"\x99" * 40) + _record(21, b"\xaa" * 26))
    assert isinstance(events[0], T.ChangeCipherSpec)
    assert events[1] == T.Handshake(msg_type=None, encrypted=True)
    assert events[2].encrypted and events[2].name == "encrypted alert"


def test_tls_garbage_and_absurd_lengths_desync_without_raising():
    assert isinstance(T.TlsReader().feed(b"GET / HTTP/1.1\r\n\r\n")[0], T.Desync)
    assert isinstance(T.TlsReader().feed(b"\x16\x03\x03\xff\xff")[0], T.Desync)
    huge = _record(22, b"\x0b\xff\xff\xff")
    assert isinstance(T.TlsReader().feed(huge)[-1], T.Desync)
    r = T.TlsReader()
    r.feed(_record(22, b"\x01\x00\x00\x05abcde"))  # a ClientHello far too short: named, not crashed
    assert not r.dead


def test_tls_sslv2_client_hello_and_detection():
    v2 = bytes([0x80, 0x2E, 0x01, 0x03, 0x01]) + b"\x00" * 0x2B
    assert T.looks_like_tls(v2)
    events = T.TlsReader().feed(v2)
    assert events[0] == T.ClientHello(version=0x0301, sni=None, supported_versions=(), sslv2=True)
    assert not T.looks_like_tls(b"SSH-2.0-OpenSSH_9.2\r\n")


def test_sip_parse_compact_headers_and_sdp():
    body = b"v=0\r\nm=audio 4000 RTP/AVP 0 9 18 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 99\r\n"
    raw = (b"INVITE sip:bob@example.com SIP/2.0\r\ni: abc\r\nm: <sip:alice@127.0.0.1>\r\nl: "
           + str(len(body)).encode() + b"\r\nc: application/sdp\r\nRoute: <sip:a;lr>\r\nroute: <sip:b;lr>\r\n\r\n"
           + body + b"TRAILING")
    m = parse_message(raw)
    assert (m.method, m.call_id, m.contact, m.routes) == ("INVITE", "abc", "<sip:alice@127.0.0.1>",
                                                          ("<sip:a;lr>", "<sip:b;lr>"))
    assert m.body == body and m.size == len(raw) - len(b"TRAILING")
    assert m.audio.codecs == ("PCMU", "G722", "G729", "telephone-event") and m.audio.port == 4000
    assert parse_sdp(body)[1].port == 0
    with pytest.raises(InputError):
        parse_message(b"HTTP/1.1 200 OK\r\n\r\n")


def test_sip_framer_over_a_stream_with_junk_and_splits():
    a = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 3\r\n\r\nabc"
    b = b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n"
    stream = b"tail of an earlier message\r\n" + a + b
    f = SipStreamFramer()
    got = []
    for i in range(0, len(stream), 5):
        got += list(f.feed(stream[i:i + 5]))
    assert [g.message.start_line for g in got] == ["OPTIONS sip:x SIP/2.0", "SIP/2.0 200 OK"]
    assert got[0].offset == len(b"tail of an earlier message\r\n")
    assert looks_like_sip(b) and not looks_like_sip(b"GET / HTTP/1.1\r\n")


def test_sip_framer_caps_an_endless_header_block():
    f = SipStreamFramer()
    list(f.feed(b"INVITE sip:x SIP/2.0\r\n"))
    for _ in range(100):
        list(f.feed(b"X-Junk: " + b"a" * 1000 + b"\r\n"))
    assert f.dead and f.pending == 0


def test_sip_call_rules():
    ev = Evidence("log", "line 1", "x")

    def msg(text: str):
        return parse_message(text.replace("\n", "\r\n").encode()), ev

    sdp_aac = "v=0\nm=audio 1 RTP/AVP 114\na=rtpmap:114 MP4A-LATM/90000\n"
    sdp_729 = "v=0\nm=audio 1 RTP/AVP 18\n"
    obs = observe_sip([
        msg(f"INVITE sip:a SIP/2.0\nCall-ID: ok\nCSeq: 1 INVITE\nContent-Type: application/sdp\n"
            f"Content-Length: {len(sdp_aac)}\n\n{sdp_aac}"),
        msg("INVITE sip:a SIP/2.0\nCall-ID: do\nCSeq: 1 INVITE\nRoute: <sip:cucm;lr>\nContent-Length: 0\n\n"),
        msg(f"SIP/2.0 200 OK\nCall-ID: do\nCSeq: 1 INVITE\nContent-Type: application/sdp\n"
            f"Content-Length: {len(sdp_729)}\n\n{sdp_729}"),
        msg("SIP/2.0 603 Decline\nCall-ID: do\nCSeq: 1 INVITE\nContent-Length: 0\n\n"),
        msg("INVITE sip:a SIP/2.0\nCall-ID: r\nCSeq: 1 INVITE\nRoute: <sip:cucm;lr>\nContent-Length: 0\n\n"),
        msg('SIP/2.0 404 Not Found\nCall-ID: r\nCSeq: 1 INVITE\nWarning: 399 1.2.3.4 "Policy Response"\n'
            "Content-Length: 0\n\n"),
    ])
    codes = [(o.code, o.fact("call_id")) for o in obs]
    assert codes == [("sip.offer_without_supported_audio_codec", "do"), ("sip.ok_without_ack_then_603", "do"),
                     ("sip.preloaded_route_rejected", "r")]
