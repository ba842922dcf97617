"""The Flask app factory: the only way to get the bot's WSGI app (``bot:create_app()`` in the Procfile).

Settings are read once here and handed to everything else; nothing is created at
import time, so tests build as many independent apps as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from bot.access import AllowList
from bot.jobs import RQJobs, ThreadJobs, runner
from bot.settings import Settings

log = logging.getLogger(__name__)

_SETTING_NAMES = {f.name for f in fields(Settings)}


@dataclass
class BotState:
    """Per-app state the webhook handler reads: settings, allow-list, job runner, the bot's own id."""

    settings: Settings
    allow: AllowList
    jobs: ThreadJobs | RQJobs
    bot_id: str = ""  # learned off the request path; lets the handler drop our own echoes early

    def learned(self, bot_id: str) -> None:
        self.bot_id = bot_id


def _settings(config: Settings | Mapping[str, Any] | None) -> tuple[Settings, dict[str, Any]]:
    if isinstance(config, Settings):
        return config, {}
    overrides = dict(config or {})
    ours = {k: overrides.pop(k) for k in list(overrides) if k in _SETTING_NAMES}
    return Settings.from_env().replace(**ours), overrides


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """``config`` is a ``Settings``, or a mapping of Settings field names (and Flask config keys) over the environment."""
    settings, flask_config = _settings(config)
    app = Flask("bot")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_webhook_bytes)
    app.config.update(flask_config)

    jobs = runner(settings)
    state = BotState(settings, AllowList.parse(settings.allowed), jobs)
    app.extensions["hcdoctor"] = state
    if not settings.webhook_secret:
        log.warning("WEBEX_WEBHOOK_SECRET is not set: every webhook will be refused with 403")
    if settings.access_token:
        jobs.warm(state.learned)  # jobs check the id again themselves; this only saves them the work

    from bot import webhook

    app.register_blueprint(webhook.bp)
    from bot import kb_pages

    kb_pages.register(app)  # GET /kb, /kb/<id> and the stylesheet under /assets/

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(status=exc.name.lower()), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error in a request")
        return jsonify(status="internal error"), 500

    return app
