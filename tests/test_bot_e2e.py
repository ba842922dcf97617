"""The bot end to end over real HTTP: signed webhooks in, answers posted to the stand-in Webex API.

Each test runs the real app behind a real WSGI server on a loopback port and the
``bot.sandbox`` API on another; only the Webex cloud is stood in for.
"""

from __future__ import annotations

import json
import time

import pytest

import kb
from bot.jobs import Conversation, Task
from bot.replies import report_reply
from bot.settings import MESSAGE_LIMIT_BYTES, Settings
from bot.webex import WebexClient, register_webhooks
from checks.model import Evidence, Finding, InputInfo, Report, Timeline
from tests.support.webex_bot import running_bot

QUESTION = "Expressway-E sends only its own certificate not the chain"


@pytest.fixture
def h():
    with running_bot() as harness:
        yield harness


def _envelope(resource: str, data: dict) -> bytes:
    return json.dumps({"id": "wh", "resource": resource, "event": "created", "data": data}).encode()


def test_question_answered_in_its_thread_with_the_right_article(h):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, QUESTION)
    assert [d.status for d in h.sandbox.deliveries] == [200]
    (answer,) = h.wait_answers(room)
    assert answer["parentId"] == msg["id"]
    assert "(`mtls-incomplete-chain`)" in answer["markdown"].split("\n")[0]
    assert "**Fix**" in answer["markdown"] and "**Also possible**" in answer["markdown"]
    assert len(answer["markdown"].encode()) <= MESSAGE_LIMIT_BYTES


def test_reply_inside_a_thread_goes_to_the_thread_root(h):
    ann = h.person()
    room = h.direct(ann)
    root = h.sandbox.say(ann, room, "version")
    h.wait_answers(room)
    h.sandbox.say(ann, room, "help", parent_id=root["id"])
    answers = h.wait_answers(room, 2)
    assert {a["parentId"] for a in answers} == {root["id"]}
    assert "hybridcall-doctor" in answers[0]["markdown"] and "`show <id>`" in answers[1]["markdown"]


def test_forged_or_unsigned_webhook_is_refused_and_nothing_happens(h):
    ann = h.person()
    room = h.direct(ann)
    body = _envelope("messages", {"id": "forged-1", "roomId": room["id"], "personId": ann["id"],
                                  "personEmail": ann["emails"][0]})
    assert h.post_raw(body, None).status_code == 403
    assert h.post_raw(body, "0" * 40).status_code == 403
    assert h.post_raw(body, "sha1=" + "a" * 40).status_code == 403
    from bot.signature import sign
    assert h.post_raw(body + b" ", sign(h.settings.webhook_secret, body)).status_code == 403  # body changed
    h.idle()
    assert h.answers(room) == []
    assert not [r for r in h.sandbox.requests_seen if "/messages" in r[1]]


def test_the_bots_own_message_is_ignored(h):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.say(h.sandbox.bot, room, "help")  # as if the bot had written it
    h.idle()
    assert [a["text"] for a in h.answers(room)] == ["help"]  # only the bot's own line, no answer to it
    h.sandbox.say(ann, room, "version")
    h.wait_answers(room, 2)
    h.idle()  # the answer's own echo came back as a webhook too, and was ignored
    replies = [a for a in h.answers(room) if a.get("parentId")]
    assert len(replies) == 1 and "hybridcall-doctor" in replies[0]["markdown"]
    echoes = [d for d in h.sandbox.deliveries if json.loads(d.body)["data"]["personId"] == h.sandbox.bot["id"]]
    assert len(echoes) >= 2 and all(d.status == 200 for d in echoes)


def test_duplicate_delivery_is_answered_once(h):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, "webex app rings twice")
    assert h.sandbox.redeliver(msg["id"]) == [200]  # at once, while the first is being answered
    h.wait_answers(room)
    assert h.sandbox.redeliver(msg["id"]) == [200]  # and again later
    h.idle()
    assert len(h.answers(room)) == 1
    assert "inbound-duplicate-toasts" in h.answers(room)[0]["markdown"]


def test_group_message_with_a_mention_is_answered(h):
    ann, bob = h.person(), h.person("bob@example.com", "Bob")
    room = h.group(ann, bob)
    h.sandbox.say(bob, room, "nobody mentioned the bot here")  # Webex does not deliver this one
    msg = h.sandbox.say(ann, room, "SHOW mtls-incomplete-chain", mention=True)
    (answer,) = h.wait_answers(room)
    assert answer["parentId"] == msg["id"]
    assert answer["markdown"].startswith("## Expressway-E sends only its own certificate")
    h.idle()
    assert len(h.answers(room)) == 1


def test_stranger_gets_one_polite_refusal():
    with running_bot(allowed="@example.com, boss@partner.net") as h:
        eve = h.person("eve@example.com.evil", "Eve")
        room = h.direct(eve)
        first = h.sandbox.say(eve, room, "help")
        (refusal,) = h.wait_answers(room)
        assert refusal["parentId"] == first["id"] and "only answer people" in refusal["markdown"]
        h.sandbox.say(eve, room, "help again")
        h.idle()
        assert len(h.answers(room)) == 1
        boss = h.person("Boss@Partner.net", "Boss")
        room2 = h.direct(boss)
        h.sandbox.say(boss, room2, "version")
        assert "hybridcall-doctor" in h.wait_answers(room2)[0]["markdown"]


def test_stranger_pressing_a_card_is_refused():
    with running_bot(allowed="ann@example.com") as h:
        ann, eve = h.person(), h.person("eve@elsewhere.org", "Eve")
        room = h.group(ann, eve)
        root = h.sandbox.say(ann, room, "version", mention=True)
        h.wait_answers(room)
        _post_as_bot(h, room, root, report_reply(Report((InputInfo("x.log", "log"),), (_finding(),))))
        card_msg = next(m for m in h.answers(room) if m.get("attachments"))
        h.sandbox.press(eve, card_msg["id"], {"hcd": "fix", "issue": "mtls-incomplete-chain"})
        last = h.wait_answers(room, 4)[-1]
        assert "only answer people" in last["markdown"] and last["parentId"] == root["id"]
        h.sandbox.press(ann, card_msg["id"], {"hcd": "fix", "issue": "mtls-incomplete-chain"})
        assert h.wait_answers(room, 5)[-1]["markdown"].startswith("**Fix for ")


def test_rate_limit_then_success(h):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.fail(r"^/v1/messages$", 429, method="POST", retry_after="1")
    start = time.monotonic()
    h.sandbox.say(ann, room, "version")
    (answer,) = h.wait_answers(room, timeout=20)
    assert time.monotonic() - start >= 1.0  # Retry-After was honoured
    posts = [s for m, p, s in h.sandbox.requests_seen if m == "POST" and p == "/v1/messages"]
    assert posts[:2] == [429, 0]
    h.idle()
    assert len(h.answers(room)) == 1


def test_server_errors_are_retried_with_backoff(h):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.fail(r"^/v1/messages/", 503, 500, method="GET")
    h.sandbox.say(ann, room, "version")
    (answer,) = h.wait_answers(room)
    gets = [s for m, p, s in h.sandbox.requests_seen if m == "GET" and p.startswith("/v1/messages/")]
    assert gets[:3] == [503, 500, 0] and "hybridcall-doctor" in answer["markdown"]


def test_a_failed_job_is_reported_in_one_line_without_a_traceback(h, caplog):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.fail(r"^/v1/messages/", 404, method="GET")  # the message vanished before we read it
    msg = h.sandbox.say(ann, room, "help")
    (answer,) = h.wait_answers(room)
    text = answer["markdown"]
    assert "\n" not in text and "Traceback" not in text and "could not finish" in text
    job_id = text.split("`")[1]
    assert answer["parentId"] == msg["id"]
    h.idle()
    assert any(job_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_webhook_limits_and_health(h):
    big = b"{" + b" " * (h.settings.max_webhook_bytes + 10) + b"}"
    assert h.signed(big).status_code == 413
    assert h.signed(b"not json").status_code == 400
    assert h.signed(json.dumps({"resource": "messages"}).encode()).status_code == 400
    assert h.signed(_envelope("rooms", {"id": "x"})).json()["status"] == "ignored"
    import requests

    health = requests.get(h.bot.url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["jobs"] == "threads"


def _finding(issue: str = "mtls-incomplete-chain") -> Finding:
    art = kb.get(issue)
    return Finding(issue, art.title, "high", art.summary, ("mtls-stale-controlhub-cert",),
                   (Evidence("/tmp/hcdoctor-in-x/expe.pcap", "stream 3 (127.10.0.1:5062)",
                             "Certificate message with 1 certificate"),))


def _post_as_bot(h, room: dict, root: dict, reply) -> None:
    task = Task.new("message", root["id"], room["id"])
    convo = Conversation(h.state.jobs.ctx, task)
    convo.root = root["id"]
    convo.say(reply)


def test_long_report_keeps_the_message_within_the_limit_and_attaches_the_whole(h):
    ann = h.person()
    room = h.direct(ann)
    root = h.sandbox.say(ann, room, "version")
    h.wait_answers(room)
    lines = tuple(f"{i:04d} 127.0.0.1:5062 -> 127.10.0.1:40000 TLS record {i} " + "x" * 40 for i in range(400))
    report = Report((InputInfo("/tmp/hcdoctor-in-x/expe.pcap", "pcap"),), (_finding(),),
                    timelines=(Timeline("127.10.0.1:40000 -> 127.0.0.1:5062", lines, b"\x89PNG fake"),))
    reply = report_reply(report)
    assert len(reply.markdown.encode()) <= MESSAGE_LIMIT_BYTES
    _post_as_bot(h, room, root, reply)
    posted = h.answers(room)[1:]
    text, card, report_file, ladder = posted
    assert len(text["markdown"].encode()) <= MESSAGE_LIMIT_BYTES and "attached as hcdoctor-report.md" in text["markdown"]
    assert card["attachments"][0]["content"]["version"] == "1.3"
    name, data = report_file["_file"]
    assert name == "hcdoctor-report.md" and len(data) > MESSAGE_LIMIT_BYTES and b"0399 127.0.0.1:5062" in data
    assert ladder["_file"] == ("ladder-1.png", b"\x89PNG fake")
    assert {m["parentId"] for m in posted} == {root["id"]}


def test_card_action_show_the_fix_is_answered(h):
    ann = h.person()
    room = h.direct(ann)
    root = h.sandbox.say(ann, room, "version")
    h.wait_answers(room)
    report = Report((InputInfo("/tmp/x/expe.pcap", "pcap"),), (_finding(),))
    _post_as_bot(h, room, root, report_reply(report))
    card_msg = next(m for m in h.answers(room) if m.get("attachments"))
    content = card_msg["attachments"][0]["content"]
    fix = next(a for a in content["actions"] if a["title"] == "Show the fix")
    target = next(b for b in content["body"] if b.get("id") == "target")
    assert target["value"] == "127.10.0.1:5062"  # prefilled from the evidence
    action = h.sandbox.press(ann, card_msg["id"], {**fix["data"], "target": target["value"]})
    answers = h.wait_answers(room, 4)
    fix_answer = answers[-1]
    assert fix_answer["parentId"] == root["id"]  # the thread's root, not the card (a reply)
    assert fix_answer["markdown"].startswith("**Fix for **Expressway-E sends only its own certificate")
    assert "Append CA Certificate" in fix_answer["markdown"]
    assert h.sandbox.redeliver(action["id"]) == [200]
    h.idle()
    assert len(h.answers(room)) == 4


def test_card_check_without_a_host_asks_for_one(h):
    ann = h.person()
    room = h.direct(ann)
    root = h.sandbox.say(ann, room, "version")
    h.wait_answers(room)
    _post_as_bot(h, room, root, report_reply(Report((InputInfo("x.log", "log"),), (_finding(),))))
    card_msg = next(m for m in h.answers(room) if m.get("attachments"))
    h.sandbox.press(ann, card_msg["id"], {"hcd": "check", "target": "  "})
    assert "SIP destination" in h.wait_answers(room, 4)[-1]["markdown"]


def test_download_waits_out_the_malware_scan_then_succeeds(h, tmp_path):
    ann = h.person()
    quiet_room = h.group(ann)  # not mentioned: the bot does not hear it, only this test downloads
    msg = h.sandbox.say(ann, quiet_room, files=[("expe.log", b"hello log\n" * 1000)])
    url = f"{h.api.url}/v1/contents/{msg['_contents'][0]}"
    h.sandbox.fail(r"^/v1/contents/", 423, 423, retry_after="1")
    client = WebexClient(h.settings)
    start = time.monotonic()
    info = client.content_info(url)
    path = client.download(url, tmp_path, info.name)
    assert time.monotonic() - start >= 2.0
    assert (info.name, info.size) == ("expe.log", 10000) and path.read_bytes() == b"hello log\n" * 1000
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("status, words", [(410, "infected"), (428, "could not scan")])
def test_download_refusals_are_explained(h, tmp_path, status, words):
    from bot.webex import DownloadRefused

    ann = h.person()
    msg = h.sandbox.say(ann, h.group(ann), files=[("bundle.tar.gz", b"x")])
    url = f"{h.api.url}/v1/contents/{msg['_contents'][0]}"
    h.sandbox.fail(r"^/v1/contents/", status)
    with pytest.raises(DownloadRefused, match=words):
        WebexClient(h.settings).download(url, tmp_path)


def test_download_refuses_foreign_hosts_and_oversize_files(h, tmp_path):
    from bot.webex import DownloadRefused

    ann = h.person()
    msg = h.sandbox.say(ann, h.group(ann), files=[("big.pcap", b"y" * 5000)])
    url = f"{h.api.url}/v1/contents/{msg['_contents'][0]}"
    with pytest.raises(DownloadRefused, match="outside"):
        WebexClient(h.settings).download(url.replace("127.0.0.1", "localhost"), tmp_path)
    with pytest.raises(DownloadRefused, match="larger than"):
        WebexClient(h.settings.replace(max_download_bytes=4096)).download(url, tmp_path)
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "big.pcap"])


def test_upload_refused_by_the_scan_is_told_to_the_user(h):
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.fail(r"^/v1/contents/", 410, 410)
    h.sandbox.say(ann, room, files=[("capture.pcap", b"\xd4\xc3\xb2\xa1" + b"\0" * 20)])
    (answer,) = h.wait_answers(room)
    assert "infected" in answer["markdown"] and "\n" not in answer["markdown"]


def test_webhooks_register_is_idempotent_and_reactivates(h):
    h.sandbox.webhooks.clear()
    settings = h.settings
    url = h.bot.url + "/webhook"
    first = list(register_webhooks(settings, url))
    assert [line.split()[0] for line in first] == ["created", "created"]
    hook = next(w for w in h.sandbox.webhooks.values() if w["resource"] == "messages")
    hook["status"] = "inactive"
    second = list(register_webhooks(settings, url))
    assert [line.split()[0] for line in second] == ["updated", "updated"] and "re-activated" in second[0]
    assert len(h.sandbox.webhooks) == 2 and all(w["status"] == "active" for w in h.sandbox.webhooks.values())
    assert all(w["secret"] == settings.webhook_secret for w in h.sandbox.webhooks.values())
    ann = h.person()
    room = h.direct(ann)
    h.sandbox.say(ann, room, "version")
    assert h.wait_answers(room)


def test_webhooks_register_needs_the_secret():
    from kb.errors import InputError

    with pytest.raises(InputError, match="WEBEX_WEBHOOK_SECRET"):
        list(register_webhooks(Settings(access_token="t"), "https://bot.example.com/webhook"))


def test_webhooks_register_with_a_wrong_token_is_one_clear_error(h):
    from bot.webex import WebexUnavailable

    with pytest.raises(WebexUnavailable, match=r"refused the webhook registration: \[401\]"):
        list(register_webhooks(h.settings.replace(access_token="wrong"), h.bot.url + "/webhook"))
