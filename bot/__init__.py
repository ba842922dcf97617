"""The edges: the Webex bot (Flask app factory), the ``hcdoctor`` CLI and the local sandbox.

``create_app`` imports Flask only when called, so the CLI starts fast.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(config=None):
    """The Flask app that serves ``POST /webhook``, ``GET /healthz`` and the ``/kb`` pages."""
    from bot.app import create_app as _create_app

    return _create_app(config)
