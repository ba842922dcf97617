"""Captures built around real OpenSSL handshakes: one per documented fault a capture can show, plus clean ones.

Each scenario is written as pcap and as pcapng and must give exactly its documented finding (or
none), the observation codes that lead there, a ladder naming who did what, and a PNG ladder.
"""

from __future__ import annotations

import functools

import pytest

import kb
from checks.capture import observe, scan
from checks.diagnose import diagnose
from tests.support import capture_scenarios as S
from tests.support.capture_writer import (LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2, Flow,
                                          write_pcap, write_pcapng)

WRITERS = {"pcap": write_pcap, "pcapng": write_pcapng}


@functools.lru_cache(maxsize=None)
def _frames(name: str):
    return S.SCENARIOS[name].build()


def _analyse(data: bytes, name: str):
    observed = observe([data[i:i + 4096] for i in range(0, len(data), 4096)], name)
    return observed, diagnose(observed.observations, kb.articles())


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("scenario", sorted(S.SCENARIOS))
def test_scenario_gives_its_documented_finding(scenario: str, fmt: str):
    sc = S.SCENARIOS[scenario]
    observed, findings = _analyse(WRITERS[fmt](_frames(scenario)), f"{scenario}.{fmt}")
    codes = {o.code for o in observed.observations}
    assert sc.codes <= codes, f"missing {sorted(sc.codes - codes)}; got {sorted(codes)}"
    if sc.issue is None:
        assert findings == ()
        assert observed.timelines == ()
        return
    assert [f.issue for f in findings] == [sc.issue]
    assert findings[0].alternatives == sc.alternatives
    for ev in findings[0].evidence:
        assert ev.file == f"{scenario}.{fmt}"
        assert ev.location.startswith(("frame ", "stream "))
    ladder = observed.timelines[0]
    assert sc.ladder in ladder.lines[0]
    if scenario.startswith("mtls"):
        assert ladder.picture is not None and ladder.picture.startswith(b"\x89PNG\r\n\x1a\n")


def test_clean_tls13_says_what_it_cannot_see():
    observed, findings = _analyse(write_pcap(_frames("clean-tls13")), "clean13.pcap")
    assert findings == ()
    assert any("TLS 1.3" in w and "encrypted" in w for w in observed.warnings)
    conn = scan([write_pcap(_frames("clean-tls13"))]).connections[0]
    assert conn.version == 0x0304 and conn.certificates == []


def test_evidence_names_the_rejecting_side_and_frame():
    observed, findings = _analyse(write_pcap(_frames("mtls-webex-ca-untrusted")), "ca.pcap")
    texts = [e.text for e in findings[0].evidence]
    assert any(S.EXPE in t and "unknown_ca" in t for t in texts)
    assert any("HydrantID SSL ICA G2" in t and S.WEBEX in t for t in texts)


@pytest.mark.parametrize("link", [LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2])
def test_link_types_give_the_same_answer(link: int):
    _, findings = _analyse(write_pcap(_frames("mtls-incomplete-chain"), link), "link.pcap")
    assert [f.issue for f in findings] == ["mtls-incomplete-chain"]


@pytest.mark.parametrize("big_endian,nanoseconds", [(True, False), (False, True), (True, True)])
def test_pcap_byte_orders_and_nanosecond_timestamps(big_endian: bool, nanoseconds: bool):
    data = write_pcap(_frames("inbound-port-blocked"), big_endian=big_endian, nanoseconds=nanoseconds)
    result = scan([data])
    assert result.format == "pcap" and abs(result.last_ts - _frames("inbound-port-blocked")[-1].ts) < 1e-5
    _, findings = _analyse(data, "order.pcap")
    assert [f.issue for f in findings] == ["inbound-port-blocked"]


def test_vlan_and_ipv6():
    _, findings = _analyse(write_pcapng(_frames("mtls-default-self-signed-cert"), vlan=True), "vlan.pcapng")
    assert [f.issue for f in findings] == ["mtls-default-self-signed-cert"]
    frames = S.incomplete_chain(webex="::1", expe="fd00::20")
    observed, findings = _analyse(write_pcap(frames), "v6.pcap")
    assert [f.issue for f in findings] == ["mtls-incomplete-chain"]
    assert "[fd00::20]:5062" in observed.timelines[0].title


def test_certificate_spanning_many_segments_out_of_order_and_retransmitted():
    frames = S.incomplete_chain(mss=90, reorder=True, retransmit=True)
    data = write_pcap(frames)
    conn = scan([data]).connections[0]
    server_cert_frames = [f for f, d, _, ders in conn.certificates if ders]
    assert len(server_cert_frames) == 1
    # the Certificate message needed several segments: the frame that completed it is well after the hello
    assert server_cert_frames[0] > conn.steps[2].frame + 3
    assert conn.halves is None  # state dropped once the connection was done
    _, findings = _analyse(data, "segmented.pcap")
    assert [f.issue for f in findings] == ["mtls-incomplete-chain"]


def test_capture_starting_mid_connection_keeps_what_it_can():
    frames = _frames("mtls-firewall-inspection")
    observed, _ = _analyse(write_pcap(frames[5:]), "mid.pcap")  # no SYN, no ClientHello
    assert all(o.code.startswith("tls.") or o.code.startswith("tcp.") for o in observed.observations)


def test_sip_over_udp_488():
    frames: list = []
    Flow(frames, (S.CUCM, 5060), (S.EXPC, 5060)).datagram("c", (
        b"SIP/2.0 488 Not Acceptable Here\r\nVia: SIP/2.0/UDP 127.40.0.1\r\nCall-ID: u1@x\r\n"
        b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
    observed, findings = _analyse(write_pcap(frames), "udp.pcap")
    assert [o.code for o in observed.observations] == ["sip.response_488"]
    assert observed.observations[0].evidence[0].location.startswith("frame 1, ")
    assert [f.issue for f in findings] == ["bidir-unsupported-codec"] and findings[0].confidence == "low"


def test_port_5062_roles_learnt_from_certificates_carry_to_syn_only_connections():
    """A Webex address seen with a Webex certificate decides the direction of an unanswered SYN."""
    frames = list(_frames("clean-tls12"))
    Flow(frames, (S.EXPE, 40000), (S.WEBEX, 5062), start=1_700_000_100.0).open(answer=False).syn_retries(2)
    observed, findings = _analyse(write_pcap(frames), "mixed.pcap")
    assert "tcp.unanswered.outbound" in {o.code for o in observed.observations}
    assert [f.issue for f in findings] == ["outbound-port-blocked"]


def test_sip_capture_starting_mid_message():
    """No SYN and the first bytes are the tail of an SDP body: the next start line is still found."""
    frames: list = []
    flow = Flow(frames, (S.CUCM, 47000), (S.EXPC, 5060))
    flow.send("c", b"a=rtpmap:101 telephone-event/8000\r\n")
    flow.send("c", b"BYE sip:bob@example.com SIP/2.0\r\nCall-ID: mid\r\nCSeq: 2 BYE\r\n"
                   b"Reason: Q.850 ;cause=47\r\nContent-Length: 0\r\n\r\n")
    observed, findings = _analyse(write_pcap(frames), "mid-sip.pcap")
    assert [o.code for o in observed.observations] == ["sip.bye_cause_47"]
    assert [f.issue for f in findings] == ["bidir-unsupported-codec"]


def test_repeated_failure_gives_one_ladder():
    """Webex retries: the same failing exchange three times is one ladder that says so."""
    frames = []
    for n in range(3):
        one = S.incomplete_chain()
        frames += [type(f)(f.ts + n * 10, f.ip, f.version) for f in one]
    observed, findings = _analyse(write_pcap(frames), "retries.pcap")
    assert [f.issue for f in findings] == ["mtls-incomplete-chain"]
    assert len(observed.timelines) == 1
    assert "seen 2 more time(s)" in observed.timelines[0].lines[-1]
