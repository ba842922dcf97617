"""One capture per documented fault a capture can show, plus clean ones, built from real handshakes.

Addresses: the Webex side is 127.10.0.x, the Expressway-E 127.20.0.1, the Expressway-C 127.30.0.1
and Unified CM 127.40.0.1. Each builder returns the frames; ``SCENARIOS`` says which finding
(if any) each must give and which observation codes it must carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from OpenSSL import SSL

from tests.support.capture_writer import Flow, Frame, Side, handshake, write_pcap
from tests.support.pki import Issued, expressway_pki, webex_pki

WEBEX = "127.10.0.1"
EXPE = "127.20.0.1"
EXPC = "127.30.0.1"
CUCM = "127.40.0.1"
INVITE_APPDATA = b"INVITE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n"


@lru_cache(maxsize=1)
def pkis() -> tuple[dict[str, Issued], dict[str, Issued]]:
    return webex_pki(), expressway_pki()


def _webex(**kw) -> Side:
    w, e = pkis()
    return Side(w["leaf"], **{"trust": (e["root"],), **kw})


def _expe(**kw) -> Side:
    w, e = pkis()
    return Side(e["leaf"], **{"trust": (w["root"],), "client_ca_names": (w["root"], e["root"]), **kw})


def inbound(hs_client: Side, hs_server: Side, version: int = SSL.TLS1_2_VERSION, close: str = "fin-c",
            upto: int | None = None, webex: str = WEBEX, expe: str = EXPE, **send) -> list[Frame]:
    """Webex (client) connects to the Expressway-E on 5062 and runs the given handshake."""
    hs = handshake(hs_client, hs_server, version=version, sni="expe.example.com",
                   client_data=INVITE_APPDATA if close == "rst-s-after-data" else b"")
    frames: list[Frame] = []
    flow = Flow(frames, (webex, 41000), (expe, 5062)).open().flights(hs, upto=upto, **send)
    if close == "fin-c":
        flow.fin("c").fin("s")
    elif close == "fin-s":
        flow.fin("s").fin("c")
    elif close in ("rst-s", "rst-s-after-data"):
        flow.rst("s")
    return frames


def leaf_only_pcap_lab(pki: tuple[dict[str, Issued], dict[str, Issued]] | None = None) -> bytes:
    """The guide's lab addresses (Webex 146.20.193.45 -> Expressway-E 172.16.2.2:5062), the
    Expressway-E sending its leaf alone and Webex rejecting it, as a pcap file. ``pki`` is
    (webex, expressway) when the certificates must match other files of the same test."""
    w, e = pki or pkis()
    hs = handshake(Side(cert=w["leaf"], trust=(e["root"],)),
                   Side(cert=e["leaf"], send_chain=False, trust=(w["root"],), client_ca_names=(w["root"],)))
    frames: list[Frame] = []
    Flow(frames, ("146.20.193.45", 33441), ("172.16.2.2", 5062)).open().flights(hs).fin("c")
    return write_pcap(frames)


def clean_tls12() -> list[Frame]:
    w, e = pkis()
    hs = handshake(_webex(), _expe(), sni="expe.example.com", client_data=INVITE_APPDATA,
                   server_data=b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n")
    assert hs.error is None
    frames: list[Frame] = []
    Flow(frames, (WEBEX, 41000), (EXPE, 5062)).open().flights(hs).fin("c").fin("s")
    return frames


def clean_tls13() -> list[Frame]:
    hs = handshake(_webex(), _expe(), version=SSL.TLS1_3_VERSION, sni="expe.example.com",
                   client_data=INVITE_APPDATA, server_data=b"SIP/2.0 100 Trying\r\n\r\n")
    assert hs.error is None
    frames: list[Frame] = []
    Flow(frames, (WEBEX, 41000), (EXPE, 5062)).open().flights(hs).fin("c").fin("s")
    return frames


def webex_ca_untrusted() -> list[Frame]:
    """The Expressway-E trusts only its own CA: it rejects the Webex chain with unknown_ca."""
    w, e = pkis()
    return inbound(_webex(), _expe(trust=(e["root"],), client_ca_names=(e["root"],)), close="fin-s")


def incomplete_chain(**send) -> list[Frame]:
    """The Expressway-E sends its leaf alone; Webex cannot build a path and alerts."""
    return inbound(_webex(), _expe(send_chain=False), **send)


def self_signed() -> list[Frame]:
    w, e = pkis()
    return inbound(_webex(), Side(e["self_signed"], trust=(w["root"],)))


def stale_controlhub() -> list[Frame]:
    """A complete public-looking chain that Webex still rejects (it trusts something else)."""
    w, e = pkis()
    return inbound(_webex(trust=(w["root"],)), _expe())


def subject_name_mismatch() -> list[Frame]:
    """Handshake completes, Webex sends its INVITE, the Expressway-E resets without an alert."""
    return inbound(_webex(), _expe(), close="rst-s-after-data")


def firewall_inspection() -> list[Frame]:
    """Outbound: the Expressway-E (port 25026) sends its chain, then a RST arrives from Webex's side."""
    w, e = pkis()
    hs = handshake(Side(e["leaf"], trust=(w["root"],)),
                   Side(w["leaf"], trust=(e["root"],), client_ca_names=(e["root"],)), sni="callservice.webex.com")
    frames: list[Frame] = []
    Flow(frames, (EXPE, 25026), (WEBEX, 5062)).open().flights(hs, upto=3).rst("s")
    return frames


def not_listening() -> list[Frame]:
    frames: list[Frame] = []
    Flow(frames, (WEBEX, 41000), (EXPE, 5062)).open(answer=False).refuse()
    return frames


def inbound_blocked() -> list[Frame]:
    frames: list[Frame] = []
    Flow(frames, (WEBEX, 41234), (EXPE, 5062)).open(answer=False).syn_retries(2)
    return frames


def outbound_blocked() -> list[Frame]:
    frames: list[Frame] = []
    Flow(frames, (EXPE, 25026), ("127.10.0.2", 5062)).open(answer=False).syn_retries(2)
    return frames


def _sip(start: str, headers: list[str], body: bytes = b"") -> bytes:
    head = "\r\n".join([start, *headers, f"Content-Length: {len(body)}", "", ""]).encode()
    return head + body


def _sdp(audio: str, extra: str = "") -> bytes:
    return ("v=0\r\no=CiscoSystemsCCM-SIP 1 1 IN IP4 127.40.0.1\r\ns=SIP Call\r\nc=IN IP4 127.40.0.1\r\nt=0 0\r\n"
            + audio + extra).encode()


def _call_headers(method: str, n: int, call_id: str) -> list[str]:
    return [f"Via: SIP/2.0/TCP {EXPC}:5060;branch=z9hG4bK{n}", "From: <sip:alice@example.com>;tag=1",
            "To: <sip:bob@example.com>", f"Call-ID: {call_id}", f"CSeq: {n} {method}",
            f"Contact: <sip:alice@{EXPC}:5060;transport=tcp>"]


def sip_g729_only() -> list[Frame]:
    """Early offer with G.729 only, Webex answers m=audio 0, Unified CM hangs up with cause 47."""
    cid = "g729-call@127.40.0.1"
    offer = _sdp("m=audio 52668 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    answer = _sdp("m=audio 0 RTP/AVP *\r\n", "m=video 33512 RTP/AVP 108\r\na=rtpmap:108 H264/90000\r\n")
    frames: list[Frame] = []
    flow = Flow(frames, (CUCM, 47000), (EXPC, 5060)).open()
    flow.send("c", _sip("INVITE sip:bob@example.call.ciscospark.com SIP/2.0",
                        _call_headers("INVITE", 1, cid) + ["Content-Type: application/sdp"], offer))
    flow.send("s", _sip("SIP/2.0 200 OK", _call_headers("INVITE", 1, cid) + ["Content-Type: application/sdp",
                                                                              "User-Agent: Cisco-L2SIP"], answer))
    flow.send("c", _sip("ACK sip:bob@example.call.ciscospark.com SIP/2.0", _call_headers("ACK", 1, cid)))
    flow.send("c", _sip("BYE sip:bob@example.call.ciscospark.com SIP/2.0",
                        _call_headers("BYE", 2, cid) + ["Reason: Q.850 ;cause=47", "User-Agent: Cisco-CUCM11.5"]))
    flow.send("s", _sip("SIP/2.0 200 OK", _call_headers("BYE", 2, cid)))
    return frames


def sip_oversized() -> list[Frame]:
    """The Expressway-C forwards a 6.5 kB INVITE; Unified CM resets the connection without answering."""
    cid = "big-call@127.30.0.1"
    video = "".join(f"a=rtcp-fb:{100 + i} ccm fir\r\na=fmtp:{100 + i} profile-level-id=42801f;max-mbps=245000;"
                    f"max-fs=8160;max-br=5000;max-dpb=12150;packetization-mode={i % 2}\r\n" for i in range(70))
    body = _sdp("m=audio 16384 RTP/AVP 0 8 9 101\r\na=rtpmap:101 telephone-event/8000\r\n",
                "m=video 16386 RTP/AVP 108\r\n" + video)
    message = _sip("INVITE sip:bob@127.40.0.1 SIP/2.0", _call_headers("INVITE", 1, cid)
                   + ["Content-Type: application/sdp", "Locus: abc"], body)
    assert len(message) > 6000
    frames: list[Frame] = []
    Flow(frames, (EXPC, 25100), (CUCM, 5065)).open().send("c", message).rst("s")
    return frames


@dataclass(frozen=True)
class Scenario:
    build: Callable[[], list[Frame]]
    issue: str | None  # the finding it must give (None: no finding at all)
    codes: frozenset[str]  # observation codes it must carry
    ladder: str = ""  # text the first timeline's ladder line must contain
    alternatives: tuple[str, ...] = ()


SCENARIOS: dict[str, Scenario] = {
    "clean-tls12": Scenario(clean_tls12, None, frozenset({"tls.server_chain.complete"})),
    "clean-tls13": Scenario(clean_tls13, None, frozenset()),
    "mtls-webex-ca-untrusted": Scenario(
        webex_ca_untrusted, "mtls-webex-ca-untrusted",
        frozenset({"tls.expressway_rejected_webex_cert", "tls.client_ca_list.no_webex_root",
                   "tls.server_chain.complete"}),
        ladder=f"alert unknown_ca (fatal) from {EXPE}"),
    "mtls-incomplete-chain": Scenario(
        incomplete_chain, "mtls-incomplete-chain",
        frozenset({"tls.server_chain.leaf_only", "tls.webex_rejected_expressway_cert"}),
        ladder="server certificate (1 cert, CN=expe.example.com"),
    "mtls-default-self-signed-cert": Scenario(
        self_signed, "mtls-default-self-signed-cert",
        frozenset({"tls.server_chain.self_signed", "tls.webex_rejected_expressway_cert"}), ladder="self-signed"),
    "mtls-stale-controlhub-cert": Scenario(
        stale_controlhub, "mtls-stale-controlhub-cert",
        frozenset({"tls.server_chain.complete", "tls.webex_rejected_expressway_cert"}),
        ladder=f"from {WEBEX}"),
    "mtls-subject-name-mismatch": Scenario(
        subject_name_mismatch, "mtls-subject-name-mismatch",
        frozenset({"tls.expressway_reset_after_webex_cert"}), ladder=f"RST from {EXPE}",
        alternatives=("mtls-zone-not-matched",)),
    "mtls-firewall-inspection": Scenario(
        firewall_inspection, "mtls-firewall-inspection",
        frozenset({"tls.reset_without_alert_after_server_cert", "tls.server_chain.complete"}),
        ladder=f"RST from {WEBEX}"),
    "inbound-not-listening": Scenario(not_listening, "inbound-not-listening", frozenset({"tcp.refused"}),
                                      ladder=f"RST from {EXPE}"),
    "inbound-port-blocked": Scenario(inbound_blocked, "inbound-port-blocked",
                                     frozenset({"tcp.unanswered.inbound"}), ladder="SYN (retransmitted)"),
    "outbound-port-blocked": Scenario(outbound_blocked, "outbound-port-blocked",
                                      frozenset({"tcp.unanswered.outbound"})),
    "bidir-unsupported-codec": Scenario(
        sip_g729_only, "bidir-unsupported-codec",
        frozenset({"sip.offer_without_supported_audio_codec", "sip.audio_declined", "sip.bye_cause_47"})),
    "bidir-ucm-max-message-size": Scenario(sip_oversized, "bidir-ucm-max-message-size",
                                           frozenset({"sip.oversized_message_reset"}), ladder=f"RST from {CUCM}"),
}
