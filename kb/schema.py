"""The one definition of what an article's front matter may hold.

Articles are detection knowledge as data (in the spirit of Sigma rules): search
reads ``title``/``symptoms``/``log_signatures``; diagnosis reads ``signatures``
and ``confused_with``. Validating them here, once, is what lets a new issue be
just a new file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AREAS = ("tls", "inbound", "outbound", "both", "tool")
DIRECTIONS = ("inbound", "outbound", "both", "none")
CONFIDENCES = ("high", "medium", "low")

# key -> (type, required for faults, required for tools)
_LIST = list
FIELDS: dict[str, tuple[type, bool, bool]] = {
    "id": (str, True, True),
    "title": (str, True, True),
    "area": (str, True, True),
    "direction": (str, True, True),
    "guide_section": (str, True, True),
    "summary": (str, True, True),
    "symptoms": (_LIST, True, True),
    "log_signatures": (_LIST, True, False),
    "capture_evidence": (_LIST, True, False),
    "config_evidence": (_LIST, True, False),
    "confused_with": (_LIST, True, False),
    "fix": (_LIST, True, True),
    "verify": (_LIST, True, False),
    "signatures": (_LIST, True, False),
    "unconfirmed": (_LIST, False, False),
    "references": (_LIST, False, False),
}


@dataclass(frozen=True)
class Rule:
    """Fires when every ``when`` code was observed and no ``unless`` code was."""

    when: tuple[str, ...]
    confidence: str
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class Confusion:
    issue: str
    tell_apart: str


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    area: str
    direction: str
    guide_section: str
    summary: str
    symptoms: tuple[str, ...]
    log_signatures: tuple[str, ...]
    capture_evidence: tuple[str, ...]
    config_evidence: tuple[str, ...]
    confused_with: tuple[Confusion, ...]
    fix: tuple[str, ...]
    verify: tuple[str, ...]
    signatures: tuple[Rule, ...]
    unconfirmed: tuple[str, ...]
    references: tuple[str, ...]
    body: str
    front_matter: dict[str, Any]

    def tell_apart(self, other: str) -> str:
        return next((c.tell_apart for c in self.confused_with if c.issue == other), "")


def validate(fm: dict[str, Any], known_codes: set[str]) -> list[str]:
    """Problems with one article's front matter, each a short phrase; empty when valid.

    Cross-article checks (ids resolve, ids match file names) are done by the loader,
    which sees every article.
    """
    problems: list[str] = []
    if not isinstance(fm, dict):
        return ["front matter is not a mapping"]
    is_tool = fm.get("area") == "tool"
    for key in fm:
        if key not in FIELDS:
            problems.append(f"unknown key {key!r}")
    for key, (typ, need_fault, need_tool) in FIELDS.items():
        required = need_tool if is_tool else need_fault
        if key not in fm:
            if required:
                problems.append(f"missing key {key!r}")
            continue
        value = fm[key]
        if not isinstance(value, typ):
            problems.append(f"{key!r} must be a {typ.__name__}")
            continue
        if typ is str and not value.strip():
            problems.append(f"{key!r} is empty")
        if typ is list and key not in ("confused_with", "signatures"):
            if any(not isinstance(v, str) or not v.strip() for v in value):
                problems.append(f"{key!r} must be a list of non-empty strings")
            elif required and not value and key not in ("log_signatures", "capture_evidence", "config_evidence"):
                problems.append(f"{key!r} is empty")
    if fm.get("area") not in AREAS:
        problems.append(f"'area' must be one of {', '.join(AREAS)}")
    if fm.get("direction") not in DIRECTIONS:
        problems.append(f"'direction' must be one of {', '.join(DIRECTIONS)}")
    if not is_tool and isinstance(fm.get("symptoms"), list) and len(fm["symptoms"]) < 3:
        problems.append("'symptoms' needs at least 3 phrasings")
    for i, c in enumerate(fm.get("confused_with") or []):
        if not isinstance(c, dict) or set(c) != {"id", "tell_apart"} or not all(
            isinstance(v, str) and v.strip() for v in c.values()
        ):
            problems.append(f"confused_with[{i}] must have exactly 'id' and 'tell_apart' strings")
    for i, r in enumerate(fm.get("signatures") or []):
        if not isinstance(r, dict) or not set(r) <= {"when", "unless", "confidence"}:
            problems.append(f"signatures[{i}] may hold only 'when', 'unless', 'confidence'")
            continue
        if r.get("confidence") not in CONFIDENCES:
            problems.append(f"signatures[{i}].confidence must be one of {', '.join(CONFIDENCES)}")
        when = r.get("when")
        if not isinstance(when, list) or not when:
            problems.append(f"signatures[{i}].when must be a non-empty list of codes")
            continue
        for code in list(when) + list(r.get("unless") or []):
            if code not in known_codes:
                problems.append(f"signatures[{i}] uses unknown observation code {code!r}")
    return problems


def build(fm: dict[str, Any], body: str) -> Article:
    """An ``Article`` from front matter that ``validate`` accepted."""

    def strings(key: str) -> tuple[str, ...]:
        return tuple(fm.get(key) or ())

    return Article(
        id=fm["id"],
        title=fm["title"],
        area=fm["area"],
        direction=fm["direction"],
        guide_section=fm["guide_section"],
        summary=fm["summary"].strip(),
        symptoms=strings("symptoms"),
        log_signatures=strings("log_signatures"),
        capture_evidence=strings("capture_evidence"),
        config_evidence=strings("config_evidence"),
        confused_with=tuple(Confusion(c["id"], c["tell_apart"].strip()) for c in fm.get("confused_with") or ()),
        fix=strings("fix"),
        verify=strings("verify"),
        signatures=tuple(
            Rule(tuple(r["when"]), r["confidence"], tuple(r.get("unless") or ())) for r in fm.get("signatures") or ()
        ),
        unconfirmed=strings("unconfirmed"),
        references=strings("references"),
        body=body,
        front_matter=fm,
    )
