"""The bot's Webex client: the one module that imports webexpythonsdk.

Every call here can sleep (rate limits, retries, Webex's malware scan), so it is
only ever used inside jobs, never in the webhook request thread. The SDK's own
rate-limit loop is switched off (it would retry forever); ``_call`` honours
``Retry-After`` on 429 and backs off on 5xx, a bounded number of times.
"""

from __future__ import annotations

import email.message
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from webexpythonsdk import WebexAPI
from webexpythonsdk.exceptions import ApiError, RateLimitError

from bot.replies import FileOut
from bot.settings import Settings
from kb.errors import HcdError, InputError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_AFTER = 60.0  # never park a worker longer than this on one 429
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
CHUNK = 1024 * 1024
MAX_NAME = 120
WEBHOOKS = (("messages", "created"), ("attachmentActions", "created"))
WEBHOOK_NAME = "hybridcall-doctor {resource}"


class DownloadRefused(InputError):
    """Webex will not hand over a file (infected, unscannable, too big); the message is for the user."""


class WebexUnavailable(HcdError):
    """Webex kept failing after every retry."""


@dataclass(frozen=True)
class ContentInfo:
    url: str
    name: str
    size: int | None
    content_type: str


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, min(MAX_RETRY_AFTER, float(value))) if value is not None else default
    except ValueError:
        return default


def safe_name(raw: str | None) -> str:
    """A file name from a Content-Disposition header that is safe to create in our temp dir."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:MAX_NAME] or "upload.bin"


def _disposition_name(header: str | None) -> str | None:
    if not header:
        return None
    msg = email.message.Message()
    msg["content-disposition"] = header
    return msg.get_filename()


class WebexClient:
    """The calls the bot makes, each returning plain dicts and each retried the same careful way."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep):
        if not settings.access_token:
            raise InputError("WEBEX_ACCESS_TOKEN is not set; the bot cannot talk to Webex without its token")
        self.settings = settings
        self.sleep = sleep
        self.api = WebexAPI(access_token=settings.access_token, base_url=settings.base_url,
                            single_request_timeout=settings.api_timeout, wait_on_rate_limit=False)
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {settings.access_token}"
        self._me: dict | None = None
        self._me_lock = threading.Lock()
        origin = urlsplit(settings.base_url)
        self._origin = (origin.scheme, origin.netloc)

    # -- retries ---------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True, **kwargs: Any) -> T:
        """Run one SDK call: 429 waits ``Retry-After``; 5xx and dropped connections back off and retry.

        A POST that failed with a plain 500 may already have created the message,
        so only gateway errors (502/503/504, where the request never reached the
        service) are retried for non-idempotent calls: answering twice is worse
        than reporting a failure.
        """
        attempts = max(1, self.settings.api_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except RateLimitError as exc:
                if attempt == attempts:
                    raise WebexUnavailable(f"Webex kept rate-limiting us ({exc.status_code})") from exc
                wait = min(float(exc.retry_after), MAX_RETRY_AFTER)
                log.warning("webex 429 on %s; waiting %.1f s (attempt %d)", getattr(fn, "__name__", fn), wait, attempt)
                self.sleep(wait)
            except ApiError as exc:
                retriable = exc.status_code >= 500 and (idempotent or exc.status_code in (502, 503, 504))
                if not retriable:
                    raise
                if attempt == attempts:
                    raise WebexUnavailable(f"Webex answered {exc.status_code} {attempts} times") from exc
                log.warning("webex %s on %s; retrying (attempt %d)", exc.status_code, getattr(fn, "__name__", fn), attempt)
                self.sleep(_backoff(attempt))
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not idempotent or attempt == attempts:
                    raise WebexUnavailable(f"cannot reach Webex: {type(exc).__name__}") from exc
                self.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # the loop always returns or raises

    def close(self) -> None:
        """Drop pooled connections (the cached identity stays); the next call opens new ones."""
        self._http.close()
        self.api._session._req_session.close()

    # -- reading ---------------------------------------------------------------------------------
    def me(self) -> dict:
        """The bot's own person record, fetched once per process (its id tells our own messages apart)."""
        with self._me_lock:
            if self._me is None:
                self._me = self._call(self.api.people.me).to_dict()
            return self._me

    def get_message(self, message_id: str) -> dict:
        return self._call(self.api.messages.get, message_id).to_dict()

    def get_action(self, action_id: str) -> dict:
        return self._call(self.api.attachment_actions.get, action_id).to_dict()

    def get_person(self, person_id: str) -> dict:
        return self._call(self.api.people.get, person_id).to_dict()

    # -- writing ---------------------------------------------------------------------------------
    def post(self, room_id: str, markdown: str, parent_id: str | None = None, card: dict | None = None,
             file: FileOut | None = None) -> dict:
        """Post one message in a thread; a file goes up as multipart from a private temp copy."""
        attachments = [card] if card else None
        if file is None:
            return self._call(self.api.messages.create, roomId=room_id, parentId=parent_id, markdown=markdown,
                              attachments=attachments, idempotent=False).to_dict()
        with tempfile.TemporaryDirectory(prefix="hcdoctor-out-") as tmp:
            path = Path(tmp) / safe_name(file.name)
            path.write_bytes(file.data)
            return self._call(self.api.messages.create, roomId=room_id, parentId=parent_id, markdown=markdown,
                              files=[str(path)], idempotent=False).to_dict()

    def edit(self, message_id: str, room_id: str, markdown: str) -> dict:
        return self._call(self.api.messages.update, messageId=message_id, roomId=room_id, markdown=markdown).to_dict()

    # -- attachments -----------------------------------------------------------------------------
    def _content(self, url: str, method: str) -> requests.Response:
        """GET or HEAD a ``contents`` URL, waiting out the malware scan (423) within a budget."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            # the token must never travel to a host that is not the Webex API
            raise DownloadRefused(f"a file link points outside {self.settings.base_url}; I did not open it")
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._http.request(method, url, stream=(method == "GET"), timeout=self.settings.api_timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.settings.api_attempts:
                    raise WebexUnavailable(f"cannot reach Webex for a file: {type(exc).__name__}") from exc
                self.sleep(_backoff(attempt))
                continue
            status = resp.status_code
            if status == 200:
                return resp
            resp.close()
            if status in (423, 429):
                wait = _retry_after(resp.headers.get("Retry-After"), 5.0)
                if waited + wait > self.settings.scan_wait_seconds:
                    raise DownloadRefused("Webex is still scanning the file for malware; send it again in a minute")
                log.info("content %s: %s, waiting %.1f s", status, url, wait)
                self.sleep(wait)
                waited += wait
                continue
            if status == 410:
                raise DownloadRefused("Webex's malware scan flagged the file as infected, so it cannot be downloaded")
            if status == 428:
                raise DownloadRefused("Webex could not scan the file for malware (an encrypted or password-protected "
                                      "archive?), so it cannot be downloaded; send it unencrypted")
            if status >= 500 and attempt < self.settings.api_attempts:
                self.sleep(_backoff(attempt))
                continue
            raise WebexUnavailable(f"Webex answered {status} for a file")

    def content_info(self, url: str) -> ContentInfo:
        """Name and size without the body (HEAD), for the "Analyzing …" line and the size cap."""
        resp = self._content(url, "HEAD")
        size = resp.headers.get("Content-Length")
        return ContentInfo(url, safe_name(_disposition_name(resp.headers.get("Content-Disposition"))),
                           int(size) if size and size.isdigit() else None,
                           resp.headers.get("Content-Type", "application/octet-stream"))

    def download(self, url: str, directory: Path, name: str | None = None) -> Path:
        """Stream one attachment into ``directory`` (private, 0700), refusing anything over the cap."""
        cap = self.settings.max_download_bytes
        resp = self._content(url, "GET")
        with resp:
            name = safe_name(name or _disposition_name(resp.headers.get("Content-Disposition")))
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise DownloadRefused(f"{name} is larger than {cap // (1024 * 1024)} MB, the most I can read")
            path = directory / name
            stem, n = path.stem, 1
            while path.exists():
                n += 1
                path = directory / f"{stem}-{n}{path.suffix}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            total = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in resp.iter_content(CHUNK):
                    total += len(chunk)
                    if total > cap:
                        raise DownloadRefused(f"{name} is larger than {cap // (1024 * 1024)} MB, the most I can read")
                    out.write(chunk)
        return path


def register_webhooks(settings: Settings, url: str) -> Iterator[str]:
    """Create or refresh the bot's two webhooks; idempotent, re-activates inactive ones, removes duplicates.

    Yields one human line per action for ``hcdoctor webhooks register``; a refusal
    from Webex (bad token, bad URL) becomes one ``HcdError`` line, not a traceback.
    """
    try:
        yield from _register(settings, url)
    except ApiError as exc:
        raise WebexUnavailable(f"Webex refused the webhook registration: {exc}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise WebexUnavailable(f"cannot reach Webex at {settings.base_url}: {type(exc).__name__}") from None


def _register(settings: Settings, url: str) -> Iterator[str]:
    if not settings.webhook_secret:
        raise InputError("WEBEX_WEBHOOK_SECRET is not set; unsigned webhooks would be refused by the bot")
    if not urlsplit(url).scheme.startswith("http"):
        raise InputError(f"--url must be an http(s) URL of POST /webhook, not {url!r}")
    client = WebexClient(settings)
    existing = [w.to_dict() for w in client._call(lambda: list(client.api.webhooks.list()))]
    for resource, event in WEBHOOKS:
        name = WEBHOOK_NAME.format(resource=resource)
        mine = [w for w in existing if w.get("resource") == resource and w.get("event") == event
                and (w.get("name") == name or w.get("targetUrl") == url)]
        if not mine:
            made = client._call(client.api.webhooks.create, name=name, targetUrl=url, resource=resource,
                                event=event, secret=settings.webhook_secret, idempotent=False).to_dict()
            yield f"created {resource}/{event} webhook {made.get('id')} -> {url}"
            continue
        keep, extra = mine[0], mine[1:]
        was = keep.get("status", "active")
        client._call(client.api.webhooks.update, keep["id"], name=name, targetUrl=url,
                     secret=settings.webhook_secret, status="active")
        note = " (was inactive, re-activated)" if was != "active" else ""
        yield f"updated {resource}/{event} webhook {keep['id']} -> {url}{note}"
        for w in extra:
            client._call(client.api.webhooks.delete, w["id"])
            yield f"deleted duplicate {resource}/{event} webhook {w['id']} -> {w.get('targetUrl')}"
