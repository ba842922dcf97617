"""Uploads end to end: a capture and a log posted in a space, downloaded by the bot and diagnosed.

These run the real analyzers (``checks.analyze``) on files made here: the capture
holds a real OpenSSL handshake (Expressway-E sending its leaf without the chain)
wrapped in TCP/IP frames, the log holds the Expressway's own error line.
"""

from __future__ import annotations

import pytest

from tests.support.capture_scenarios import leaf_only_pcap_lab
from tests.support.webex_bot import running_bot

LOG_LINE = ('2017-09-19T11:12:09.721-04:00 expe tvcs: Event="Inbound TLS Negotiation Error" Service="SIP" '
            'Src-ip="146.20.193.45" Src-port="33441" Dst-ip="172.16.2.2" Dst-port="5062" '
            'Detail="sslv3 alert certificate unknown" Protocol="TLS" Level="1" UTCTime="2017-09-19 15:12:09,721"\n')


@pytest.fixture(scope="module")
def leaf_only_capture() -> bytes:
    return leaf_only_pcap_lab()


@pytest.fixture
def h():
    with running_bot() as harness:
        yield harness


def test_uploaded_capture_gets_a_diagnosis_card_and_ladder(h, leaf_only_capture):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, "calls from Webex fail", files=[("capture.pcap", leaf_only_capture)])
    h.wait_answers(room, 3, timeout=30)
    h.idle()
    answer, card, ladder = h.answers(room)
    assert {a["parentId"] for a in (answer, card, ladder)} == {msg["id"]}
    assert answer["_edits"] == 1  # the "Analyzing …" line, edited into the answer
    assert answer["markdown"].startswith("**Diagnosis of capture.pcap (pcap)**")
    assert "(`mtls-incomplete-chain`), confidence high" in answer["markdown"]
    assert "Append CA Certificate" in answer["markdown"]
    content = card["attachments"][0]["content"]
    assert content["version"] == "1.3" and content["actions"][0]["data"] == {"hcd": "fix", "issue": "mtls-incomplete-chain"}
    name, data = ladder["_file"]
    assert name == "ladder-1.png" and data.startswith(b"\x89PNG\r\n\x1a\n")


def test_uploaded_log_in_a_group_gets_a_diagnosis_naming_the_alternatives(h):
    ann, bob = h.person(), h.person("bob@example.com", "Bob")
    room = h.group(ann, bob)
    msg = h.sandbox.say(ann, room, "what does this mean?", files=[("diagnostic_log.txt", LOG_LINE.encode() * 3)],
                        mention=True)
    answer = h.sandbox.wait_for(lambda: [a for a in h.answers(room) if "Diagnosis of" in a.get("markdown", "")], 30)[0]
    assert answer["parentId"] == msg["id"]
    assert "diagnostic\\_log.txt (log)" in answer["markdown"]
    assert "**The same evidence also fits**" in answer["markdown"]
    assert "sslv3 alert certificate unknown" in answer["markdown"]


def test_upload_waits_for_the_malware_scan_then_is_diagnosed(h):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.fail(r"^/v1/contents/", 423, retry_after="1")
    h.sandbox.say(ann, room, files=[("expe.log", LOG_LINE.encode())])
    answer = h.sandbox.wait_for(lambda: [a for a in h.answers(room) if "Diagnosis of" in a.get("markdown", "")], 30)[0]
    assert "expe.log (log)" in answer["markdown"]
    statuses = [s for m, p, s in h.sandbox.requests_seen if p.startswith("/v1/contents/")]
    assert statuses[0] == 423 and statuses[1:] == [0, 0]  # scanned: HEAD again, then GET


def test_card_action_on_a_real_diagnosis_shows_the_fix(h, leaf_only_capture):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, files=[("capture.pcap", leaf_only_capture)])
    h.wait_answers(room, 3, timeout=30)
    card = next(a for a in h.answers(room) if a.get("attachments"))
    h.sandbox.press(ann, card["id"], {"hcd": "fix", "issue": "mtls-incomplete-chain", "target": ""})
    fix = h.wait_answers(room, 4)[-1]
    assert fix["parentId"] == msg["id"] and "**Verify**" in fix["markdown"]


def test_unreadable_upload_gets_a_plain_answer_without_a_traceback(h):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, files=[("notes.docx", bytes(range(256)) * 40)])
    answer = h.sandbox.wait_for(lambda: [a for a in h.answers(room) if a.get("_edits")], 30)[0]
    assert answer["parentId"] == msg["id"] and "notes.docx" in answer["markdown"]
    assert "Traceback" not in answer["markdown"] and "could not finish" not in answer["markdown"]
