"""Background work: every Webex API call, download and analysis runs here, never in the webhook thread.

Two runners behind one ``submit(task)``: in-process worker threads by default, and
RQ (queue ``hcdoctor``, consumed by ``rq worker`` processes from the Procfile)
when ``REDIS_URL`` is set. Tasks are small frozen records of ids, so either runner
can carry them. De-duplication lives here too: Webex delivers webhooks at least
once, and with several web processes only Redis (``SET NX EX``) sees them all.

A job that fails is logged with its id (traceback in the server log only) and the
person gets one line naming that id; it is never dropped silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from rq import Worker

import checks
import kb
from bot import replies
from bot.access import REFUSAL, AllowList
from bot.commands import Command, parse, strip_mention
from bot.limits import (CHECKS_BUSY, LIMIT_NOTICE, ROOM_LIMIT_NOTICE, CheckSlots, FileCounter, LocalCheckSlots,
                        MemoryCounter, RateLimiter, RateLimits, RedisCheckSlots, RedisCounter)
from bot.replies import Reply
from bot.settings import EDIT_LIMIT, Settings
from bot.version import version_text
from kb.errors import HcdError, InputError

log = logging.getLogger(__name__)

MAX_SEEN_IN_MEMORY = 200_000  # ids remembered by one process before the oldest are forgotten
JOB_TIMEOUT = 15 * 60  # an analysis of a 100 MB capture must not be killed half-way
# A running RQ job renews its lease this often; a job whose lease lapsed has lost its worker (killed, OOM, host
# gone) and is put back on the queue by the reaper every WarmWorker runs. RQ's own clean-up would wait minutes.
LEASE_SECONDS = 5
LEASE_RENEW = 1.0
REAP_EVERY = 1.0
JOURNAL_TTL = 24 * 3600
SEARCH_LIMIT = 3  # the best article and two runners-up


@dataclass(frozen=True)
class Task:
    """One unit of work, made from a verified webhook: ids only, never message text or tokens."""

    kind: Literal["message", "action", "refuse", "limited"]
    id: str  # the message id, or the attachment-action id
    room_id: str
    person_id: str = ""
    person_email: str = ""
    job_id: str = ""
    about: str = ""  # for "limited": "person" or "room", the scope that was over its limit

    @classmethod
    def new(cls, kind, id, room_id, person_id="", person_email="", about="") -> "Task":
        return cls(kind, id, room_id, person_id, person_email, f"{kind[:3]}-{uuid.uuid4().hex[:12]}", about)


class JobFailed(HcdError):
    """Raised after a failure was logged and reported, so RQ records the job as failed."""


# -- de-duplication ----------------------------------------------------------------------------------
class Seen(Protocol):
    def first(self, key: str) -> bool:
        """True the first time ``key`` is offered within the TTL, False afterwards."""


class MemorySeen:
    """A TTL set for one process: enough for a single web process without Redis."""

    def __init__(self, ttl: float, cap: int = MAX_SEEN_IN_MEMORY):
        self.ttl = ttl
        self.cap = cap
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            until = self._until.get(key)
            if until is not None and until > now:
                return False
            if len(self._until) >= self.cap:
                self._prune(now)
            self._until[key] = now + self.ttl
            return True

    def _prune(self, now: float) -> None:
        for k in [k for k, t in self._until.items() if t <= now]:
            del self._until[k]
        while len(self._until) >= self.cap:  # still full of live ids: forget the oldest
            del self._until[next(iter(self._until))]


class FileSeen:
    """A TTL set shared by every process of one bot on one host: one marker file per id.

    gunicorn runs several web processes; Webex may redeliver a webhook to any of
    them, so without Redis the processes need a common memory. ``O_CREAT|O_EXCL``
    is atomic across processes, which is all a "first time?" question needs.
    """

    CLEAN_EVERY = 1000  # markers created between sweeps of expired ones

    def __init__(self, directory: Path, ttl: float):
        self.dir = directory
        self.ttl = ttl
        self._made = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> "FileSeen | None":
        """The host-wide directory of this bot (same token, secret and API), or None if it is not safely ours."""
        if settings.dedupe_dir:
            directory = Path(settings.dedupe_dir)
        else:
            key = hashlib.sha256(f"{settings.access_token}|{settings.webhook_secret}|{settings.base_url}".encode())
            directory = Path(tempfile.gettempdir()) / f"hcdoctor-seen-{os.getuid()}-{key.hexdigest()[:16]}"
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            st = directory.lstat()
        except OSError:
            return None
        # a directory someone else made (or a symlink) in a shared /tmp must not be trusted
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            log.warning("not using %s for de-duplication: not a private directory of ours", directory)
            return None
        return cls(directory, settings.dedupe_ttl)

    def first(self, key: str) -> bool:
        path = self.dir / hashlib.sha256(key.encode()).hexdigest()[:40]
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime < self.ttl:
                    return False
                os.utime(path)  # expired: this is a new first time
            except FileNotFoundError:  # swept meanwhile
                return self.first(key)
            return True
        self._made += 1
        if self._made % self.CLEAN_EVERY == 0:
            self._sweep()
        return True

    def _sweep(self) -> None:
        limit = time.time() - self.ttl
        for entry in os.scandir(self.dir):
            try:
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass


class RedisSeen:
    def __init__(self, connection, ttl: int, prefix: str = "hcdoctor:seen:"):
        self.redis = connection
        self.ttl = ttl
        self.prefix = prefix

    def first(self, key: str) -> bool:
        return bool(self.redis.set(self.prefix + key, b"1", nx=True, ex=self.ttl))


# -- the work itself -------------------------------------------------------------------------------
class Context:
    """What a job needs: settings, the allow-list and one Webex client (made on first use)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.allow = AllowList.parse(settings.allowed)
        self._client = None
        self._slots: CheckSlots | None = None
        self._lock = threading.Lock()
        self.journal: Journal | None = None  # set for RQ workers, whose jobs may run a second time

    @property
    def check_slots(self) -> CheckSlots:
        """Where the "at most N checks at once per person" slots live (Redis, else lock files on this host)."""
        with self._lock:
            if self._slots is None:
                s = self.settings
                if s.redis_url:
                    import redis

                    self._slots = RedisCheckSlots(redis.Redis.from_url(s.redis_url), s.checks_per_person,
                                                  int(s.check_timeout) + 60)
                else:
                    seen = FileSeen.for_settings(s)
                    directory = seen.dir if seen else Path(tempfile.mkdtemp(prefix="hcdoctor-slots-"))
                    self._slots = LocalCheckSlots(directory, s.checks_per_person)
            return self._slots

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                from bot.webex import WebexClient

                self._client = WebexClient(self.settings)
            return self._client


class Conversation:
    """One job's exchange in one thread of one room."""

    def __init__(self, ctx: Context, task: Task):
        self.ctx = ctx
        self.task = task
        self.client = ctx.client
        self.room = task.room_id
        self.root = task.id if task.kind != "action" else ""
        self.private_dirs: list[str] = []  # temp folders whose paths must not reach the space
        self.progress: dict | None = None  # the "Analyzing …" line, which a failure replaces too

    # posting ------------------------------------------------------------------------------------
    def say(self, reply: Reply, progress: dict | None = None) -> None:
        """Post ``reply`` in the thread; the text replaces ``progress`` when there is one to edit."""
        from webexpythonsdk.exceptions import ApiError

        reply = replies.scrubbed(reply, self.private_dirs)
        done = False
        if progress is not None and progress.get("edits", 0) < EDIT_LIMIT:
            try:
                self.client.edit(progress["id"], self.room, reply.markdown)
                progress["edits"] = progress.get("edits", 0) + 1
                done = True
            except ApiError as exc:  # edit refused (limit, deleted): a new message still answers
                log.warning("job %s: edit of %s refused (%s); posting instead", self.task.job_id, progress["id"], exc)
        if not done:
            self.client.post(self.room, reply.markdown, parent_id=self.root or None)
        if reply.card:
            self.client.post(self.room, replies.card_fallback(reply.card), parent_id=self.root or None, card=reply.card)
        for f in reply.files:
            self.client.post(self.room, f"📎 {f.name}", parent_id=self.root or None, file=f)

    def start(self, line: str) -> dict:
        """Post a progress line at once; it is plain Markdown so it can be edited into the answer.

        A job run again after its worker died finds the line it posted the first
        time in the journal and edits that one, so the thread shows a single line.
        """
        journal = self.ctx.journal
        earlier = journal.progress(self.task) if journal else None
        if earlier:
            self.progress = {"id": earlier, "edits": 0}
            return self.progress
        msg = self.client.post(self.room, line, parent_id=self.root or None)
        if journal:
            journal.set_progress(self.task, msg["id"])
        self.progress = {"id": msg["id"], "edits": 0}
        return self.progress

    # entry points -------------------------------------------------------------------------------
    def run(self) -> None:
        if self.task.kind == "action" or (self.task.kind == "limited" and self.task.id.startswith("action:")):
            self.on_action()
        else:
            self.on_message()

    def _thread_root(self, msg: dict) -> str:
        # Webex threads are one level deep: a reply to a reply goes to the thread's root
        return msg.get("parentId") or msg["id"]

    def on_message(self) -> None:
        msg = self.client.get_message(self.task.id)
        me = self.client.me()
        if msg.get("personId") == me.get("id"):
            return  # our own message, delivered back to us
        self.root = self._thread_root(msg)
        if self.task.kind == "refuse":
            self.say(Reply(REFUSAL))
            return
        if self.task.kind == "limited":
            self.say(Reply(ROOM_LIMIT_NOTICE if self.task.about == "room" else LIMIT_NOTICE))
            return
        names = [n for n in (me.get("displayName"), me.get("nickName"), me.get("firstName")) if n]
        text = strip_mention(msg.get("text") or "", names, msg.get("html"), me.get("id"))
        self.dispatch(parse(text, has_files=bool(msg.get("files"))), msg)

    def on_action(self) -> None:
        action = self.client.get_action(self.task.id.removeprefix("action:"))
        card_msg = self.client.get_message(action["messageId"])
        self.root = self._thread_root(card_msg)
        if self.task.kind == "limited":
            self.say(Reply(ROOM_LIMIT_NOTICE if self.task.about == "room" else LIMIT_NOTICE))
            return
        if not self.ctx.allow.everyone:
            person = self.client.get_person(action.get("personId", ""))
            if not any(self.ctx.allow.allows(e) for e in person.get("emails") or ()):
                self.say(Reply(REFUSAL))
                return
        inputs = action.get("inputs") or {}
        what = inputs.get("hcd")
        if what == "fix":
            self.dispatch(Command("fix", str(inputs.get("issue", ""))), card_msg)
        elif what == "check":
            target = " ".join(str(inputs.get("target") or "").split())
            if not target:
                self.say(Reply("Type the SIP destination to check in the card's box first, or send `check <destination>`."))
            else:
                self.dispatch(Command("check", target), card_msg)
        else:
            self.say(Reply("I did not understand that button; `help` lists what I can do."))

    def dispatch(self, cmd: Command, msg: dict) -> None:
        public = self.ctx.settings.public_url
        if cmd.name == "help":
            self.say(replies.help_reply())
        elif cmd.name == "version":
            self.say(Reply(f"`{version_text()}`"))
        elif cmd.name == "search":
            try:
                hits = kb.search(cmd.argument, SEARCH_LIMIT)
            except InputError as exc:  # a query the index cannot use (only punctuation, say)
                self.say(Reply(f"I cannot search for that: {exc}"))
                return
            self.say(replies.search_reply(cmd.argument, hits, public))
        elif cmd.name in ("show", "fix"):
            try:
                art = kb.get(cmd.argument)
            except kb.UnknownArticle as exc:
                self.say(Reply(str(exc)))
                return
            self.say(replies.article_reply(art, public) if cmd.name == "show" else replies.fix_reply(art, public))
        elif cmd.name == "check":
            self.check(cmd.argument)
        elif cmd.name == "analyze":
            files = list(msg.get("files") or ())
            if not files:
                self.say(Reply("Attach the log, capture or bundle to the same message and I will analyze it."))
            else:
                self.analyze(files)

    def check(self, target: str) -> None:
        """One live check, at most ``checks_per_person`` at once per person (a bot is not a scanner)."""
        person = self.task.person_id or self.task.person_email or self.room
        with self.ctx.check_slots.hold(person) as free:
            if not free:
                self.say(Reply(CHECKS_BUSY.format(n=self.ctx.settings.checks_per_person)))
                return
            progress = self.start(replies.checking(target))
            try:
                report = checks.check(target, timeout=self.ctx.settings.check_timeout,
                                      allow_private=self.ctx.settings.check_private)
            except HcdError as exc:  # refused target, unusable syntax, resolver down
                self.say(Reply(f"I cannot check {replies.code(target)}: {exc}"), progress)
                return
            self.say(replies.check_reply(report, self.ctx.settings.public_url), progress)

    def analyze(self, urls: list[str]) -> None:
        infos = []
        for url in urls:
            try:
                infos.append(self.client.content_info(url))
            except InputError as exc:
                self.say(Reply(f"I could not fetch an attachment: {exc}."))
                return
        progress = self.start(replies.progress([(i.name, i.size) for i in infos]))
        workdir = Path(tempfile.mkdtemp(prefix="hcdoctor-in-"))  # mkdtemp makes it 0700
        self.private_dirs.append(str(workdir))
        try:
            paths = []
            for info in infos:
                try:
                    paths.append(str(self.client.download(info.url, workdir, info.name)))
                except InputError as exc:
                    self.say(Reply(f"I could not download {replies.code(info.name)}: {exc}."), progress)
                    return
            try:
                report = checks.analyze(paths)
            except InputError as exc:
                names = ", ".join(i.name for i in infos)
                self.say(Reply(f"I could not read {replies.code(names)}: {exc}"), progress)
                return
            self.say(replies.report_reply(report, self.ctx.settings.public_url), progress)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class Journal:
    """What a job has already posted, in Redis, so a job run again after its worker died answers only once."""

    def __init__(self, connection, prefix: str = "hcdoctor:journal:"):
        self.redis = connection
        self.prefix = prefix

    def progress(self, task: Task) -> str | None:
        value = self.redis.hget(self.prefix + task.job_id, "progress")
        return value.decode() if value else None

    def set_progress(self, task: Task, message_id: str) -> None:
        self.redis.hset(self.prefix + task.job_id, "progress", message_id)
        self.redis.expire(self.prefix + task.job_id, JOURNAL_TTL)

    def outcome(self, task: Task) -> str | None:
        value = self.redis.hget(self.prefix + task.job_id, "outcome")
        return value.decode() if value else None

    def finish(self, task: Task, outcome: str) -> None:
        self.redis.hset(self.prefix + task.job_id, "outcome", outcome)
        self.redis.expire(self.prefix + task.job_id, JOURNAL_TTL)


def execute(ctx: Context, task: Task) -> None:
    """Run one task; on failure log it with its id, tell the person in one line, raise ``JobFailed``."""
    journal = ctx.journal
    done = journal.outcome(task) if journal else None
    if done == "answered":
        log.info("job %s was answered by an earlier run; nothing to do", task.job_id)
        return
    if done == "failed":
        raise JobFailed(f"job {task.job_id} failed in an earlier run")
    convo = None
    try:
        convo = Conversation(ctx, task)
        convo.run()
        if journal:
            journal.finish(task, "answered")
    except Exception as exc:
        log.exception("job %s (%s %s) failed", task.job_id, task.kind, task.id)
        try:
            line = f"Sorry, I could not finish that (job `{task.job_id}`); the details are in the bot's log."
            if convo is not None and convo.progress is not None:
                convo.say(Reply(line), convo.progress)  # the "Analyzing …" line becomes the failure line
            else:
                parent = (convo.root if convo else "") or (task.id if task.kind != "action" else None)
                ctx.client.post(task.room_id, line, parent_id=parent)
            if journal:
                journal.finish(task, "failed")
        except Exception:
            log.exception("job %s: could not report the failure either", task.job_id)
        raise JobFailed(f"job {task.job_id} failed: {type(exc).__name__}") from exc


# -- runners -----------------------------------------------------------------------------------------
class ThreadJobs:
    """In-process workers: a fixed pool of threads per web process.

    De-duplication uses marker files shared by the host's web processes, falling
    back to this process's memory when no private directory can be had.
    """

    mode = "threads"
    # errors meaning "the queue is down, answer 503": none for threads of this very process
    unavailable: tuple[type[BaseException], ...] = ()

    def __init__(self, settings: Settings):
        self.ctx = Context(settings)
        self._seen: Seen | None = None
        self._limiter: RateLimiter | None = None
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="hcdoctor-job")
        self._count_lock = threading.Lock()
        self.in_flight = 0  # queued or running; shown by /healthz, waited on by tests and shutdown

    @property
    def seen(self) -> Seen:
        """Made on the first webhook, so an app that never receives one leaves nothing in the temp dir."""
        with self._count_lock:
            if self._seen is None:
                self._seen = FileSeen.for_settings(self.ctx.settings) or MemorySeen(self.ctx.settings.dedupe_ttl)
            return self._seen

    @property
    def limiter(self) -> RateLimiter:
        seen = self.seen
        with self._count_lock:
            if self._limiter is None:
                counter = FileCounter(seen.dir) if isinstance(seen, FileSeen) else MemoryCounter()
                self._limiter = RateLimiter(counter, seen, _limits(self.ctx.settings))
            return self._limiter

    def submit_once(self, key: str, task: Task) -> bool:
        """Submit ``task`` unless ``key`` was seen before; False for a duplicate."""
        if not self.seen.first(key):
            return False
        self.submit(task)
        return True

    def submit(self, task: Task) -> None:
        with self._count_lock:
            self.in_flight += 1
        self.pool.submit(self._run, task)

    def _run(self, task: Task) -> None:
        try:
            execute(self.ctx, task)
        except JobFailed:
            pass  # already logged with its id and reported to the person
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def warm(self, on_identity: Callable[[str], None] | None = None) -> None:
        """Load the articles, open the index and learn the bot's id before the first question arrives."""
        self.pool.submit(_warm, self.ctx, on_identity)

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class RQJobs:
    """RQ on ``REDIS_URL``: the web process only enqueues; ``rq worker`` processes run the tasks."""

    mode = "rq"

    def __init__(self, settings: Settings):
        import redis
        from rq import Queue

        self.settings = settings
        # short socket timeouts: a Redis that hangs must turn into a quick 503, not a Webex timeout
        self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
        self.unavailable = (redis.RedisError,)
        self.seen = RedisSeen(self.redis, settings.dedupe_ttl)
        self.limiter = RateLimiter(RedisCounter(self.redis), self.seen, _limits(settings))
        self.queue = Queue(settings.queue_name, connection=self.redis)

    def _enqueue(self, task: Task, pipeline=None) -> None:
        self.queue.enqueue("bot.jobs.run_task", task, job_id=task.job_id, job_timeout=JOB_TIMEOUT,
                           result_ttl=600, failure_ttl=7 * 24 * 3600, description=f"{task.kind} {task.id}",
                           pipeline=pipeline)

    def submit(self, task: Task) -> None:
        self._enqueue(task)

    def submit_once(self, key: str, task: Task) -> bool:
        """Mark ``key`` seen and enqueue ``task`` in one Redis transaction: both happen or neither.

        Otherwise a Redis that fails between the two would leave the delivery marked
        as seen but never queued, and Webex's redelivery would be dropped as a duplicate.
        """
        import redis

        full = self.seen.prefix + key
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(full)
                if pipe.exists(full):
                    return False
                pipe.multi()
                pipe.set(full, b"1", ex=self.settings.dedupe_ttl)
                self._enqueue(task, pipeline=pipe)
                pipe.execute()
            except redis.WatchError:  # another web process took it between WATCH and EXEC
                return False
        return True

    def warm(self, on_identity: Callable[[str], None] | None = None) -> None:
        """Only learn the bot's id here (off the request path); the workers warm themselves."""
        threading.Thread(target=_learn_identity, args=(Context(self.settings), on_identity),
                         name="hcdoctor-identity", daemon=True).start()

    def healthy(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False

    def close(self) -> None:
        self.redis.close()


def _learn_identity(ctx: Context, on_identity: Callable[[str], None] | None) -> None:
    try:
        me = ctx.client.me()
    except Exception:  # an optimisation only: every job checks the id itself
        log.warning("could not learn the bot's id yet; jobs will check it", exc_info=True)
        return
    if on_identity is not None:
        on_identity(me.get("id", ""))


def _warm(ctx: Context, on_identity: Callable[[str], None] | None = None) -> None:
    try:
        kb.articles()  # parsing every article's YAML costs about a second, once per process
        kb.search("tls handshake", 1)
    except Exception:  # warming is an optimisation; the real job reports real failures
        log.warning("warm-up failed", exc_info=True)
    _learn_identity(ctx, on_identity)


def _limits(settings: Settings) -> RateLimits:
    return RateLimits(settings.rate_person, settings.rate_room, settings.rate_window)


def runner(settings: Settings) -> ThreadJobs | RQJobs:
    return RQJobs(settings) if settings.redis_url else ThreadJobs(settings)


_worker_ctx: Context | None = None


def _context_from_env() -> Context:
    global _worker_ctx
    if _worker_ctx is None:
        _worker_ctx = Context(Settings.from_env())
    return _worker_ctx


def _lease_key(job_id: str) -> str:
    return f"hcdoctor:lease:{job_id}"


def run_task(task: Task) -> None:
    """Entry point of an ``rq worker`` job: settings come from the worker's own environment.

    While it runs, the job renews a short lease in Redis; if its process is killed
    the lease lapses within ``LEASE_SECONDS`` and ``reap_abandoned`` queues it again.
    """
    import redis
    from rq import get_current_job

    ctx = _context_from_env()
    job = get_current_job()
    connection = redis.Redis.from_url(ctx.settings.redis_url) if ctx.settings.redis_url else None
    if connection is None or job is None:
        execute(ctx, task)
        return
    ctx.journal = Journal(connection)
    stop = threading.Event()

    def renew() -> None:
        while True:
            try:
                connection.set(_lease_key(job.id), b"1", ex=LEASE_SECONDS)
            except redis.RedisError:
                log.warning("job %s: could not renew its lease", job.id)
            if stop.wait(LEASE_RENEW):
                return

    renew_thread = threading.Thread(target=renew, name="hcdoctor-lease", daemon=True)
    renew_thread.start()
    try:
        execute(ctx, task)
    finally:
        stop.set()
        renew_thread.join(2)
        try:
            connection.delete(_lease_key(job.id))
        except redis.RedisError:
            pass
        connection.close()


def reap_abandoned(connection, queue_name: str, now: float | None = None) -> list[str]:
    """Put back on the queue every started job whose lease lapsed (its worker died); their ids.

    A job that has not renewed its lease for ``LEASE_SECONDS`` is not running
    anywhere. Only one reaper takes each job (``SET NX``), and the job's journal
    makes its second run edit what the first one posted instead of answering again.
    """
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(queue_name, connection=connection)
    queue = Queue(queue_name, connection=connection)
    moment = time.time() if now is None else now
    reaped: list[str] = []
    for job_id in dict.fromkeys(registry.get_job_ids(cleanup=False)):
        if connection.exists(_lease_key(job_id)):
            continue
        try:
            job = Job.fetch(job_id, connection=connection)
        except Exception:  # deleted meanwhile
            continue
        started = job.started_at.timestamp() if job.started_at else 0.0
        if job.get_status() != JobStatus.STARTED or moment - started < LEASE_SECONDS:
            continue  # finished meanwhile, or too young to have taken its first lease
        if not connection.set(f"hcdoctor:reaping:{job_id}", b"1", nx=True, ex=LEASE_SECONDS):
            continue  # another reaper has it
        # queued first: if we die between the two, the stale entry is skipped (status no longer STARTED)
        queue.enqueue_job(job)
        registry.remove_executions(job)
        log.warning("job %s lost its worker (no lease for %d s); queued again", job_id, LEASE_SECONDS)
        reaped.append(job_id)
    return reaped


class WarmWorker(Worker):
    """``rq worker -w bot.jobs.WarmWorker``: an RQ worker whose forked jobs start warm.

    A plain ``rq worker`` forks a fresh work horse per job from a parent that has
    imported nothing of ours, so every job pays for importing the SDK, parsing the
    articles and opening the index (about a second). This parent does that once, and
    learns the bot's id; its HTTP connections are closed before any fork so no two
    jobs ever share a socket.
    """

    def work(self, *args, **kwargs):
        ctx = _context_from_env()
        _warm(ctx)
        ctx.client.close()
        threading.Thread(target=self._reap_forever, name="hcdoctor-reaper", daemon=True).start()
        return super().work(*args, **kwargs)

    def _reap_forever(self) -> None:
        """Requeue jobs whose worker died, for every queue this worker serves (its own connection)."""
        import redis

        connection = redis.Redis.from_url(_context_from_env().settings.redis_url)
        while True:
            for queue in self.queues:
                try:
                    reap_abandoned(connection, queue.name)
                except Exception:
                    log.warning("reaper: could not look at queue %s", queue.name, exc_info=True)
            time.sleep(REAP_EVERY)
