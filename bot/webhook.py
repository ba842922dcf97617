"""``POST /webhook`` and ``GET /healthz``: verify, de-duplicate, enqueue, acknowledge.

Nothing here talks to Webex or reads a file: the handler's whole budget is an
HMAC, a JSON parse, one de-duplication lookup and one enqueue, so Webex gets its
answer in milliseconds and never times out into redelivering.
"""

from __future__ import annotations

import json
import logging

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
    try:
        envelope = json.loads(body)
        data = envelope["data"]
        resource, event, item_id = envelope["resource"], envelope["event"], data["id"]
        room_id = data.get("roomId", "")
        if not all(isinstance(v, str) for v in (resource, event, item_id, room_id)):
            raise TypeError("ids must be strings")
    except (ValueError, KeyError, TypeError):
        return _answer("malformed", 400)
    if event != "created" or resource not in ("messages", "attachmentActions"):
        return _answer("ignored")
    person_id = str(data.get("personId") or "")
    if resource == "messages":
        if state.bot_id and person_id == state.bot_id:
            return _answer("own message")
        if not state.jobs.seen.first(f"m:{item_id}"):
            return _answer("duplicate")
        email = str(data.get("personEmail") or "")
        if not state.allow.allows(email):
            # one refusal per person per de-duplication period, then silence
            if state.jobs.seen.first(f"refused:{email.lower() or person_id}"):
                state.jobs.submit(Task.new("refuse", item_id, room_id, person_id, email))
            return _answer("not allowed")
        task = Task.new("message", item_id, room_id, person_id, email)
    else:
        if not state.jobs.seen.first(f"a:{item_id}"):
            return _answer("duplicate")
        task = Task.new("action", item_id, room_id, person_id)
    state.jobs.submit(task)
    return _answer("queued")


@bp.get("/healthz")
def healthz():
    state = _state()
    ok = state.jobs.healthy()
    info = {"status": "ok" if ok else "queue unavailable", "jobs": state.jobs.mode}
    if hasattr(state.jobs, "in_flight"):
        info["in_flight"] = state.jobs.in_flight
    return jsonify(info), (200 if ok else 503)
