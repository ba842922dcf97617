"""``hcdoctor demo``: the real bot beside the local Webex stand-in, with a chat page, on one port.

Everything a visitor sees goes through the production path: the page posts a
message into the stand-in (``bot.sandbox``), the stand-in sends a signed webhook
to the bot's own ``/webhook``, the bot's job fetches the message and any file
through webexpythonsdk from the stand-in API and posts its threaded answer
there, and the page polls the stand-in's messages. Only Webex itself is local.

One WSGI app serves:

- ``/``: the chat page; ``/demo/session``, ``/demo/feed``, ``/demo/files/<id>``: its JSON and files;
- ``/webhook``, ``/healthz``, ``/kb``, ``/kb/<id>``: the bot, exactly as ``create_app`` builds it;
- ``/webex/v1/...``: the stand-in Webex API (the bot's ``WEBEX_BASE_URL``), and
  ``/webex/_sandbox/say`` / ``press``, which act as the visitor.

The demo uses a fixed token and secret and needs no account. It is for one
machine: it binds to loopback unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
from dataclasses import dataclass
from html import escape
from typing import Any, TextIO

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.serving import make_server

from bot.app import create_app
from bot.sandbox import DEFAULT_SECRET, DEFAULT_TOKEN, Sandbox, create_sandbox_app, mount
from bot.settings import Settings
from kb.errors import InputError
from kb.render import markdown_html

PREFIX = "/webex"
VISITOR_EMAIL = "you@example.com"
VISITOR_NAME = "You"
FEED_LIMIT = 200  # messages per poll; the page asks again from the last one it got
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
EXAMPLES = (
    "sslv3 alert certificate unknown",
    "Webex app rings twice for one call",
    "show inbound-port-blocked",
    "help",
)

bp = Blueprint("demo", __name__, template_folder="templates")


@dataclass
class DemoState:
    sandbox: Sandbox
    room: dict
    visitor: dict


def _state() -> DemoState:
    return current_app.extensions["hcdoctor_demo"]


# -- Adaptive Cards as HTML -----------------------------------------------------------------------
MAX_CARD_DEPTH = 8  # cards nest containers; a hostile card must not recurse without end


def _card_element(el: Any, depth: int) -> str:
    if not isinstance(el, dict) or depth > MAX_CARD_DEPTH:
        return ""
    kind = el.get("type")
    if kind == "TextBlock":
        classes = ["tb"]
        if el.get("weight") == "Bolder":
            classes.append("card-title")
        if el.get("isSubtle"):
            classes.append("subtle")
        return f'<p class="{" ".join(classes)}">{escape(str(el.get("text", "")))}</p>'
    if kind == "FactSet":
        rows = "".join(f"<dt>{escape(str(f.get('title', '')))}</dt><dd>{escape(str(f.get('value', '')))}</dd>"
                       for f in el.get("facts") or () if isinstance(f, dict))
        return f"<dl>{rows}</dl>"
    if kind == "Input.Text":
        ident = escape(str(el.get("id", "")))
        label = escape(str(el.get("label") or el.get("placeholder") or el.get("id", "")))
        return (f'<label>{label}<input type="text" data-input-id="{ident}" '
                f'value="{escape(str(el.get("value", "")))}" placeholder="{escape(str(el.get("placeholder", "")))}">'
                "</label>")
    if kind == "Image" and str(el.get("url", "")).startswith(("http://", "https://")):
        return f'<img class="picture" src="{escape(el["url"])}" alt="{escape(str(el.get("altText", "")))}">'
    if kind in ("Container", "Column"):
        return "".join(_card_element(e, depth + 1) for e in el.get("items") or ())
    if kind == "ColumnSet":
        return "".join(_card_element(c, depth + 1) for c in el.get("columns") or ())
    return ""  # an element the demo does not draw; Webex clients skip unknown ones too


def _card_action(action: Any) -> str:
    if not isinstance(action, dict):
        return ""
    title = escape(str(action.get("title", "")))
    if action.get("type") == "Action.Submit":
        data = escape(json.dumps(action.get("data") or {}), quote=True)
        return f'<button type="button" data-action="{data}">{title}</button>'
    if action.get("type") == "Action.OpenUrl" and str(action.get("url", "")).startswith(("http://", "https://")):
        return f'<a class="button" href="{escape(action["url"])}" target="_blank" rel="noopener">{title}</a>'
    return ""


def card_html(card: dict) -> str:
    """An Adaptive Card drawn as HTML; submit buttons carry their ``data`` for the page to send back."""
    content = card.get("content") if isinstance(card.get("content"), dict) else {}
    body = "".join(_card_element(e, 0) for e in content.get("body") or ())
    actions = "".join(_card_action(a) for a in content.get("actions") or ())
    return f'<div class="card">{body}<div class="actions">{actions}</div></div>'


# -- the feed the page polls ----------------------------------------------------------------------
def _item(sb: Sandbox, msg: dict) -> dict:
    from_bot = msg["personId"] == sb.bot["id"]
    if from_bot:
        body = markdown_html(msg.get("markdown") or msg.get("text") or "", chat=True)
    else:
        body = "<p>" + escape(msg.get("text") or "").replace("\n", "<br>") + "</p>" if msg.get("text") else ""
    cards = [card_html(a) for a in msg.get("attachments") or () if isinstance(a, dict)]
    if cards:
        body = ""  # clients draw the card, not its fallback text
    files = []
    for cid in msg.get("_contents") or ():
        c = sb.contents[cid]
        files.append({"name": c.name, "url": f"/demo/files/{cid}", "size": len(c.data),
                      "image": c.content_type in IMAGE_TYPES})
    return {"id": msg["id"], "seq": msg["_seq"], "parentId": msg.get("parentId", ""),
            "from": "bot" if from_bot else "person",
            "who": sb.bot["displayName"] if from_bot else sb.people.get(msg["personId"], {}).get("displayName", ""),
            "html": body, "card": "".join(cards), "files": files, "edits": msg.get("_edits", 0)}


@bp.get("/")
def chat():
    return render_template("chat.html", examples=EXAMPLES)


@bp.get("/demo/session")
def session():
    st = _state()
    return jsonify(roomId=st.room["id"], email=st.visitor["emails"][0], name=st.visitor["displayName"],
                   bot=st.sandbox.bot["displayName"], say=f"{PREFIX}/_sandbox/say",
                   press=f"{PREFIX}/_sandbox/press", feed="/demo/feed")


@bp.get("/demo/feed")
def feed():
    st = _state()
    try:
        after = max(0, int(request.args.get("after", "0")))
    except ValueError:
        after = 0
    items = [_item(st.sandbox, m) for m in st.sandbox.feed(st.room["id"], after)[:FEED_LIMIT]]
    return jsonify(items=items)


@bp.get("/demo/files/<cid>")
def file(cid: str):
    c = _state().sandbox.contents.get(cid)
    if c is None:
        return jsonify(status="not found"), 404
    # only pictures are shown in the page; anything else (a visitor's upload included) is a download
    disposition = "inline" if c.content_type in IMAGE_TYPES else "attachment"
    name = re.sub(r'[\x00-\x1f"\\]', "_", c.name)  # a visitor names their files; keep the header well-formed
    return Response(c.data, content_type=c.content_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{name}"',
                             "X-Content-Type-Options": "nosniff"})


# -- assembling and running -----------------------------------------------------------------------
@dataclass
class Demo:
    """The one WSGI app and its parts (tests reach into ``sandbox`` and ``bot_app``)."""

    app: Any
    bot_app: Flask
    sandbox: Sandbox
    state: DemoState

    def close(self) -> None:
        self.bot_app.extensions["hcdoctor"].jobs.close()


def build_demo(root: str, settings: Settings | None = None) -> Demo:
    """The demo for a server reachable at ``root`` (``http://127.0.0.1:8080``, no trailing slash)."""
    sandbox = Sandbox(token=DEFAULT_TOKEN, secret=DEFAULT_SECRET)
    sandbox_app = create_sandbox_app(sandbox, bot_webhook_url=f"{root}/webhook")
    base = settings or Settings.from_env()
    settings = base.replace(access_token=sandbox.token, webhook_secret=sandbox.secret,
                            base_url=f"{root}{PREFIX}/v1/", public_url=root, redis_url="", allowed="")
    bot_app = create_app(settings)
    bot_app.config["HCDOCTOR_DEMO"] = True
    visitor = sandbox.add_person(VISITOR_EMAIL, VISITOR_NAME)
    room = sandbox.add_room(f"{VISITOR_NAME} and {sandbox.bot_name}", "direct", [visitor, sandbox.bot])
    state = DemoState(sandbox, room, visitor)
    bot_app.extensions["hcdoctor_demo"] = state
    bot_app.register_blueprint(bp)
    return Demo(mount(bot_app, sandbox_app, PREFIX), bot_app, sandbox, state)


class _Late:
    """A WSGI app filled in after the socket is bound, so the bot's first calls find the server listening."""

    app: Any = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def _local(host: str) -> str:
    """The address this machine uses to reach the server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one clear line (werkzeug would print two and exit the process)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from None
    return sock


class DemoServer:
    """The demo bound to ``host:port`` (0 picks a free port) on a threaded WSGI server, not yet serving."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080):
        late = _Late()
        sock = _listen(host, port)
        try:
            self.server = make_server(host, port, late, threaded=True, fd=sock.fileno())
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self.server.daemon_threads = True
        self.url = f"http://{_local(host)}:{self.server.port}"
        self.demo = build_demo(self.url)
        late.app = self.demo.app
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start(self) -> "DemoServer":
        """Serve from a daemon thread (tests); ``stop`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="hcdoctor-demo", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()
        self.demo.close()


def run_demo(host: str = "127.0.0.1", port: int = 8080, out: TextIO | None = None) -> None:
    """Serve the demo until Ctrl-C; prints the URL first."""
    out = out or sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the page polls; one line per poll is noise
    logging.getLogger("webexpythonsdk").setLevel(logging.WARNING)
    server = DemoServer(host, port)
    print(f"hcdoctor demo: open {server.url}/ to chat with the bot (knowledge base: {server.url}/kb). "
          "Ctrl-C stops it.", file=out, flush=True)
    try:
        server.serve_forever()  # returns on Ctrl-C: werkzeug's server turns KeyboardInterrupt into a stop
    finally:
        server.stop()
    print("hcdoctor demo: stopped", file=out, flush=True)
