"""Flood control: per-person and per-room rate limits, and a cap on live checks per person.

Anyone in a space can make the bot work, so one person (or one noisy space) must not
be able to keep every worker busy. Counts live where the de-duplication store lives:
in Redis with ``REDIS_URL`` (every web process and worker sees them), otherwise in
files shared by the host's web processes, otherwise in this process's memory.

Windows are fixed (``int(now // window)``): cheap to count atomically everywhere, and
"wait until the minute is over" is easy to tell a person.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

MAX_COUNTERS_IN_MEMORY = 100_000
SWEEP_EVERY = 500  # counter files made between sweeps of finished windows

LIMIT_NOTICE = ("You are sending me more than I can answer right now, so I will skip your messages "
                "for a minute. Ask again after that.")
ROOM_LIMIT_NOTICE = ("This space is sending me more than I can answer right now, so I will skip its "
                     "messages for a minute. Ask again after that.")
CHECKS_BUSY = "You already have {n} checks running; send this one again when one of them has answered."

Verdict = Literal["ok", "notice", "silent"]


class Counter(Protocol):
    def hit(self, key: str, ttl: int) -> int:
        """Count one more event for ``key``; the count so far, this one included."""


class MemoryCounter:
    def __init__(self, cap: int = MAX_COUNTERS_IN_MEMORY):
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self.cap = cap

    def hit(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, until = self._counts.get(key, (0, 0.0))
            if until <= now:
                count, until = 0, now + ttl
                if len(self._counts) >= self.cap:
                    for k in [k for k, (_, t) in self._counts.items() if t <= now] or list(self._counts)[: self.cap // 10]:
                        del self._counts[k]
            self._counts[key] = (count + 1, until)
            return count + 1


class FileCounter:
    """One file per key in a private directory; each event appends one byte, the size is the count.

    ``O_APPEND`` writes are atomic between processes, so the count after our write
    is at least our rank: two processes may both read the same total, never a lower one.
    """

    def __init__(self, directory: Path):
        self.dir = directory
        self._made = 0

    def hit(self, key: str, ttl: int) -> int:
        path = self.dir / ("rate-" + hashlib.sha256(key.encode()).hexdigest()[:40])
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"1")
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size == 1:
            self._made += 1
            if self._made % SWEEP_EVERY == 0:
                self._sweep(ttl)
        return size

    def _sweep(self, ttl: int) -> None:
        limit = time.time() - 2 * ttl
        for entry in os.scandir(self.dir):
            try:
                if entry.name.startswith("rate-") and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass


class RedisCounter:
    def __init__(self, connection, prefix: str = "hcdoctor:rate:"):
        self.redis = connection
        self.prefix = prefix

    def hit(self, key: str, ttl: int) -> int:
        with self.redis.pipeline() as pipe:
            pipe.incr(self.prefix + key)
            pipe.expire(self.prefix + key, ttl + 1)
            count, _ = pipe.execute()
        return int(count)


@dataclass(frozen=True)
class RateLimits:
    per_person: int
    per_room: int
    window: int  # seconds


class RateLimiter:
    """Judges each webhook: answer it, send the one notice of this window, or stay silent."""

    def __init__(self, counter: Counter, seen, limits: RateLimits):
        self.counter = counter
        self.seen = seen  # the de-duplication store: "first notice of this window?" is a first-time question
        self.limits = limits

    def judge(self, person: str, room: str, now: float | None = None) -> tuple[Verdict, str]:
        """The verdict, and which scope ("person"/"room") was over its limit."""
        window = self.limits.window
        index = int((time.time() if now is None else now) // window)
        over = ""
        for scope, ident, limit in (("person", person, self.limits.per_person), ("room", room, self.limits.per_room)):
            if ident and limit > 0 and self.counter.hit(f"{scope}:{ident}:{index}", window) > limit and not over:
                over = scope
        if not over:
            return "ok", ""
        ident = person if over == "person" else room
        if self.seen.first(f"limited:{over}:{ident}:{index}"):
            return "notice", over
        return "silent", over


# -- live checks running per person ------------------------------------------------------------------
class CheckSlots(Protocol):
    def hold(self, person: str) -> AbstractContextManager[bool]:
        """Context manager: True when a slot was free (and is held until exit), False when all are taken."""


class LocalCheckSlots:
    """Slots as lock files (``flock``): shared by the host's processes, freed by the kernel if one dies."""

    def __init__(self, directory: Path, per_person: int):
        self.dir = directory
        self.per_person = per_person

    @contextmanager
    def hold(self, person: str) -> Iterator[bool]:
        digest = hashlib.sha256(person.encode()).hexdigest()[:32]
        for n in range(self.per_person):
            fd = os.open(self.dir / f"check-{digest}-{n}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        yield False


class RedisCheckSlots:
    """Slots as Redis keys (``SET NX EX``); the expiry frees the slot of a worker that died."""

    def __init__(self, connection, per_person: int, ttl: int, prefix: str = "hcdoctor:checkslot:"):
        self.redis = connection
        self.per_person = per_person
        self.ttl = ttl
        self.prefix = prefix

    @contextmanager
    def hold(self, person: str) -> Iterator[bool]:
        token = os.urandom(8).hex().encode()
        for n in range(self.per_person):
            key = f"{self.prefix}{person}:{n}"
            if self.redis.set(key, token, nx=True, ex=self.ttl):
                try:
                    yield True
                finally:
                    if self.redis.get(key) == token:  # expired and re-taken meanwhile: not ours to free
                        self.redis.delete(key)
                return
        yield False
