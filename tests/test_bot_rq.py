"""The RQ path for real: a ``redis-server`` started here, ``rq worker`` processes as in the Procfile.

The web app only verifies, de-duplicates in Redis (SET NX EX) and enqueues; the
workers read their settings from the environment and talk to the stand-in API.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from tests.support.webex_bot import running_bot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path):
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    conn = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            conn.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
    yield url
    conn.close()
    proc.terminate()
    proc.wait(10)


def _workers(settings, count: int, log_dir: Path) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBEX_", "HCDOCTOR_", "REDIS_"))}
    env.update(settings.to_env())
    rq = shutil.which("rq") or f"{sys.executable} -m rq.cli"
    procs = []
    for n in range(count):
        out = open(log_dir / f"worker-{n}.log", "wb")
        # the Procfile's plain `rq worker`, and the warm variant (bot.jobs.WarmWorker) beside it
        kind = ["-w", "bot.jobs.WarmWorker"] if n % 2 else []
        procs.append(subprocess.Popen([*rq.split(), "worker", *kind, "--url", settings.redis_url, settings.queue_name],
                                      env=env, stdout=out, stderr=subprocess.STDOUT))
    return procs


def test_rq_workers_answer_each_message_once(redis_url, tmp_path):
    with running_bot(redis_url=redis_url) as h:
        assert h.state.jobs.mode == "rq"
        workers = _workers(h.settings, 2, tmp_path)
        try:
            people = [h.person(f"user{n}@example.com", f"User {n}") for n in range(4)]
            rooms = [h.direct(p) for p in people]
            questions = ["webex app rings twice", "version", "show mtls-incomplete-chain",
                         "Expressway-E sends only its own certificate not the chain"]
            sent = [h.sandbox.say(p, r, q) for p, r, q in zip(people, rooms, questions)]
            for msg in sent:  # Webex delivers at least once: every message arrives twice
                assert h.sandbox.redeliver(msg["id"]) == [200]
            answers = [h.wait_answers(r, timeout=60) for r in rooms]
            assert "inbound-duplicate-toasts" in answers[0][0]["markdown"]
            assert "hybridcall-doctor" in answers[1][0]["markdown"]
            assert answers[2][0]["markdown"].startswith("## Expressway-E sends only its own certificate")
            assert "(`mtls-incomplete-chain`)" in answers[3][0]["markdown"]
            assert all(a[0]["parentId"] == m["id"] for a, m in zip(answers, sent))

            # a job that fails is reported in its thread and kept in RQ's failed registry
            h.sandbox.fail(r"^/v1/messages/", 404, method="GET")
            lost = h.sandbox.say(people[0], rooms[0], "help")
            failure = h.sandbox.wait_for(lambda: [a for a in h.answers(rooms[0]) if "could not finish" in a["text"]], 60)
            assert failure[0]["parentId"] == lost["id"]
            conn = redis.Redis.from_url(redis_url)
            registry = FailedJobRegistry(h.settings.queue_name, connection=conn)
            h.sandbox.wait_for(lambda: registry.count == 1, 30)
            assert failure[0]["markdown"].split("`")[1] in registry.get_job_ids()

            queue = Queue(h.settings.queue_name, connection=conn)
            h.sandbox.wait_for(lambda: queue.count == 0 and h.sandbox.pending_deliveries == 0, 30)
            time.sleep(1.0)  # give a wrongly doubled job time to show itself
            assert [len(h.answers(r)) for r in rooms] == [2, 1, 1, 1]
            assert conn.exists("hcdoctor:seen:m:" + sent[0]["id"]) and 0 < conn.ttl("hcdoctor:seen:m:" + sent[0]["id"]) <= h.settings.dedupe_ttl
            conn.close()
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(15)
                except subprocess.TimeoutExpired:
                    w.kill()
