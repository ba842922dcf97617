"""Result types shared by every analyzer and the live checks.

One ``Finding`` type serves pcaps, logs, configs, bundles and live checks, so the
CLI, the bot and the JSON contract render them all the same way. Each type's
``to_dict`` is exactly the shape written in CONTRACT.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Confidence = Literal["high", "medium", "low"]
Status = Literal["pass", "fail", "warn", "skip"]

CONFIDENCE_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class Evidence:
    """Where a fact was seen: ``location`` is for people (``line 812``, ``frame 45``, ``step tls``)."""

    file: str
    location: str
    text: str

    def to_dict(self) -> dict:
        return {"file": self.file, "location": self.location, "text": self.text}


@dataclass(frozen=True)
class Observation:
    """One fact an analyzer saw, named by a code from ``kb/observations.yaml``.

    Observations carry no judgement: ``checks.diagnose`` turns them into findings
    with the signature rules in the articles' front matter.

    ``scope`` names the one connection the fact belongs to (a capture's TCP stream,
    a live endpoint). A rule that combines several codes fires only on facts from a
    single scope, or unscoped ones (a log line, a config value), so two different
    failing connections in one capture are never mixed into a third diagnosis.
    """

    code: str
    evidence: tuple[Evidence, ...]
    facts: tuple[tuple[str, str], ...] = ()
    scope: str = ""

    def fact(self, name: str, default: str = "") -> str:
        return dict(self.facts).get(name, default)


@dataclass(frozen=True)
class Finding:
    issue: str
    title: str
    confidence: Confidence
    summary: str
    alternatives: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict:
        return {
            "issue": self.issue,
            "title": self.title,
            "confidence": self.confidence,
            "summary": self.summary,
            "alternatives": list(self.alternatives),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class Timeline:
    """A short ordered story of one connection or call, for people (not part of the JSON contract).

    ``picture`` is an optional PNG ladder diagram (bytes) that the CLI writes with
    ``--ladder DIR`` and the bot attaches to its answer.
    """

    title: str
    lines: tuple[str, ...]
    picture: bytes | None = None


@dataclass(frozen=True)
class Observed:
    """What one analyzer saw in one input: facts for ``diagnose`` plus stories for people."""

    observations: tuple[Observation, ...] = ()
    timelines: tuple[Timeline, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputInfo:
    path: str
    kind: str

    def to_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind}


@dataclass(frozen=True)
class InputProblem:
    path: str
    error: str

    def to_dict(self) -> dict:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True)
class Report:
    """What ``checks.analyze`` returns for a set of files."""

    inputs: tuple[InputInfo, ...]
    findings: tuple[Finding, ...]
    errors: tuple[InputProblem, ...] = ()
    timelines: tuple[Timeline, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "inputs": [i.to_dict() for i in self.inputs],
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass(frozen=True)
class Step:
    name: str
    status: Status
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class CheckReport:
    """What ``checks.check`` returns for one target."""

    target: str
    steps: tuple[Step, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    timelines: tuple[Timeline, ...] = ()

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "steps": [s.to_dict() for s in self.steps],
            "findings": [f.to_dict() for f in self.findings],
        }
