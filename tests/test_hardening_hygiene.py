"""Hygiene: no token or secret in any log line or reply, no traceback or server path in a reply, uploads kept private and deleted.

The logs are captured at DEBUG for every logger (ours, requests/urllib3, webexpythonsdk,
werkzeug) while the bot runs its real flows end to end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
from pathlib import Path

import pytest

import checks
from bot.signature import sign
from bot.webex import register_webhooks
from kb.errors import InputError
from tests.support.webex_bot import running_bot
from tests.test_hardening_faults import LOG

SERVER_BITS = ("Traceback", 'File "', "/tmp/", "hcdoctor-in-", str(Path(__file__).resolve().parents[1]), "site-packages")


def _clean(text: str) -> bool:
    return not any(bit in text for bit in SERVER_BITS)


def _everything_posted(h) -> list[str]:
    out = []
    for m in h.sandbox.bot_messages():
        out.append(m.get("markdown") or m.get("text") or "")
        if m.get("attachments"):
            out.append(json.dumps(m["attachments"]))
        if m.get("_file") and m["_file"][0].endswith(".md"):
            out.append(m["_file"][1].decode())
    return out


def test_tokens_and_secrets_never_reach_a_log_line_or_a_reply(caplog):
    caplog.set_level(logging.DEBUG)
    with running_bot(rate_person=2, check_private=True, check_timeout=1.0) as h:
        token, secret = h.settings.access_token, h.settings.webhook_secret
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, "sslv3 alert certificate unknown")
        h.sandbox.say(ann, room, files=[("expe.log", LOG)])
        h.sandbox.say(ann, room, "check 127.0.0.1:5062")
        h.sandbox.say(ann, room, "version")  # over the limit of 2: the notice
        h.sandbox.fail(r"^/v1/messages/", 404, method="GET")
        bob = h.person("bob@example.com", "Bob")
        h.sandbox.say(bob, h.direct(bob), "help")  # a job that fails
        h.post_raw(b'{"forged": true}', "0" * 40)  # a forged webhook is logged
        h.post_raw(b'{"forged": true}', sign("wrong-" + secret, b'{"forged": true}'))
        list(register_webhooks(h.settings, h.bot.url + "/webhook"))
        h.idle(30)
        records = [r for r in caplog.records]
        assert len(records) > 20  # the flows really logged
        logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in records)
        for value in (token, secret, f"Bearer {token}"):
            assert value not in logged
        posted = _everything_posted(h)
        assert len(posted) >= 5
        assert not [p for p in posted if token in p or secret in p]


@pytest.mark.parametrize("exc_kind", ["bug", "input"])
def test_a_job_that_raises_answers_one_line_without_traceback_or_paths(monkeypatch, caplog, exc_kind):
    seen_paths: list[str] = []

    def analyze(paths, *args, **kwargs):
        seen_paths.extend(paths)
        if exc_kind == "bug":
            raise RuntimeError(f"unexpected state in {paths[0]} at {__file__}")
        raise InputError(f"{paths[0]}: truncated record at byte 12")

    monkeypatch.setattr(checks, "analyze", analyze)
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, files=[("expe.log", LOG)])
        h.idle(20)
        (answer,) = h.answers(room)
        text = answer["markdown"]
        assert "\n" not in text and _clean(text), text
        if exc_kind == "bug":
            assert "could not finish" in text
            assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)  # the log keeps it
        else:
            assert text.startswith("I could not read `expe.log`: expe.log: truncated record")
        assert seen_paths and all("hcdoctor-in-" in p for p in seen_paths)


def test_report_text_naming_temp_paths_is_scrubbed_before_posting(monkeypatch):
    real = checks.analyze

    def analyze(paths, *args, **kwargs):
        report = real(paths, *args, **kwargs)
        return dataclasses.replace(report, warnings=(*report.warnings, f"{paths[0]} was read in part"))

    monkeypatch.setattr(checks, "analyze", analyze)
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, files=[("expe.log", LOG)])
        h.idle(20)
        posted = _everything_posted(h)
        assert any("expe.log was read in part" in p for p in posted)
        assert all(_clean(p) for p in posted), posted


def test_uploads_live_in_a_private_folder_that_is_deleted_after_analysis(monkeypatch):
    real = checks.analyze
    seen: list[tuple[Path, int, int, bool]] = []

    def analyze(paths, *args, **kwargs):
        folder = Path(paths[0]).parent
        seen.append((folder, stat.S_IMODE(folder.stat().st_mode), stat.S_IMODE(Path(paths[0]).stat().st_mode),
                     folder.stat().st_uid == os.getuid()))
        if len(seen) == 2:
            raise RuntimeError("the second analysis fails")
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(checks, "analyze", analyze)
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, files=[("expe.log", LOG)])
        h.idle(20)
        h.sandbox.say(ann, room, files=[("again.log", LOG)])
        h.idle(20)
    assert len(seen) == 2
    for folder, folder_mode, file_mode, ours in seen:
        assert folder.name.startswith("hcdoctor-in-") and folder_mode == 0o700 and file_mode == 0o600 and ours
        assert not folder.exists()  # deleted after the analysis, and after the failed one too
