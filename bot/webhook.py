"""``POST /webhook`` and ``GET /healthz``: verify, de-duplicate, enqueue, acknowledge.

Nothing here talks to Webex or reads a file: the handler's whole budget is an
HMAC, a JSON parse, one de-duplication lookup and one enqueue, so Webex gets its
answer in milliseconds and never times out into redelivering.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from bot.jobs import Task
from bot.signature import HEADER, verify

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)


def _state():
    return current_app.extensions["hcdoctor"]


def _answer(status: str, code: int = 200):
    return jsonify(status=status), code


@bp.post("/webhook")
def receive():
    state = _state()
    body = request.get_data(cache=False)  # the raw bytes: the signature covers exactly these
    if not verify(state.settings.webhook_secret, body, request.headers.get(HEADER)):
        log.warning("webhook refused: missing or wrong %s from %s", HEADER, request.remote_addr)
        return _answer("forbidden", 403)
    if request.mimetype != "application/json":
        return _answer("unsupported media type", 415)
    try:
        envelope = json.loads(body)
        data = envelope["data"]
        resource, event, item_id = envelope["resource"], envelope["event"], data["id"]
        room_id = data.get("roomId", "")
        if not all(isinstance(v, str) for v in (resource, event, item_id, room_id)) or not item_id:
            raise TypeError("ids must be strings")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return _answer("malformed", 400)
    if event != "created" or resource not in ("messages", "attachmentActions"):
        return _answer("ignored")
    if _stale(data.get("created"), state.settings.dedupe_ttl):
        # older than anything the de-duplication store remembers: a replay, not a delivery
        return _answer("stale")
    try:
        return _accept(state, resource, data, item_id, room_id)
    except state.jobs.unavailable:
        log.warning("webhook %s %s not accepted: the queue is unavailable; Webex will deliver it again",
                    resource, item_id, exc_info=True)
        resp = jsonify(status="queue unavailable")
        resp.headers["Retry-After"] = "30"
        return resp, 503


def _accept(state, resource: str, data: dict, item_id: str, room_id: str):
    person_id = str(data.get("personId") or "")
    if resource == "messages":
        if state.bot_id and person_id == state.bot_id:
            return _answer("own message")
        email = str(data.get("personEmail") or "")
        if not state.allow.allows(email):
            if not state.jobs.seen.first(f"m:{item_id}"):
                return _answer("duplicate")
            # one refusal per person per de-duplication period, then silence
            if state.jobs.seen.first(f"refused:{email.lower() or person_id}"):
                state.jobs.submit(Task.new("refuse", item_id, room_id, person_id, email))
            return _answer("not allowed")
        key, task = f"m:{item_id}", Task.new("message", item_id, room_id, person_id, email)
        limited_id = item_id
    else:
        key, task = f"a:{item_id}", Task.new("action", item_id, room_id, person_id)
        limited_id = "action:" + item_id
    verdict, scope = state.jobs.limiter.judge(person_id, room_id)
    if verdict != "ok":
        if not state.jobs.seen.first(key):
            return _answer("duplicate")
        if verdict == "notice":  # the one friendly notice of this window; silence after it
            state.jobs.submit(Task.new("limited", limited_id, room_id, person_id, about=scope))
        log.info("webhook %s %s: %s over its rate limit", resource, item_id, scope)
        return _answer("rate limited")
    if not state.jobs.submit_once(key, task):
        return _answer("duplicate")
    return _answer("queued")


def _stale(created, max_age: float) -> bool:
    """True when the event's own ``created`` time is older than ``max_age`` seconds (unparsable: not stale)."""
    if not isinstance(created, str):
        return False
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - when).total_seconds() > max_age


@bp.get("/healthz")
def healthz():
    state = _state()
    ok = state.jobs.healthy()
    info = {"status": "ok" if ok else "queue unavailable", "jobs": state.jobs.mode}
    if hasattr(state.jobs, "in_flight"):
        info["in_flight"] = state.jobs.in_flight
    return jsonify(info), (200 if ok else 503)
