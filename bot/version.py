"""The version people see in ``hcdoctor --version`` and the bot's ``version`` command."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def version_text() -> str:
    try:
        v = version("hybridcall-doctor")
    except PackageNotFoundError:
        v = "unknown (not installed)"
    return f"hybridcall-doctor {v}"
