"""Analyzers (files -> findings) and live checks (target -> findings).

Front doors: ``analyze(paths, kind="auto")`` and ``check(target, ...)``. Both are
imported lazily so that ``hcdoctor search`` starts without dpkt, cryptography or
dnspython.
"""

from __future__ import annotations

from checks.errors import CheckError, HcdError, InputError, RefusedTarget
from checks.model import CheckReport, Evidence, Finding, Observation, Report, Step, Timeline

__all__ = [
    "CheckError", "CheckReport", "Evidence", "Finding", "HcdError", "InputError", "Observation",
    "RefusedTarget", "Report", "Step", "Timeline", "analyze", "check", "KINDS",
]

KINDS = ("auto", "pcap", "log", "xconf", "sdl", "netstat", "bundle")


def analyze(paths, kind: str = "auto", progress=None) -> Report:
    """Diagnose files (captures, logs, dumps, traces, bundles) as one body of evidence.

    ``progress(done_bytes, total_bytes)`` is called now and then on long inputs.
    """
    from checks.analysis import analyze as _analyze

    return _analyze(paths, kind=kind, progress=progress)


def check(target: str, **options) -> CheckReport:
    """Probe a SIP destination the way Webex would reach it; see ``checks.live.check``."""
    from checks.live import check as _check

    return _check(target, **options)
