"""``check <target>`` from chat, end to end with the real live checks (loopback targets only)."""

from __future__ import annotations

from tests.support.webex_bot import running_bot

# a loopback address nothing listens on: the TCP step fails with a RST, quickly and locally
DEAD_END = "127.8.9.10:5062"


def test_private_target_is_refused_in_one_line_edited_into_the_progress_message():
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        msg = h.sandbox.say(ann, room, "check 10.1.2.3:5062")
        answer = h.sandbox.wait_for(lambda: [a for a in h.answers(room) if a.get("_edits")], 20)[0]
        h.idle()
        assert len(h.answers(room)) == 1 and answer["parentId"] == msg["id"]
        assert answer["markdown"].startswith("I cannot check `10.1.2.3:5062`: refusing")
        assert "HCDOCTOR_CHECK_PRIVATE" in answer["markdown"] and "\n" not in answer["markdown"]


def test_check_reports_steps_and_finding_and_its_card_checks_again():
    with running_bot(check_private=True, check_timeout=5.0) as h:
        ann = h.person()
        room = h.direct(ann)
        msg = h.sandbox.say(ann, room, f"check {DEAD_END}")
        answer, card = h.wait_answers(room, 2, timeout=20)
        assert answer["_edits"] == 1 and answer["parentId"] == msg["id"] == card["parentId"]
        assert answer["markdown"].startswith(f"**Checking `{DEAD_END}`**")
        assert "❌ **tcp**" in answer["markdown"] and "(`inbound-not-listening`)" in answer["markdown"]
        content = card["attachments"][0]["content"]
        box = next(b for b in content["body"] if b.get("id") == "target")
        assert box["value"] == DEAD_END
        recheck = next(a for a in content["actions"] if a["title"] == "Check this host")
        h.sandbox.press(ann, card["id"], {**recheck["data"], "target": box["value"]})
        again = h.sandbox.wait_for(lambda: [a for a in h.answers(room)[2:] if a.get("_edits")], 20)[0]
        assert again["parentId"] == msg["id"] and again["markdown"].startswith(f"**Checking `{DEAD_END}`**")
