"""Exactly-once under faults: a Webex that throttles, fails, scans and dawdles still gets one answer per question.

The stand-in API fails a share of the bot's calls (429 with Retry-After, 500/502/503,
423 while "scanning" a download, slow answers); 200 questions arrive from 20 senders
at once. Every question must be answered, in its thread, exactly once. The longer
version is ``tests/benchmarks/bench_faults.py``.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.support.webex_bot import running_bot

LOG = ('2017-09-19T11:12:09.721-04:00 expe tvcs: Event="Inbound TLS Negotiation Error" Service="SIP" '
       'Src-ip="146.20.193.45" Src-port="33441" Dst-ip="172.16.2.2" Dst-port="5062" '
       'Detail="sslv3 alert certificate unknown" Protocol="TLS" Level="1" UTCTime="2017-09-19 15:12:09,721"\n').encode()
QUESTIONS = ["sslv3 alert certificate unknown", "webex app rings twice", "version",
             "Expressway-E sends only its own certificate not the chain", "show mtls-incomplete-chain",
             "calls from webex never reach the desk phone"]


def _share(rng: random.Random, n: int, share: float, statuses: tuple[int, ...]) -> tuple[int, ...]:
    """``n`` request outcomes, ``share`` of them one of ``statuses`` and the rest 0 (answered normally)."""
    return tuple(rng.choice(statuses) if rng.random() < share else 0 for _ in range(n))


def inject_faults(sandbox, rng: random.Random, calls: int, share: float, retry_after: str = "1",
                  slow: float = 0.2) -> None:
    """Fail ``share`` of the bot's calls of every kind, the way Webex does on a bad day."""
    # slow answers first: the first reads each take ``slow`` seconds (faults are used in the order given)
    sandbox.fail(r"^/v1/messages/", *([0] * (calls // 10)), method="GET", delay=slow)
    sandbox.fail(r"^/v1/messages/", *_share(rng, calls, share, (429, 500, 503)), method="GET", retry_after=retry_after)
    # a create that failed with a plain 500 may have been stored; Webex's gateways answer 502/503 before it is
    sandbox.fail(r"^/v1/messages$", *_share(rng, calls, share, (429, 502, 503)), method="POST", retry_after=retry_after)
    sandbox.fail(r"^/v1/messages/", *_share(rng, calls // 4, share, (429, 500)), method="PUT", retry_after=retry_after)
    sandbox.fail(r"^/v1/contents/", *_share(rng, calls // 4, 2 * share, (423, 429)), retry_after=retry_after)
    sandbox.fail(r"^/v1/people/me$", 500, 429, retry_after=retry_after)


def ask_all(h, count: int, concurrency: int, upload_every: int = 10) -> list[dict]:
    """``count`` questions from ``count // 5`` people, sent by ``concurrency`` senders at once."""
    people = [h.person(f"user{n}@example.com", f"User {n}") for n in range(max(1, count // 5))]
    rooms = {p["id"]: h.direct(p) for p in people}

    def one(n: int) -> dict:
        p = people[n % len(people)]
        if n % upload_every == 0:
            return h.sandbox.say(p, rooms[p["id"]], files=[(f"expe-{n}.log", LOG * 20)])
        return h.sandbox.say(p, rooms[p["id"]], QUESTIONS[n % len(QUESTIONS)])

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def answers_per_question(h, sent: list[dict]) -> Counter:
    """Answers in each question's thread: cards and attached files go with an answer and are not counted."""
    ids = {m["id"] for m in sent}
    per = Counter({i: 0 for i in ids})
    for m in h.sandbox.bot_messages():
        if m.get("parentId") in ids and not m.get("attachments") and not m.get("_file"):
            per[m["parentId"]] += 1
    return per


def test_200_questions_at_concurrency_20_under_faults_get_200_answers_none_twice():
    rng = random.Random(8)
    with running_bot(workers=16, rate_person=1000, rate_room=1000, api_attempts=8) as h:
        inject_faults(h.sandbox, rng, calls=400, share=0.15)
        sent = ask_all(h, 200, 20)
        assert len(sent) == 200
        per = h.sandbox.wait_for(lambda: (c := answers_per_question(h, sent)) and min(c.values()) >= 1 and c, 60)
        h.idle(60)
        per = answers_per_question(h, sent)
        assert sorted(set(per.values())) == [1], Counter(per.values())
        texts = [m.get("markdown", "") for m in h.sandbox.bot_messages()]
        assert not [t for t in texts if "could not finish" in t]
        uploads = [t for t in texts if t.startswith("**Diagnosis of expe-")]
        assert len(uploads) == 20
        served = Counter(s for _, _, s in h.sandbox.requests_seen)
        for status in (429, 500, 502, 503, 423):  # every kind of fault really happened
            assert served[status] > 0, served
