"""A local stand-in for the Webex REST API, for the tests, the benchmark and ``hcdoctor demo``.

It implements the part of the API the bot uses, the way Webex behaves:

- ``GET people/me``, ``GET people/<id>``;
- ``GET/POST messages`` (JSON, or multipart with one file, exactly as webexpythonsdk
  uploads a local path), ``GET messages/<id>``, ``PUT messages/<id>`` (edit: at
  most 10 times, never a message with a file or a card); Markdown over 7439 bytes,
  a second file or a reply to a reply are refused with 400, like Webex does;
- ``GET/HEAD contents/<id>`` with the bearer token, ``Content-Disposition``,
  ``Content-Type`` and ``Content-Length``;
- ``GET attachment/actions/<id>``;
- ``GET/POST webhooks``, ``GET/PUT/DELETE webhooks/<id>``.

People and rooms live in a ``Sandbox`` object. ``say`` and ``press`` act as a
person: they store the message (or card submission) and POST a signed webhook to
every matching registered webhook, byte for byte as Webex does (envelope with ids
only, ``X-Spark-Signature`` = HMAC-SHA1 of the body). Bots in group rooms only
hear messages that mention them, and the bot's own posts are delivered back to
it, as on the real platform. ``fail`` queues error answers (429/423/410/428/5xx
with ``Retry-After``) for matching requests, so retry paths are tested for real.

Typical use::

    sandbox = Sandbox(secret="s3cret")
    api = serve_in_thread(create_sandbox_app(sandbox))        # or mount() beside the bot
    bot = serve_in_thread(create_app({... "base_url": api.url + "/v1/" ...}))
    sandbox.register_webhook(bot.url + "/webhook")           # as `hcdoctor webhooks register` would
    ann = sandbox.add_person("ann@example.com", "Ann")
    room = sandbox.add_room("Hybrid Call", kind="group", members=[ann])
    sandbox.say(ann, room, "sslv3 alert certificate unknown", mention=True)
    sandbox.wait_for(lambda: sandbox.bot_messages(room["id"]))

``/_sandbox/...`` routes (``say``, ``press``, ``feed``) expose the same actions over
HTTP for a chat page.
"""

from __future__ import annotations

import base64
import html
import json
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler, make_server

from bot.settings import EDIT_LIMIT, MESSAGE_LIMIT_BYTES
from bot.signature import HEADER, sign

T = TypeVar("T")

ORG = "sandbox-org"
DEFAULT_TOKEN = "sandbox-bot-token"
DEFAULT_SECRET = "sandbox-webhook-secret"
MAX_UPLOAD = 100 * 1024 * 1024


def webex_id(kind: str) -> str:
    """Ids shaped like Webex's: base64 of ``ciscospark://us/<KIND>/<uuid>``, without padding."""
    raw = f"ciscospark://us/{kind}/{uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _markdown_to_text(markdown: str) -> str:
    return re.sub(r"[*_`#>]", "", markdown)


@dataclass
class Fault:
    pattern: re.Pattern
    method: str | None
    statuses: deque
    retry_after: str | None
    delay: float = 0.0


@dataclass
class Content:
    id: str
    name: str
    content_type: str
    data: bytes


@dataclass
class Delivery:
    webhook_id: str
    body: bytes
    signature: str
    target: str
    status: int | None = None
    seconds: float = 0.0


@dataclass
class Sandbox:
    """Everything the stand-in API knows, with thread-safe helpers for tests and the demo page."""

    token: str = DEFAULT_TOKEN
    secret: str = DEFAULT_SECRET
    bot_name: str = "HCDoctor"
    bot_email: str = "hcdoctor@webex.bot"
    deliver_own: bool = True  # Webex sends a bot its own messages too; the bot must ignore them
    people: dict[str, dict] = field(default_factory=dict)
    rooms: dict[str, dict] = field(default_factory=dict)
    messages: dict[str, dict] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)
    actions: dict[str, dict] = field(default_factory=dict)
    webhooks: dict[str, dict] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    requests_seen: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        self._seq = 0
        self._outbox: queue.Queue = queue.Queue()
        self.pending_deliveries = 0  # queued or being posted; the delivery thread runs them in order
        self._http = requests.Session()
        self.bot = self.add_person(self.bot_email, self.bot_name, kind="bot")
        threading.Thread(target=self._deliver_loop, name="sandbox-deliveries", daemon=True).start()

    # -- people, rooms, webhooks ----------------------------------------------------------------
    def add_person(self, email: str, display_name: str, kind: str = "person") -> dict:
        person = {"id": webex_id("PEOPLE"), "emails": [email], "displayName": display_name,
                  "nickName": display_name.split()[0], "firstName": display_name.split()[0],
                  "orgId": ORG, "type": kind, "created": _now()}
        with self._lock:
            self.people[person["id"]] = person
        return person

    def add_room(self, title: str = "Direct", kind: str = "direct", members: Iterable[dict] = ()) -> dict:
        room = {"id": webex_id("ROOM"), "title": title, "type": kind, "created": _now(),
                "members": [p["id"] for p in members]}
        with self._lock:
            self.rooms[room["id"]] = room
        return room

    def register_webhook(self, target_url: str, resource: str = "", event: str = "created",
                         secret: str | None = None, name: str = "") -> list[dict]:
        """Register webhooks as the bot (both ``messages`` and ``attachmentActions`` unless ``resource`` is given)."""
        made = []
        for res in ([resource] if resource else ["messages", "attachmentActions"]):
            made.append(self._create_webhook({"name": name or f"sandbox {res}", "targetUrl": target_url,
                                              "resource": res, "event": event,
                                              "secret": self.secret if secret is None else secret}))
        return made

    def _create_webhook(self, body: dict) -> dict:
        wh = {"id": webex_id("WEBHOOK"), "name": body["name"], "targetUrl": body["targetUrl"],
              "resource": body["resource"], "event": body["event"], "filter": body.get("filter", ""),
              "secret": body.get("secret", ""), "orgId": ORG, "createdBy": self.bot["id"],
              "appId": "sandbox-app", "ownedBy": "creator", "status": "active", "created": _now()}
        with self._lock:
            self.webhooks[wh["id"]] = wh
        return wh

    # -- faults ------------------------------------------------------------------------------------
    def fail(self, path_pattern: str, *statuses: int, method: str | None = None, retry_after: str | None = "1",
             delay: float = 0.0) -> None:
        """The next ``len(statuses)`` API requests whose path matches answer these statuses instead.

        A status of 0 lets that request through normally, so a sequence such as
        ``(0, 0, 429, 0, 500)`` fails a share of the calls; ``delay`` makes each of
        these requests wait that many seconds first (a slow Webex).
        """
        with self._lock:
            self._faults.append(Fault(re.compile(path_pattern), method and method.upper(), deque(statuses), retry_after,
                                      delay))

    def _fault_for(self, method: str, path: str) -> tuple[int, str | None, float] | None:
        with self._lock:
            for f in self._faults:
                if f.statuses and f.pattern.search(path) and (f.method is None or f.method == method):
                    return f.statuses.popleft(), f.retry_after, f.delay
        return None

    # -- acting as people --------------------------------------------------------------------------
    def say(self, person: dict, room: dict, text: str = "", files: Iterable[tuple[str, bytes]] = (),
            parent_id: str | None = None, mention: bool = False, wait: bool = True) -> dict:
        """``person`` writes in ``room``; returns the stored message after the webhook was delivered (``wait``)."""
        mentioned = [self.bot["id"]] if mention else []
        body = f"{self.bot_name} {text}".strip() if mention else text
        msg = {"id": webex_id("MESSAGE"), "roomId": room["id"], "roomType": room["type"], "text": body,
               "personId": person["id"], "personEmail": person["emails"][0], "created": _now()}
        if mention:
            msg["html"] = (f'<p><spark-mention data-object-type="person" data-object-id="{self.bot["id"]}">'
                           f"{html.escape(self.bot_name)}</spark-mention> {html.escape(text)}</p>")
            msg["mentionedPeople"] = mentioned
        if parent_id:
            msg["parentId"] = parent_id
        contents = [self._store_content(name, data) for name, data in files]
        with self._lock:
            if contents:
                msg["_contents"] = [c.id for c in contents]
            self._store(msg)
        hears = room["type"] == "direct" or self.bot["id"] in mentioned
        if hears:
            self._emit("messages", self._message_data(msg), person["id"], wait)
        return msg

    def press(self, person: dict, message_id: str, inputs: dict[str, Any], wait: bool = True) -> dict:
        """``person`` submits the card in ``message_id``; Webex merges the button's data into ``inputs``."""
        card_msg = self.messages[message_id]
        action = {"id": webex_id("ATTACHMENT_ACTION"), "type": "submit", "messageId": message_id,
                  "inputs": dict(inputs), "personId": person["id"], "roomId": card_msg["roomId"], "created": _now()}
        with self._lock:
            self.actions[action["id"]] = action
        data = {k: action[k] for k in ("id", "type", "messageId", "personId", "roomId", "created")}
        self._emit("attachmentActions", data, person["id"], wait)
        return action

    def redeliver(self, item_id: str) -> list[int | None]:
        """Send every earlier delivery about ``item_id`` again, the same bytes (Webex retries like this)."""
        with self._lock:
            again = [d for d in self.deliveries if json.loads(d.body)["data"]["id"] == item_id]
        return [self._post(Delivery(d.webhook_id, d.body, d.signature, d.target)).status for d in again]

    def _store_content(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> Content:
        c = Content(webex_id("CONTENT"), name, content_type, data)
        with self._lock:
            self.contents[c.id] = c
        return c

    def _store(self, msg: dict) -> None:
        self._seq += 1
        msg["_seq"] = self._seq
        msg.setdefault("_seq_created", self._seq)
        msg.setdefault("_t", time.monotonic())  # creation time, for latency measurements in-process
        self.messages[msg["id"]] = msg
        self._changed.notify_all()

    def _message_data(self, msg: dict) -> dict:
        keep = ("id", "roomId", "roomType", "personId", "personEmail", "mentionedPeople", "created", "parentId")
        data = {k: msg[k] for k in keep if k in msg}
        if msg.get("_contents"):
            data["files"] = [f"contents/{c}" for c in msg["_contents"]]  # made absolute by the API views
        return data

    # -- webhook delivery --------------------------------------------------------------------------
    def _emit(self, resource: str, data: dict, actor_id: str, wait: bool) -> list[Delivery]:
        with self._lock:
            hooks = [w for w in self.webhooks.values()
                     if w["resource"] == resource and w["event"] == "created" and w["status"] == "active"]
        out = []
        for wh in hooks:
            envelope = {k: wh[k] for k in ("id", "name", "targetUrl", "resource", "event", "orgId", "createdBy",
                                           "appId", "ownedBy", "status", "created")}
            envelope["actorId"] = actor_id
            envelope["data"] = data
            body = json.dumps(envelope, separators=(",", ":")).encode()
            d = Delivery(wh["id"], body, sign(wh["secret"], body) if wh["secret"] else "", wh["targetUrl"])
            with self._lock:
                self.deliveries.append(d)
            if wait:
                self._post(d)
            else:
                with self._lock:
                    self.pending_deliveries += 1
                self._outbox.put(d)
            out.append(d)
        return out

    def _post(self, d: Delivery) -> Delivery:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "hcdoctor-sandbox"}
        if d.signature:
            headers[HEADER] = d.signature
        start = time.perf_counter()
        try:
            d.status = self._http.post(d.target, data=d.body, headers=headers, timeout=10).status_code
        except requests.RequestException:
            d.status = None
        d.seconds = time.perf_counter() - start
        return d

    def _deliver_loop(self) -> None:
        while True:
            d = self._outbox.get()
            try:
                self._post(d)
            finally:
                with self._lock:
                    self.pending_deliveries -= 1
                    self._changed.notify_all()

    # -- reading what happened ---------------------------------------------------------------------
    def bot_messages(self, room_id: str | None = None) -> list[dict]:
        """Messages the bot posted (oldest first), with ``_file`` (name, bytes) and ``_edits`` for tests."""
        with self._lock:
            found = [m for m in self.messages.values() if m["personId"] == self.bot["id"]
                     and (room_id is None or m["roomId"] == room_id)]
            return [dict(m, _file=self._file_of(m)) for m in sorted(found, key=lambda m: m["_seq_created"])]

    def _file_of(self, msg: dict) -> tuple[str, bytes] | None:
        ids = msg.get("_contents") or []
        return (self.contents[ids[0]].name, self.contents[ids[0]].data) if ids else None

    def wait_for(self, check: Callable[[], T], timeout: float = 10.0) -> T:
        """Wait until ``check()`` is truthy (re-evaluated on every change); its value, or ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = check()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"sandbox: condition not met within {timeout} s")
                self._changed.wait(min(left, 0.05))

    def feed(self, room_id: str, after: int = 0) -> list[dict]:
        """Messages of a room created or edited after sequence number ``after``, for a polling chat page."""
        with self._lock:
            items = [m for m in self.messages.values() if m["roomId"] == room_id and m["_seq"] > after]
            return sorted(items, key=lambda m: m["_seq"])


# -- the HTTP face ---------------------------------------------------------------------------------
def _error(status: int, message: str, retry_after: str | None = None) -> Response:
    resp = jsonify(message=message, errors=[{"description": message}], trackingId=f"SANDBOX_{uuid.uuid4().hex[:12]}")
    resp.status_code = status
    if retry_after is not None and status in (423, 429, 503):
        resp.headers["Retry-After"] = retry_after
    return resp


def _public(msg: dict, root: str) -> dict:
    out = {k: v for k, v in msg.items() if not k.startswith("_")}
    if msg.get("_contents"):
        out["files"] = [f"{root}v1/contents/{c}" for c in msg["_contents"]]
    return out


def create_sandbox_app(sandbox: Sandbox | None = None, bot_webhook_url: str | None = None, **options: Any) -> Flask:
    """The stand-in API as a Flask app (``app.extensions["sandbox"]`` is the ``Sandbox``).

    With ``bot_webhook_url`` the bot's webhooks are registered up front, as if
    ``hcdoctor webhooks register`` had run; ``options`` go to ``Sandbox`` (``token``,
    ``secret``, ``bot_name``, ...). The API lives under ``/v1/``.
    """
    sb = sandbox or Sandbox(**options)
    if bot_webhook_url:
        sb.register_webhook(bot_webhook_url)
    app = Flask("bot.sandbox")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD + 1024 * 1024
    app.extensions["sandbox"] = sb

    def root() -> str:
        return request.url_root  # includes the mount prefix, so file URLs work when mounted

    @app.before_request
    def gate():
        if not request.path.startswith("/v1/"):
            return None
        fault = sb._fault_for(request.method, request.path)
        status = 401 if request.headers.get("Authorization") != f"Bearer {sb.token}" else None
        if status is None and fault:
            status, retry, delay = fault
            if delay:
                time.sleep(delay)
            resp = _error(status, f"sandbox fault {status}", retry) if status else None
        elif status:
            resp = _error(401, "The request requires a valid access token set in the Authorization request header.")
        else:
            resp = None
        with sb._lock:
            sb.requests_seen.append((request.method, request.path, status or 0))
        return resp

    @app.get("/v1/people/me")
    def me():
        return jsonify(sb.bot)

    @app.get("/v1/people/<pid>")
    def person(pid: str):
        p = sb.people.get(pid)
        return jsonify(p) if p else _error(404, "person not found")

    def readable(msg: dict | None) -> bool:
        if msg is None:
            return False
        room = sb.rooms.get(msg["roomId"], {})
        # a bot reads group messages only when they mention it (or are its own)
        return room.get("type") != "group" or msg["personId"] == sb.bot["id"] or sb.bot["id"] in msg.get("mentionedPeople", [])

    @app.get("/v1/messages/<mid>")
    def get_message(mid: str):
        msg = sb.messages.get(mid)
        if msg is None:
            return _error(404, "message not found")
        if not readable(msg):
            return _error(403, "bots can only read messages that mention them in group spaces")
        return jsonify(_public(msg, root()))

    @app.get("/v1/messages")
    def list_messages():
        room_id = request.args.get("roomId", "")
        if room_id not in sb.rooms:
            return _error(404, "room not found")
        limit = int(request.args.get("max", 50))
        with sb._lock:
            items = [m for m in sb.messages.values() if m["roomId"] == room_id and readable(m)]
        items.sort(key=lambda m: m["_seq_created"], reverse=True)
        return jsonify(items=[_public(m, root()) for m in items[:limit]])

    @app.post("/v1/messages")
    def create_message():
        if request.mimetype == "multipart/form-data":
            body = request.form.to_dict()
            uploads = request.files.getlist("files")
            if len(uploads) > 1:
                return _error(400, "only one file may be included with a message")
            if "attachments" in body:
                return _error(400, "a message with a file cannot carry a card")
        else:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return _error(400, "the body must be JSON")
            uploads = []
            if body.get("files"):
                return _error(400, "the sandbox accepts files only as multipart uploads")
        room = sb.rooms.get(body.get("roomId", ""))
        if room is None:
            return _error(404, "room not found")
        text, markdown = body.get("text"), body.get("markdown")
        for value in (text, markdown):
            if value is not None and len(value.encode("utf-8")) > MESSAGE_LIMIT_BYTES:
                return _error(400, f"The maximum message length is {MESSAGE_LIMIT_BYTES} bytes")
        attachments = body.get("attachments") or []
        if len(attachments) > 1:
            return _error(400, "only one card may be included with a message")
        for a in attachments:
            if a.get("contentType") != "application/vnd.microsoft.card.adaptive" or not isinstance(a.get("content"), dict):
                return _error(400, "attachments must be adaptive cards")
            if len(a["content"].get("actions", [])) > 5:
                return _error(400, "a card may have at most five actions")
        parent = body.get("parentId")
        if parent:
            p = sb.messages.get(parent)
            if p is None or p["roomId"] != room["id"]:
                return _error(400, "parentId does not name a message in this room")
            if p.get("parentId"):
                return _error(400, "a reply cannot be the parent of another reply")
        if not (text or markdown or uploads or attachments):
            return _error(400, "a message needs text, markdown, a file or a card")
        msg = {"id": webex_id("MESSAGE"), "roomId": room["id"], "roomType": room["type"],
               "text": text or _markdown_to_text(markdown or ""), "personId": sb.bot["id"],
               "personEmail": sb.bot["emails"][0], "created": _now()}
        if markdown:
            msg["markdown"] = markdown
        if parent:
            msg["parentId"] = parent
        if attachments:
            msg["attachments"] = attachments
        if uploads:
            f = uploads[0]
            c = sb._store_content(f.filename or "file", f.read(), f.mimetype or "application/octet-stream")
            msg["_contents"] = [c.id]
        with sb._lock:
            sb._store(msg)
        if sb.deliver_own:
            sb._emit("messages", sb._message_data(msg), sb.bot["id"], wait=False)
        return jsonify(_public(msg, root()))

    @app.put("/v1/messages/<mid>")
    def edit_message(mid: str):
        body = request.get_json(silent=True) or {}
        with sb._lock:
            msg = sb.messages.get(mid)
            if msg is None:
                return _error(404, "message not found")
            if msg["personId"] != sb.bot["id"]:
                return _error(403, "only the author can edit a message")
            if msg.get("_contents") or msg.get("attachments"):
                return _error(400, "messages with files or attachments cannot be edited")
            if msg.get("_edits", 0) >= EDIT_LIMIT:
                return _error(400, f"a message can be edited at most {EDIT_LIMIT} times")
            if body.get("roomId") != msg["roomId"]:
                return _error(400, "roomId must be the message's room")
            text, markdown = body.get("text"), body.get("markdown")
            if not (text or markdown):
                return _error(400, "an edit needs text or markdown")
            for value in (text, markdown):
                if value is not None and len(value.encode("utf-8")) > MESSAGE_LIMIT_BYTES:
                    return _error(400, f"The maximum message length is {MESSAGE_LIMIT_BYTES} bytes")
            msg["text"] = text or _markdown_to_text(markdown)
            if markdown:
                msg["markdown"] = markdown
            msg["_edits"] = msg.get("_edits", 0) + 1
            msg["updated"] = _now()
            sb._store(msg)
            return jsonify(_public(msg, root()))

    @app.route("/v1/contents/<cid>", methods=["GET", "HEAD"])
    def content(cid: str):
        c = sb.contents.get(cid)
        if c is None:
            return _error(404, "content not found")
        # werkzeug answers HEAD with the same headers (Content-Length included) and no body
        return Response(c.data, headers={"Content-Disposition": f'attachment; filename="{c.name}"'},
                        content_type=c.content_type)

    @app.get("/v1/attachment/actions/<aid>")
    def action(aid: str):
        a = sb.actions.get(aid)
        return jsonify(a) if a else _error(404, "attachment action not found")

    @app.get("/v1/webhooks")
    def list_webhooks():
        with sb._lock:
            return jsonify(items=list(sb.webhooks.values()))

    @app.post("/v1/webhooks")
    def create_webhook():
        body = request.get_json(silent=True) or {}
        if not all(body.get(k) for k in ("name", "targetUrl", "resource", "event")):
            return _error(400, "name, targetUrl, resource and event are required")
        return jsonify(sb._create_webhook(body))

    @app.route("/v1/webhooks/<wid>", methods=["GET", "PUT", "DELETE"])
    def one_webhook(wid: str):
        with sb._lock:
            wh = sb.webhooks.get(wid)
            if wh is None:
                return _error(404, "webhook not found")
            if request.method == "DELETE":
                del sb.webhooks[wid]
                return Response(status=204)
            if request.method == "PUT":
                body = request.get_json(silent=True) or {}
                if not body.get("name") or not body.get("targetUrl"):
                    return _error(400, "name and targetUrl are required")
                for k in ("name", "targetUrl", "secret", "status"):
                    if k in body:
                        wh[k] = body[k]
            return jsonify(wh)

    # -- for a chat page: act as a person over HTTP ----------------------------------------------
    def person_by_email(email: str) -> dict:
        with sb._lock:
            found = next((p for p in sb.people.values() if email.lower() in (e.lower() for e in p["emails"])), None)
        return found or sb.add_person(email, email.split("@")[0].title())

    @app.post("/_sandbox/rooms")
    def http_room():
        body = request.get_json(silent=True) or {}
        kind = body.get("type", "direct")
        if kind not in ("direct", "group"):
            return _error(400, "type must be direct or group")
        members = [person_by_email(e) for e in body.get("emails") or ()]
        return jsonify(sb.add_room(body.get("title") or "Sandbox", kind, members))

    @app.post("/_sandbox/say")
    def http_say():
        form = request.form if request.mimetype == "multipart/form-data" else (request.get_json(silent=True) or {})
        room = sb.rooms.get(form.get("roomId", ""))
        if room is None:
            return _error(404, "room not found")
        files = [(f.filename or "file", f.read()) for f in request.files.getlist("files")]
        msg = sb.say(person_by_email(form.get("email", "you@example.com")), room, form.get("text", ""),
                     files=files, parent_id=form.get("parentId") or None,
                     mention=str(form.get("mention", "")).lower() in ("1", "true"), wait=False)
        return jsonify(_public(msg, root()))

    @app.post("/_sandbox/press")
    def http_press():
        body = request.get_json(silent=True) or {}
        if body.get("messageId") not in sb.messages:
            return _error(404, "message not found")
        a = sb.press(person_by_email(body.get("email", "you@example.com")), body["messageId"],
                     body.get("inputs") or {}, wait=False)
        return jsonify(a)

    @app.get("/_sandbox/feed")
    def http_feed():
        items = sb.feed(request.args.get("roomId", ""), int(request.args.get("after", 0)))
        return jsonify(items=[dict(_public(m, root()), seq=m["_seq"], edits=m.get("_edits", 0), t=m["_t"])
                              for m in items])

    return app


def mount(bot_app, sandbox_app, prefix: str = "/webex"):
    """One WSGI app serving the bot at ``/`` and the stand-in API under ``prefix`` (base URL ``<prefix>/v1/``)."""
    return DispatcherMiddleware(bot_app, {prefix: sandbox_app})


class _QuietHandler(WSGIRequestHandler):
    """No access-log line per request: tests and the benchmark make thousands of them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServerThread:
    """A real threaded WSGI server on a loopback port, in a daemon thread; ``url`` has no trailing slash."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        self.server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None)
        self.server.daemon_threads = True
        self.host, self.port = host, self.server.server_port
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"wsgi-{self.port}", daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> ServerThread:
    return ServerThread(app, host, port, quiet).start()


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.sandbox --port P``: the stand-in API alone, e.g. in its own process for the benchmark."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bot.sandbox", description=main.__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--token", default=DEFAULT_TOKEN)
    ap.add_argument("--secret", default=DEFAULT_SECRET)
    ap.add_argument("--webhook-url", help="register the bot's webhooks to this URL at start")
    args = ap.parse_args(argv)
    app = create_sandbox_app(Sandbox(token=args.token, secret=args.secret), args.webhook_url)
    server = ServerThread(app, args.host, args.port)
    print(f"sandbox Webex API on {server.url}/v1/", flush=True)
    try:
        server.server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m bot.sandbox`
    raise SystemExit(main())
