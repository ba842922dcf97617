"""A running bot beside the stand-in Webex API, both on loopback ports, for the bot's end-to-end tests.

Only the public Webex cloud is replaced (by ``bot.sandbox``); the bot itself is
the real app behind a real WSGI server, talking to the stand-in over HTTP with
webexpythonsdk and requests.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from bot.app import create_app
from bot.sandbox import Sandbox, ServerThread, create_sandbox_app, serve_in_thread
from bot.settings import Settings
from bot.signature import HEADER, sign


@dataclass
class Harness:
    sandbox: Sandbox
    api: ServerThread
    bot: ServerThread
    app: object
    settings: Settings

    @property
    def state(self):
        return self.app.extensions["hcdoctor"]

    def person(self, email: str = "ann@example.com", name: str = "Ann Admin") -> dict:
        return self.sandbox.add_person(email, name)

    def direct(self, person: dict) -> dict:
        return self.sandbox.add_room("Direct", "direct", [person])

    def group(self, *people: dict) -> dict:
        return self.sandbox.add_room("Hybrid Call team", "group", people)

    def answers(self, room: dict) -> list[dict]:
        return self.sandbox.bot_messages(room["id"])

    def wait_answers(self, room: dict, count: int = 1, timeout: float = 15.0) -> list[dict]:
        return self.sandbox.wait_for(lambda: (a := self.answers(room)) and len(a) >= count and a, timeout)

    def idle(self, timeout: float = 15.0) -> None:
        """Wait until no job runs and no webhook is on its way (echoes of the bot's posts included)."""
        def quiet() -> bool:
            return self.sandbox.pending_deliveries == 0 and getattr(self.state.jobs, "in_flight", 0) == 0

        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 3:  # quiet three polls in a row: a job cannot be between submit and count
            if time.monotonic() > deadline:
                raise TimeoutError("bot still busy")
            calm = calm + 1 if quiet() else 0
            time.sleep(0.03)

    def post_raw(self, body: bytes, signature: str | None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[HEADER] = signature
        return requests.post(self.bot.url + "/webhook", data=body, headers=headers, timeout=10)

    def signed(self, body: bytes) -> requests.Response:
        return self.post_raw(body, sign(self.settings.webhook_secret, body))


@contextmanager
def running_bot(**overrides) -> Iterator[Harness]:
    """Sandbox API + bot app (in-process jobs unless ``redis_url`` is given), webhooks registered."""
    sandbox = Sandbox(secret="test-secret-\u00e9")
    api = serve_in_thread(create_sandbox_app(sandbox))
    seen_dir = tempfile.mkdtemp(prefix="hcdoctor-test-seen-")
    settings = Settings(access_token=sandbox.token, webhook_secret=sandbox.secret, base_url=api.url + "/v1/",
                        workers=4, dedupe_dir=seen_dir).replace(**overrides)
    app = create_app(settings)
    bot = serve_in_thread(app)
    sandbox.register_webhook(bot.url + "/webhook")
    harness = Harness(sandbox, api, bot, app, settings)
    try:
        yield harness
    finally:
        bot.stop()
        harness.state.jobs.close()
        api.stop()
        shutil.rmtree(seen_dir, ignore_errors=True)
