"""Exactly-once with RQ on a real redis-server: a worker killed mid-job, and Redis going away.

Workers are real ``rq worker -w bot.jobs.WarmWorker`` processes (the Procfile's line),
each in its own process group so SIGKILL takes the work horse with it, as when a
machine or container dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

from tests.support.webex_bot import running_bot

LOG = ('2017-09-19T11:12:09.721-04:00 expe tvcs: Event="Inbound TLS Negotiation Error" Service="SIP" '
       'Src-ip="146.20.193.45" Src-port="33441" Dst-ip="172.16.2.2" Dst-port="5062" '
       'Detail="sslv3 alert certificate unknown" Protocol="TLS" Level="1" UTCTime="2017-09-19 15:12:09,721"\n').encode()


class RedisServer:
    """A private redis-server that can be stopped and started again on the same port."""

    def __init__(self, workdir: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.dir), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.ping()
                conn.close()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _worker(settings, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBEX_", "HCDOCTOR_", "REDIS_"))}
    env.update(settings.to_env())
    rq = shutil.which("rq") or f"{sys.executable} -m rq.cli"
    return subprocess.Popen([*rq.split(), "worker", "-w", "bot.jobs.WarmWorker", "--url", settings.redis_url,
                             settings.queue_name], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _kill_with_its_horse(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and the work horse it forked (RQ puts the horse in a session of its own)."""
    horses = _children(worker.pid)
    assert horses, "the worker has no work horse: the job is not running"
    os.killpg(worker.pid, signal.SIGKILL)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    worker.wait(5)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)


def test_a_worker_killed_mid_job_leaves_the_job_to_another_answered_once(tmp_path):
    server = RedisServer(tmp_path).start()
    workers: list[subprocess.Popen] = []
    try:
        with running_bot(redis_url=server.url) as h:
            ann = h.person()
            room = h.direct(ann)
            # the first download hangs for 30 s: the job is surely in the middle when its worker dies
            h.sandbox.fail(r"^/v1/contents/", 0, method="GET", delay=30)
            workers.append(_worker(h.settings, tmp_path / "a.log"))
            msg = h.sandbox.say(ann, room, files=[("expe.log", LOG * 10)])
            progress = h.sandbox.wait_for(lambda: h.answers(room), 30)[0]
            assert progress["markdown"].startswith("Analyzing expe.log")
            time.sleep(0.5)  # the job is now waiting for the download
            _kill_with_its_horse(workers[0])
            killed_at = time.monotonic()
            workers.append(_worker(h.settings, tmp_path / "b.log"))
            answer = h.sandbox.wait_for(
                lambda: [a for a in h.answers(room) if a["markdown"].startswith("**Diagnosis of expe.log")], 40)[0]
            assert time.monotonic() - killed_at < 30  # finished by the other worker, not by the hung download
            h.sandbox.wait_for(lambda: any(a.get("attachments") for a in h.answers(room)), 10)
            time.sleep(1.5)  # time for a wrongly doubled answer to show itself
            answers = h.answers(room)
            assert answer["id"] == progress["id"] and answer["_edits"] >= 1  # the first run's line, edited
            texts = [a["markdown"] for a in answers if not a.get("attachments")]
            assert texts == [answer["markdown"]], texts  # one line in the thread, no second "Analyzing…"
            assert {a["parentId"] for a in answers} == {msg["id"]}
            assert "could not finish" not in answer["markdown"]
            assert "queued again" in (tmp_path / "b.log").read_text()
            for log in ("a.log", "b.log"):  # the workers' own logs carry neither the token nor the secret
                text = (tmp_path / log).read_text()
                assert h.settings.access_token not in text and h.settings.webhook_secret not in text
    finally:
        for w in workers:
            _stop(w)
        server.stop()


def test_while_redis_is_down_the_webhook_says_503_and_nothing_is_lost(tmp_path):
    server = RedisServer(tmp_path).start()
    worker = None
    try:
        with running_bot(redis_url=server.url) as h:
            ann = h.person()
            room = h.direct(ann)
            server.stop()
            started = time.monotonic()
            msg = h.sandbox.say(ann, room, "version")
            assert h.sandbox.deliveries[-1].status == 503 and time.monotonic() - started < 5
            assert requests.get(h.bot.url + "/healthz", timeout=5).status_code == 503
            server.start()  # same port, empty: nothing of the refused delivery was kept
            assert requests.get(h.bot.url + "/healthz", timeout=5).status_code == 200
            assert h.sandbox.redeliver(msg["id"]) == [200]  # Webex delivers the refused webhook again
            worker = _worker(h.settings, tmp_path / "w.log")
            (answer,) = h.wait_answers(room, timeout=30)
            assert answer["parentId"] == msg["id"] and "hybridcall-doctor" in answer["markdown"]
            assert h.sandbox.redeliver(msg["id"]) == [200]  # and once more: a duplicate now
            time.sleep(1.0)
            assert len(h.answers(room)) == 1
    finally:
        if worker is not None:
            _stop(worker)
        server.stop()


def test_limits_and_check_slots_are_shared_through_redis(tmp_path):
    """Two web processes (two apps) share one person's rate limit; two workers share the check slots."""
    from bot.app import create_app
    from bot.jobs import Context
    from bot.settings import Settings

    server = RedisServer(tmp_path).start()
    try:
        # no token: the apps must not try to reach the real Webex to learn their identity
        settings = Settings(webhook_secret="s", redis_url=server.url, rate_person=3, rate_room=100)
        web = [create_app(settings).extensions["hcdoctor"].jobs for _ in range(2)]
        verdicts = [web[n % 2].limiter.judge("ann", f"room{n}", now=1000.0)[0] for n in range(6)]
        assert verdicts == ["ok", "ok", "ok", "notice", "silent", "silent"]
        assert web[0].limiter.judge("ann", "room", now=1060.0)[0] == "ok"  # the next minute starts afresh

        first, second = Context(settings).check_slots, Context(settings).check_slots
        with first.hold("ann") as a, second.hold("ann") as b:
            with first.hold("ann") as c, second.hold("bob") as d:
                assert (a, b, c, d) == (True, True, False, True)
        with second.hold("ann") as again:
            assert again
        for jobs in web:
            jobs.close()
    finally:
        server.stop()
