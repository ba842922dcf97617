"""The bot's configuration, read once from the environment into one frozen object.

This is the only module that reads ``os.environ``: everything else receives a
``Settings``, so tests build one directly (or pass overrides to ``create_app``)
instead of patching the process environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BASE_URL = "https://webexapis.com/v1/"

# Webex's own limits; see shared/reference/webex-platform.md (B2, B3).
MESSAGE_LIMIT_BYTES = 7439
ATTACHMENT_LIMIT_BYTES = 100 * 1024 * 1024
EDIT_LIMIT = 10


@dataclass(frozen=True)
class Settings:
    access_token: str = ""
    webhook_secret: str = ""
    base_url: str = DEFAULT_BASE_URL
    allowed: str = ""  # comma list of e-mail addresses and @domains; empty = everyone
    redis_url: str = ""
    check_private: bool = False
    public_url: str = ""  # where /kb/<id> pages are served, for links in answers; optional
    # operational knobs (not part of the contract; sensible defaults)
    workers: int = 8  # in-process job threads per web process
    max_webhook_bytes: int = 64 * 1024  # a real webhook envelope is well under 2 kB
    dedupe_ttl: int = 24 * 3600  # Webex redelivers for a while; a day is plenty
    dedupe_dir: str = ""  # without Redis: marker files shared by the host's web processes; "" = a private temp dir
    max_download_bytes: int = ATTACHMENT_LIMIT_BYTES
    scan_wait_seconds: float = 120.0  # longest total wait for Webex's malware scan (423)
    api_attempts: int = 5  # tries per Webex API call on 429/5xx
    api_timeout: int = 30  # seconds per Webex HTTP request
    check_timeout: float = 15.0
    # flood control (bot/limits.py): messages per person and per room in each window, checks at once per person
    rate_person: int = 12
    rate_room: int = 40
    rate_window: int = 60
    checks_per_person: int = 2
    queue_name: str = "hcdoctor"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        base = env.get("WEBEX_BASE_URL", "").strip() or DEFAULT_BASE_URL
        return cls(
            access_token=env.get("WEBEX_ACCESS_TOKEN", "").strip(),
            webhook_secret=env.get("WEBEX_WEBHOOK_SECRET", ""),
            base_url=base if base.endswith("/") else base + "/",
            allowed=env.get("HCDOCTOR_ALLOWED", "").strip(),
            redis_url=env.get("REDIS_URL", "").strip(),
            check_private=env.get("HCDOCTOR_CHECK_PRIVATE", "").strip().lower() in ("1", "true", "yes", "on"),
            public_url=env.get("HCDOCTOR_PUBLIC_URL", "").strip().rstrip("/"),
            dedupe_dir=env.get("HCDOCTOR_DEDUPE_DIR", "").strip(),
            rate_person=_count(env, "HCDOCTOR_RATE_PERSON", cls.rate_person),
            rate_room=_count(env, "HCDOCTOR_RATE_ROOM", cls.rate_room),
        )

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some fields changed; unknown names raise ``TypeError`` (typos do not pass silently)."""
        if "base_url" in changes and changes["base_url"] and not str(changes["base_url"]).endswith("/"):
            changes["base_url"] = str(changes["base_url"]) + "/"
        if "public_url" in changes:
            changes["public_url"] = str(changes["public_url"] or "").rstrip("/")
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The environment a worker process (``rq worker``) needs to rebuild these settings."""
        env = {
            "WEBEX_ACCESS_TOKEN": self.access_token,
            "WEBEX_WEBHOOK_SECRET": self.webhook_secret,
            "WEBEX_BASE_URL": self.base_url,
            "HCDOCTOR_ALLOWED": self.allowed,
            "REDIS_URL": self.redis_url,
            "HCDOCTOR_CHECK_PRIVATE": "1" if self.check_private else "",
            "HCDOCTOR_PUBLIC_URL": self.public_url,
            "HCDOCTOR_DEDUPE_DIR": self.dedupe_dir,
            "HCDOCTOR_RATE_PERSON": str(self.rate_person),
            "HCDOCTOR_RATE_ROOM": str(self.rate_room),
        }
        return {k: v for k, v in env.items() if v}


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number from the environment (0 switches the limit off); unset or unreadable gives ``default``."""
    text = env.get(name, "").strip()
    return int(text) if text.isdigit() else default
