"""``hcdoctor demo``: one port serving the chat page, the stand-in Webex API, the bot and the /kb pages.

The first test runs the command exactly as the README does, as a subprocess; the
others run the same server in a thread and talk to it over real HTTP.
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
import requests

from bot import replies
from bot.demo import DemoServer, card_html
from bot.sandbox import DEFAULT_TOKEN
from checks.model import Evidence, Finding

TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Chat:
    """The demo page's HTTP conversation, without a browser: session, say, press, feed."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()
        self.session = self.http.get(f"{url}/demo/session", timeout=5).json()
        self.after = 0
        self.items: dict[str, dict] = {}

    def say(self, text: str, file: tuple[str, bytes] | None = None) -> dict:
        # multipart, as the page's FormData sends it, with or without a file
        parts = [("roomId", (None, self.session["roomId"])), ("email", (None, self.session["email"])),
                 ("text", (None, text))]
        if file:
            parts.append(("files", file))
        resp = self.http.post(self.url + self.session["say"], timeout=5, files=parts)
        resp.raise_for_status()
        return resp.json()

    def press(self, message_id: str, inputs: dict) -> dict:
        resp = self.http.post(self.url + self.session["press"], timeout=5,
                              json={"messageId": message_id, "email": self.session["email"], "inputs": inputs})
        resp.raise_for_status()
        return resp.json()

    def poll(self) -> list[dict]:
        items = self.http.get(f"{self.url}/demo/feed", params={"after": self.after}, timeout=5).json()["items"]
        for item in items:
            self.items[item["id"]] = item
            self.after = max(self.after, item["seq"])
        return items

    def replies_to(self, message_id: str, check: Callable[[list[dict]], bool]) -> list[dict]:
        def ready():
            self.poll()
            got = [i for i in self.items.values() if i["parentId"] == message_id and i["from"] == "bot"]
            return got if check(got) else None

        return _wait(ready, what=f"the bot's replies to {message_id}")


# -- the command, as the README runs it ---------------------------------------------------------------
def test_hcdoctor_demo_command_answers_its_first_question(tmp_path):
    exe = shutil.which("hcdoctor")
    assert exe, "the hcdoctor console script is not installed (pip install -e '.[test]')"
    port = _free_port()
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([exe, "demo", "--port", str(port)], stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=TIMEOUT)
        url = f"http://127.0.0.1:{port}"
        assert f"{url}/" in first
        chat = Chat(url)
        asked = chat.say("Peer's TLS certificate identity was unacceptable")
        answer = chat.replies_to(asked["id"], bool)[0]
        assert "/kb/mtls-subject-name-mismatch" in answer["html"]
        # the same port serves the bot's own endpoints and the stand-in API
        assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        assert requests.get(f"{url}/kb/mtls-subject-name-mismatch", timeout=5).status_code == 200
        me = requests.get(f"{url}/webex/v1/people/me", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=5)
        assert me.json()["type"] == "bot"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit status 0
        assert proc.wait(timeout=TIMEOUT) == 0
        assert "stopped" in lines.get(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


def test_busy_port_is_one_clear_line_and_exit_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run([shutil.which("hcdoctor"), "demo", "--port", str(port)], capture_output=True,
                              text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


# -- in-process server --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    server = DemoServer("127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture
def chat(demo):
    return Chat(demo.url)


class _Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_chat_page_and_its_script_are_served(demo):
    page = requests.get(demo.url + "/", timeout=5)
    assert page.status_code == 200
    tags = _Tags(page.text).found
    assert ("form", {"id": "send-form"}) in tags
    assert any(t == "input" and a.get("type") == "file" for t, a in tags)
    script = next(a["src"] for t, a in tags if t == "script")
    js = requests.get(demo.url + script, timeout=5)
    assert js.status_code == 200 and "/demo/session" in js.text
    assert any(t == "a" and a.get("href") == "/kb" for t, a in tags)  # the demo's nav links the knowledge base


def test_stand_in_api_wants_the_demo_token(demo):
    assert requests.get(demo.url + "/webex/v1/people/me", timeout=5).status_code == 401


def test_help_is_answered_in_the_thread_with_markdown_rendered(chat):
    asked = chat.say("help")
    answer = chat.replies_to(asked["id"], bool)[0]
    assert answer["who"] == "HCDoctor"
    assert "<ul>" in answer["html"] and "<strong>" in answer["html"] and "**" not in answer["html"]


def test_visitor_text_is_shown_as_text(chat):
    asked = chat.say("<img src=x onerror=alert(1)> certificate unknown")
    chat.replies_to(asked["id"], bool)
    mine = chat.items[asked["id"]]
    assert mine["from"] == "person"
    assert "<img" not in mine["html"] and "&lt;img src=x" in mine["html"]


def test_a_card_button_becomes_an_attachment_action_the_bot_answers(demo, chat):
    # the card the bot posts with a diagnosis, posted by the bot's own token through the stand-in API
    finding = Finding("inbound-port-blocked", "Webex cannot open TCP 5062 to the Expressway-E", "high",
                      "SYNs are not answered.", (), (Evidence("cap.pcap", "stream 1 (127.0.0.5:5062)", "SYN"),))
    card = replies.diagnosis_card([finding], "cap.pcap", replies.find_host([finding]))
    asked = chat.say("sslv3 alert certificate unknown")
    posted = requests.post(demo.url + "/webex/v1/messages", timeout=5,
                           headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                           json={"roomId": chat.session["roomId"], "parentId": asked["id"],
                                 "markdown": replies.card_fallback(card), "attachments": [card]})
    assert posted.status_code == 200
    card_item = chat.replies_to(asked["id"], lambda got: any(i["card"] for i in got))
    drawn = next(i for i in card_item if i["card"])
    assert drawn["html"] == ""  # the card is drawn instead of its fallback text
    buttons = [a for t, a in _Tags(drawn["card"]).found if t == "button"]
    fix = json.loads(buttons[0]["data-action"])
    assert fix == {"hcd": "fix", "issue": "inbound-port-blocked"}
    chat.press(drawn["id"], fix)
    answers = chat.replies_to(asked["id"], lambda got: any("Fix for" in i["html"] for i in got))
    assert any("/kb/inbound-port-blocked" in i["html"] for i in answers)


def test_card_html_draws_facts_inputs_and_buttons_escaped():
    card = {"contentType": replies.CARD_TYPE, "content": {"type": "AdaptiveCard", "version": "1.3", "body": [
        {"type": "TextBlock", "text": "<b>Title</b>", "weight": "Bolder"},
        {"type": "FactSet", "facts": [{"title": "Issue", "value": "mtls-incomplete-chain"}]},
        {"type": "Container", "items": [{"type": "Input.Text", "id": "target", "label": "Host",
                                          "value": '"><script>x</script>'}]},
        {"type": "Media", "sources": []},
    ], "actions": [{"type": "Action.Submit", "title": "Check", "data": {"hcd": "check"}},
                   {"type": "Action.OpenUrl", "title": "Bad", "url": "javascript:alert(1)"}]}}
    html = card_html(card)
    tags = _Tags(html).found
    assert "&lt;b&gt;Title&lt;/b&gt;" in html and "<script>" not in html
    assert ("input", {"type": "text", "data-input-id": "target", "value": '"><script>x</script>',
                      "placeholder": ""}) in tags
    assert [a["data-action"] for t, a in tags if t == "button"] == ['{"hcd": "check"}']
    assert not any(t == "a" for t, _ in tags)
    assert "<dt>Issue</dt><dd>mtls-incomplete-chain</dd>" in html


def test_files_are_offered_pictures_inline_others_as_downloads(demo, chat):
    asked = chat.say("here is a file", file=("notes.html", b"<script>alert(1)</script>"))
    chat.replies_to(asked["id"], bool)
    item = chat.items[asked["id"]]
    f = item["files"][0]
    assert f["name"] == "notes.html" and not f["image"]
    resp = requests.get(demo.url + f["url"], timeout=5)
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(demo.url + "/demo/files/nope", timeout=5).status_code == 404
    odd = chat.say("", file=('a"b\\c.txt', b"x"))
    chat.replies_to(odd["id"], bool)
    url = chat.items[odd["id"]]["files"][0]["url"]
    assert requests.get(demo.url + url, timeout=5).headers["Content-Disposition"] == 'attachment; filename="a_b_c.txt"'
