"""Webhook abuse against the running app over real HTTP: replays, oversize, bad JSON, wrong type, floods, fuzz.

Every request here is signed with the right secret (a forged one stops at 403, tested
in test_bot_e2e): these are the bodies that get past the signature and must still
never cost more than a 4xx, a 5xx of our choosing, or one polite line.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.limits import LIMIT_NOTICE, ROOM_LIMIT_NOTICE
from bot.signature import HEADER, sign
from tests.support.webex_bot import running_bot

FORBIDDEN_IN_REPLIES = ("Traceback", 'File "', "/tmp/", "/work/", "site-packages", "Error(")


@pytest.fixture
def h():
    with running_bot() as harness:
        yield harness


def _envelope(data: dict, resource: str = "messages") -> bytes:
    return json.dumps({"id": "wh", "resource": resource, "event": "created", "data": data}).encode()


def _post(h, body: bytes, content_type: str = "application/json", **kw) -> requests.Response:
    headers = {"Content-Type": content_type, HEADER: sign(h.settings.webhook_secret, body)}
    return requests.post(h.bot.url + "/webhook", data=body, headers=headers, timeout=10, **kw)


def test_wrong_content_type_is_415_and_nothing_is_done(h):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, h.group(ann), "version")  # stored, not delivered (no mention)
    body = _envelope({"id": msg["id"], "roomId": room["id"], "personId": ann["id"], "personEmail": ann["emails"][0]})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        assert _post(h, body, ctype).status_code == 415
    h.idle()
    assert h.answers(room) == []


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe\x00garbage", b"[]", b"null", b"42", b'"text"', b'{"data": []}',
    b'{"resource": "messages", "event": "created", "data": {"id": 7}}',
    b'{"resource": "messages", "event": "created", "data": {"id": ""}}',
    b'{"resource": "messages", "event": "created", "data": {"id": "x", "roomId": {"a": 1}}}',
    b'{"resource": "messages", "event": "created"}',
    b'{"resource": ["messages"], "event": "created", "data": {"id": "x"}}',
    b"[" * 30000 + b"]" * 30000,  # deep nesting: the JSON parser's recursion limit, not a 500
    b'{"a":' * 10000 + b"1" + b"}" * 10000,
], ids=lambda b: f"{len(b)}B")
def test_malformed_bodies_are_400(h, body):
    resp = _post(h, body)
    assert resp.status_code == 400 and resp.json() == {"status": "malformed"}


def test_oversize_bodies_are_413_with_or_without_a_length(h):
    limit = h.settings.max_webhook_bytes
    big = b'{"pad": "' + b"x" * limit + b'"}'
    assert _post(h, big).status_code == 413

    def chunks():  # chunked transfer: no Content-Length to judge up front
        for _ in range(limit // 1000 + 5):
            yield b"x" * 1000

    headers = {"Content-Type": "application/json", HEADER: "0" * 40}
    resp = requests.post(h.bot.url + "/webhook", data=chunks(), headers=headers, timeout=10)
    assert resp.status_code in (403, 413)  # never read past the cap, never a 500


def test_replayed_delivery_is_answered_once_and_an_old_one_not_at_all(h):
    ann = h.person()
    room = h.direct(ann)
    msg = h.sandbox.say(ann, room, "version")
    body = h.sandbox.deliveries[-1].body
    statuses = [_post(h, body).json()["status"] for _ in range(5)]
    assert statuses == ["duplicate"] * 5
    h.idle()
    assert len(h.answers(room)) == 1

    # the same message replayed after the de-duplication period: refused by its age, not answered again
    old = (datetime.now(timezone.utc) - timedelta(seconds=h.settings.dedupe_ttl + 60)).isoformat()
    again = _envelope({"id": msg["id"] + "-later", "roomId": room["id"], "personId": ann["id"],
                       "personEmail": ann["emails"][0], "created": old.replace("+00:00", "Z")})
    assert _post(h, again).json()["status"] == "stale"
    h.idle()
    assert len(h.answers(room)) == 1


def test_a_flood_from_one_person_gets_one_notice_then_silence():
    with running_bot(rate_person=3, rate_room=100, rate_window=60) as h:
        ann, bob = h.person(), h.person("bob@example.com", "Bob")
        room, bob_room = h.direct(ann), h.direct(bob)
        sent = [h.sandbox.say(ann, room, "version") for _ in range(9)]
        assert [d.status for d in h.sandbox.deliveries if json.loads(d.body)["data"]["personId"] == ann["id"]] == [200] * 9
        h.sandbox.say(bob, bob_room, "version")  # someone else is not affected
        h.idle()
        answers = h.answers(room)
        notices = [a for a in answers if a["markdown"] == LIMIT_NOTICE]
        assert len(answers) == 4 and len(notices) == 1
        assert notices[0]["parentId"] == sent[3]["id"]  # the first message over the limit
        assert [a["parentId"] for a in answers if a not in notices] == [m["id"] for m in sent[:3]]
        assert len(h.answers(bob_room)) == 1 and "hybridcall-doctor" in h.answers(bob_room)[0]["markdown"]


def test_a_flood_in_one_room_is_limited_for_the_room():
    with running_bot(rate_person=100, rate_room=4, rate_window=60) as h:
        people = [h.person(f"p{n}@example.com", f"P {n}") for n in range(6)]
        room = h.group(*people)
        for p in people:
            h.sandbox.say(p, room, "version", mention=True)
            h.sandbox.say(p, room, "help", mention=True)
        h.idle()
        answers = h.answers(room)
        assert len(answers) == 5 and sum(a["markdown"] == ROOM_LIMIT_NOTICE for a in answers) == 1


def test_a_flood_of_card_presses_is_limited_too():
    with running_bot(rate_person=2, rate_room=100, rate_window=60) as h:
        ann = h.person()
        room = h.direct(ann)
        root = h.sandbox.say(ann, room, "show mtls-incomplete-chain")
        h.wait_answers(room)
        from bot.jobs import Conversation, Task
        from bot.replies import diagnosis_card
        from tests.test_bot_e2e import _finding

        convo = Conversation(h.state.jobs.ctx, Task.new("message", root["id"], room["id"]))
        convo.client.post(room["id"], "card", parent_id=root["id"], card=diagnosis_card([_finding()], "x.pcap"))
        card = h.answers(room)[-1]
        for _ in range(6):
            h.sandbox.press(ann, card["id"], {"hcd": "fix", "issue": "mtls-incomplete-chain"})
        h.idle()
        texts = [a["markdown"] for a in h.answers(room)[2:]]
        assert len(texts) == 1 + 1 and texts.count(LIMIT_NOTICE) == 1  # the 2nd message counted first


# -- fuzzing -----------------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_ids = st.text(max_size=30) | st.sampled_from(["", "x", "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvMQ", "../../etc/passwd"])


def _data(ids):
    return st.fixed_dictionaries({"id": ids}, optional={
        "roomId": ids | _json, "personId": _ids | _json, "personEmail": st.emails() | _json,
        "created": st.sampled_from(["2020-01-01T00:00:00Z", "garbage", "9999-12-31T23:59:59.999Z"]) | _json,
        "files": st.lists(st.text(max_size=60), max_size=3) | _json, "messageId": _ids, "extra": _json})


def _bodies(real_ids):
    """Mostly envelopes that get past parsing (so jobs run on them), then broken ones, JSON, bytes."""
    ids = st.sampled_from(real_ids) | _ids
    plausible = st.fixed_dictionaries(
        {"resource": st.sampled_from(["messages", "attachmentActions"]), "event": st.just("created"),
         "data": _data(ids)},
        optional={"id": _ids, "actorId": _ids, "name": _json})
    broken = st.fixed_dictionaries(
        {"resource": st.sampled_from(["messages", "attachmentActions", "rooms"]) | _json,
         "event": st.sampled_from(["created", "deleted"]) | _json,
         "data": _data(ids) | _json},
        optional={"id": _json, "actorId": _ids})
    as_json = st.one_of(plausible, plausible, broken, _json).map(lambda v: json.dumps(v).encode())
    return st.one_of(as_json, as_json, as_json, st.binary(max_size=300))


def test_fuzzed_webhook_bodies_never_cost_a_500_or_a_traceback(caplog):
    caplog.set_level(logging.INFO)
    with running_bot(rate_person=10_000, rate_room=10_000) as h:
        ann = h.person()
        room = h.direct(ann)
        quiet = h.group(ann)
        asked = h.sandbox.say(ann, room, "version")  # real ids, so some fuzzed webhooks reach real messages
        real = [asked["id"], room["id"], ann["id"], h.sandbox.say(ann, quiet, "help")["id"], quiet["id"]]
        statuses: list[int] = []
        http = requests.Session()

        @settings(max_examples=250, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(_bodies(real))
        def post(body: bytes):
            headers = {"Content-Type": "application/json", HEADER: sign(h.settings.webhook_secret, body)}
            resp = http.post(h.bot.url + "/webhook", data=body, headers=headers, timeout=10)
            statuses.append(resp.status_code)
            assert resp.status_code in (200, 400), body

        post()
        h.idle(30)
        assert len(statuses) >= 250 and 200 in statuses and 400 in statuses
        assert not [r for r in caplog.records if "unhandled error in a request" in r.getMessage()]
        posted = h.sandbox.bot_messages()
        for m in posted:
            assert not any(bad in m.get("markdown", m["text"]) for bad in FORBIDDEN_IN_REPLIES), m


# -- the stores behind the limits, across processes ----------------------------------------------------
def _hit_many(directory: str, n: int) -> list[int]:
    from pathlib import Path

    from bot.limits import FileCounter

    counter = FileCounter(Path(directory))
    return [counter.hit("person:ann:1", 60) for _ in range(n)]


def test_file_counter_counts_every_hit_of_every_process(tmp_path):
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(4) as pool:
        seen = pool.starmap(_hit_many, [(str(tmp_path), 50)] * 4)
    counts = [c for per in seen for c in per]
    assert max(counts) == 200 and len(counts) == 200
    assert all(per == sorted(per) for per in seen)  # each process sees its own count rise


def test_local_check_slots_are_shared_by_processes_and_freed_when_one_dies(tmp_path):
    import multiprocessing
    import os
    import signal

    from bot.limits import LocalCheckSlots

    slots = LocalCheckSlots(tmp_path, 2)
    ready = multiprocessing.get_context("fork").Event()

    def hold_forever():
        with slots.hold("ann") as got:
            assert got
            ready.set()
            signal.pause()

    child = multiprocessing.get_context("fork").Process(target=hold_forever)
    child.start()
    try:
        assert ready.wait(10)
        with slots.hold("ann") as mine, slots.hold("ann") as third:
            assert (mine, third) == (True, False)  # the other process holds one of the two
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(5)
    with slots.hold("ann") as a, slots.hold("ann") as b:
        assert (a, b) == (True, True)  # the kernel freed the dead process's lock
