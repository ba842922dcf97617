"""Plain-text rendering for a terminal. Pure: takes results, returns strings.

Chat Markdown lives in ``bot.replies``; JSON is each result's ``to_dict``.
"""

from __future__ import annotations

import textwrap
import time

import kb
from checks.model import CheckReport, Finding, Report

MARK = {"pass": "✔", "fail": "✖", "warn": "!", "skip": "-"}


def _wrap(text: str, indent: str = "    ") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


def render_hits(query: str, hits) -> str:
    if not hits:
        return f"No documented issue matches {query!r}. Try other words, or paste the whole log line."
    best, rest = hits[0], hits[1:]
    art = kb.get(best.issue)
    lines = [f"{art.title}  [{art.id}]  score {best.score:.1f}", _wrap(art.summary)]
    if best.snippet:
        lines += ["  matched: " + best.snippet]
    lines.append("  Fix:")
    lines += [_wrap(f"{n}. {step}", "    ") for n, step in enumerate(art.fix, 1)]
    if rest:
        lines.append("Also possible:")
        lines += [f"  - {h.title}  [{h.issue}]  score {h.score:.1f}" for h in rest]
    lines.append(f"Whole article: hcdoctor show {art.id}")
    return "\n".join(lines)


def render_article(art) -> str:
    lines = [art.title, "=" * min(len(art.title), 100), f"id: {art.id}   area: {art.area}   direction: {art.direction}"
             f"   guide: {art.guide_section}", "", art.summary, ""]
    lines.append(art.body.rstrip())
    if art.confused_with:
        lines += ["", "Often confused with:"]
        lines += [_wrap(f"- {c.issue}: {c.tell_apart}", "  ") for c in art.confused_with]
    if art.unconfirmed:
        lines += ["", "Not confirmed by any source we read:"]
        lines += [_wrap(f"- {u}", "  ") for u in art.unconfirmed]
    return "\n".join(lines)


def render_finding(f: Finding) -> list[str]:
    lines = [f"✖ {f.title}  [{f.issue}]  confidence {f.confidence}", _wrap(f.summary)]
    if f.evidence:
        lines.append("  Evidence:")
        for e in f.evidence:
            lines.append(_wrap(f"{e.file} {e.location}: {e.text}", "    "))
    try:
        fix = kb.get(f.issue).fix
    except kb.UnknownArticle:
        fix = ()
    if fix:
        lines.append("  Fix:")
        lines += [_wrap(f"{n}. {step}", "    ") for n, step in enumerate(fix, 1)]
    return lines


def render_report(report: Report, ladders: list[str] | None = None) -> str:
    lines: list[str] = []
    if report.findings:
        for f in report.findings:
            lines += render_finding(f) + [""]
    else:
        lines.append("No documented fault found in " + ", ".join(f"{i.path} ({i.kind})" for i in report.inputs) + ".")
    for t in report.timelines:
        lines.append(f"Timeline: {t.title}")
        lines += [f"  {line}" for line in t.lines]
        lines.append("")
    for w in report.warnings:
        lines.append(f"! {w}")
    for e in report.errors:
        lines.append(f"! {e.path}: {e.error}")
    for path in ladders or []:
        lines.append(f"ladder diagram written: {path}")
    return "\n".join(lines).rstrip() + "\n"


def render_check(report: CheckReport) -> str:
    lines = [f"Checking {report.target}"]
    for s in report.steps:
        lines.append(f"  {MARK[s.status]} {s.name}: {s.detail}")
    lines.append("")
    if report.findings:
        for f in report.findings:
            lines += render_finding(f) + [""]
    else:
        lines.append("No documented fault found from here.")
    return "\n".join(lines).rstrip() + "\n"


class ProgressBar:
    """Bytes-read progress on stderr; only on a terminal, at most ten redraws a second."""

    def __init__(self, stream):
        self.stream = stream
        self.last = 0.0
        self.drawn = False

    @classmethod
    def for_stream(cls, stream) -> "ProgressBar | None":
        return cls(stream) if hasattr(stream, "isatty") and stream.isatty() else None

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        frac = min(1.0, done / total) if total else 1.0
        width = 30
        filled = int(frac * width)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {frac:4.0%} {done / 1e6:8.1f} MB")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()
