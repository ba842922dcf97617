"""Errors of the analyzers and live checks, rooted in the project's one tree (``kb.errors``).

A diagnosed fault is never an exception: it is a ``Finding`` in a report. These
classes are for inputs we cannot read and probes we are not allowed to run.
"""

from __future__ import annotations

from kb.errors import HcdError, InputError

__all__ = ["HcdError", "InputError", "CheckError", "RefusedTarget"]


class CheckError(HcdError):
    """A live check could not run at all (bad target syntax, resolver unusable)."""


class RefusedTarget(CheckError):
    """The target is not one we may probe (private address, port not allowed, too many targets)."""
