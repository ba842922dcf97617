"""Results -> what the bot posts: Webex Markdown within the message limit, Adaptive Cards, files.

Pure: takes hits, articles and reports, returns ``Reply`` values; posting them is
``bot.jobs``'s business. Webex allows one file and one card per message and
7439 bytes of Markdown, so a ``Reply`` keeps the three apart and the job posts
each in the thread.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import kb
from bot.settings import MESSAGE_LIMIT_BYTES
from checks.model import CheckReport, Finding, Report

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
REPORT_FILE = "hcdoctor-report.md"
MAX_PICTURES = 3  # each picture is its own message; more would flood the thread
MAX_CARD_FIXES = 3  # Webex cards take at most five buttons: fixes + "Check this host"
MAX_EVIDENCE_PER_FINDING = 5
MAX_SNIPPET = 240
MARK = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "➖"}

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_ACTIVE = re.compile(r"([\\*_\[\]<>#|~])")
# a line that starts a block of its own: heading, list item, table row, quote, fence
_BLOCK_START = re.compile(r"^(#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s|\||>|```)")
_HOST = r"(\[[0-9a-fA-F:]+\]|\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_HOSTPORT = re.compile(_HOST + r":(\d{2,5})\b")
_EXPRESSWAY_HOSTPORT = re.compile(_HOST + r":(\d{2,5}) \(Expressway")
_EXPRESSWAY_HOST = re.compile(_HOST + r" \(Expressway")


@dataclass(frozen=True)
class FileOut:
    name: str
    data: bytes


@dataclass(frozen=True)
class Reply:
    """One answer: ``markdown`` is the message; ``card`` and each file go out as their own threaded messages."""

    markdown: str
    card: dict | None = None
    files: tuple[FileOut, ...] = field(default=())


def code(text: str, limit: int = MAX_SNIPPET) -> str:
    """Inline code that survives any input: no backticks or newlines, bounded length."""
    flat = " ".join(str(text).replace("`", "'").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f"`{flat}`" if flat else "``"


def _plain(text: str) -> str:
    """Text from people or logs shown outside code: Markdown's active characters neutralised.

    Backtick spans are already code, where Webex shows every character as typed, so
    they are left alone: escaping there would show a stray backslash
    (``hcdoctor check \\<sip-destination\\>``).
    """
    parts = _CODE_SPAN.split(" ".join(str(text).split()))
    return "".join(p if i % 2 else _ACTIVE.sub(r"\\\1", p) for i, p in enumerate(parts))


def unwrap(markdown: str) -> str:
    """Join the hard-wrapped lines of each paragraph and list item (Webex shows every newline as a break).

    Blank lines, headings, list items, tables, quotes and fenced code keep their own
    lines; only a line that continues the one before it is joined to it.
    """
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            out.append(line)
            continue
        if fenced or not stripped:
            out.append(line)
            continue
        prev = out[-1].strip() if out else ""
        joins = (prev and not _BLOCK_START.match(stripped) and not prev.startswith(("#", "|", "```"))
                 and not line.startswith("    "))
        if joins:
            out[-1] = out[-1].rstrip() + " " + stripped
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def article_link(art_id: str, title: str, public_url: str) -> str:
    if public_url:
        return f"[{_plain(title)}]({public_url}/kb/{art_id})"
    return f"**{_plain(title)}**"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB" if n >= 10 * 1024 * 1024 else f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} kB"
    return f"{n} bytes"


def progress(files: Sequence[tuple[str, int | None]]) -> str:
    """The message posted at once for slow work, later edited into the answer."""
    parts = [f"{_plain(name)} ({_size(size)})" if size is not None else _plain(name) for name, size in files]
    return f"Analyzing {', '.join(parts)}…"


def checking(target: str) -> str:
    return f"Checking {code(target)} the way Webex would reach it…"


HELP = """**hybridcall-doctor** diagnoses Webex Hybrid Call Service Connect (Unified CM, Expressway-C/E, Webex over mutual TLS on TCP 5062).

- **Describe the symptom or paste an error line**: I answer with the documented issue, its fix and two runners-up.
- **Attach a file** (Expressway diagnostic log or bundle, xConfiguration, Unified CM SDL trace, packet capture): I analyze it and post the diagnosis.
- `show <id>`: one knowledge-base article, whole.
- `check <destination>`: live checks of a SIP destination as Webex reaches it (a domain, host:port or ip:port).
- `version`: which build is answering.
- `help`: this message.

In a group space, mention me first."""


def help_reply() -> Reply:
    return Reply(HELP)


def search_reply(query: str, hits: Sequence, public_url: str = "") -> Reply:
    """The best article with its fix, and two runners-up."""
    if not hits:
        return Reply(f"No documented issue matches {code(query, 120)}. Try other words, or paste the whole "
                     "log line; `help` lists what else I can do.")
    best, rest = hits[0], list(hits[1:3])
    art = kb.get(best.issue)
    lines = [f"{article_link(art.id, art.title, public_url)} ({code(art.id)})", "", _plain(art.summary)]
    if getattr(best, "snippet", ""):
        # the snippet is article text with the matched words already in **bold**
        lines += ["", "Matched: …" + " ".join(best.snippet.split())[:MAX_SNIPPET] + "…"]
    lines += ["", "**Fix**"] + [f"{n}. {_plain(step)}" for n, step in enumerate(art.fix, 1)]
    if rest:
        lines += ["", "**Also possible**"]
        lines += [f"- {article_link(h.issue, h.title, public_url)} ({code(h.issue)})" for h in rest]
    lines += ["", f"_Whole article: `show {art.id}`_"]
    return Reply("\n".join(lines))


def article_reply(art, public_url: str = "") -> Reply:
    lines = [f"## {_plain(art.title)}", f"{code(art.id)} · {_plain(art.guide_section)}", "", _plain(art.summary), "",
             unwrap(art.body.strip())]
    if "## Fix" not in art.body:
        lines += ["", "## Fix"] + [f"{n}. {_plain(s)}" for n, s in enumerate(art.fix, 1)]
    if art.confused_with:
        lines += ["", "**Often confused with**"]
        lines += [f"- {code(c.issue)}: {_plain(c.tell_apart)}" for c in art.confused_with]
    if public_url:
        lines += ["", f"[Open in the browser]({public_url}/kb/{art.id})"]
    return fitted(Reply("\n".join(lines)), f"{art.id}.md")


def fix_reply(art, public_url: str = "") -> Reply:
    lines = [f"**Fix for {article_link(art.id, art.title, public_url)}**", ""]
    lines += [f"{n}. {_plain(s)}" for n, s in enumerate(art.fix, 1)]
    if art.verify:
        lines += ["", "**Verify**"] + [f"- {_plain(v)}" for v in art.verify]
    return fitted(Reply("\n".join(lines)), f"{art.id}-fix.md")


def _article_or_none(issue: str):
    try:
        return kb.get(issue)
    except kb.UnknownArticle:
        return None


def _finding_lines(f: Finding, public_url: str) -> list[str]:
    art = _article_or_none(f.issue)
    lines = [f"### ❌ {article_link(f.issue, f.title, public_url)} ({code(f.issue)}), confidence {f.confidence}",
             _plain(f.summary)]
    if f.evidence:
        lines += ["", "**Evidence**"]
        for e in f.evidence[:MAX_EVIDENCE_PER_FINDING]:
            lines.append(f"- {_plain(PurePath(e.file).name)} {_plain(e.location)}: {code(e.text)}")
        if len(f.evidence) > MAX_EVIDENCE_PER_FINDING:
            lines.append(f"- …and {len(f.evidence) - MAX_EVIDENCE_PER_FINDING} more")
    if art and art.fix:
        lines += ["", "**Fix**"] + [f"{n}. {_plain(s)}" for n, s in enumerate(art.fix, 1)]
    if f.alternatives:
        lines += ["", "**The same evidence also fits**"]
        for alt in f.alternatives:
            tell = art.tell_apart(alt) if art else ""
            lines.append(f"- {code(alt)}" + (f": {_plain(tell)}" if tell else ""))
    return lines + [""]


def find_host(findings: Sequence[Finding], timelines: Sequence = ()) -> str:
    """The Expressway's address:port the evidence names, to prefill "Check this host".

    Capture evidence names the Expressway side by address alone ("172.16.2.2
    (Expressway side) sent its Certificate", at "frame 6"); its port is in the
    flow's timeline title, so that side's address:port is looked up there. Failing
    that, any host:port of the evidence (a log's peer) will do.
    """
    evidence = [t for f in findings for e in f.evidence for t in (e.location, e.text) if t]
    titles = [t.title for t in timelines if getattr(t, "title", "")]
    for text in evidence + titles:
        if m := _EXPRESSWAY_HOSTPORT.search(text):
            return f"{m.group(1)}:{m.group(2)}"
    sides = [m.group(1) for text in evidence if (m := _EXPRESSWAY_HOST.search(text))]
    for side in sides:
        for text in evidence + titles:
            for m in _HOSTPORT.finditer(text):
                if m.group(1) == side:
                    return f"{side}:{m.group(2)}"
    for text in evidence:
        if m := _HOSTPORT.search(text):
            return f"{m.group(1)}:{m.group(2)}"
    return sides[0] if sides else ""


def diagnosis_card(findings: Sequence[Finding], seen_in: str, host: str = "") -> dict:
    """Adaptive Card 1.3 for the best finding, with a button per fix and one to check a host."""
    best = findings[0]
    body: list[dict] = [
        {"type": "TextBlock", "text": best.title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [
            {"title": "Issue", "value": best.issue},
            {"title": "Confidence", "value": best.confidence},
            {"title": "Seen in", "value": seen_in[:200]},
        ]},
        {"type": "TextBlock", "text": best.summary[:600], "wrap": True},
    ]
    if len(findings) > 1:
        others = ", ".join(f.issue for f in findings[1:])
        body.append({"type": "TextBlock", "text": f"Also found: {others}"[:400], "wrap": True, "isSubtle": True})
    body.append({"type": "Input.Text", "id": "target", "label": "SIP destination to check",
                 "placeholder": "expe.example.com or host:5062", "value": host})
    actions = [{"type": "Action.Submit", "title": "Show the fix" if i == 0 else f"Fix: {f.issue}"[:40],
                "data": {"hcd": "fix", "issue": f.issue}} for i, f in enumerate(findings[:MAX_CARD_FIXES])]
    actions.append({"type": "Action.Submit", "title": "Check this host", "data": {"hcd": "check"}})
    return {"contentType": CARD_TYPE, "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
        "version": "1.3", "body": body, "actions": actions}}


def _pictures(timelines) -> tuple[FileOut, ...]:
    pics = [t.picture for t in timelines if t.picture]
    return tuple(FileOut(f"ladder-{n}.png", p) for n, p in enumerate(pics[:MAX_PICTURES], 1))


def report_reply(report: Report, public_url: str = "") -> Reply:
    names = ", ".join(f"{PurePath(i.path).name} ({i.kind})" for i in report.inputs) or "the upload"
    lines: list[str] = []
    if report.findings:
        lines += [f"**Diagnosis of {_plain(names)}**", ""]
        for f in report.findings:
            lines += _finding_lines(f, public_url)
    else:
        lines += [f"No documented fault found in {_plain(names)}.", ""]
    for t in report.timelines:
        if t.lines:
            lines += [f"**Timeline: {_plain(t.title)}**", "```", *[ln.replace("```", "'''") for ln in t.lines], "```", ""]
    lines += [f"⚠️ {_plain(w)}" for w in report.warnings]
    lines += [f"⚠️ {_plain(PurePath(e.path).name)}: {_plain(e.error)}" for e in report.errors]
    card = diagnosis_card(report.findings, names, find_host(report.findings, report.timelines)) if report.findings else None
    return fitted(Reply("\n".join(lines).strip(), card, _pictures(report.timelines)))


def check_reply(report: CheckReport, public_url: str = "") -> Reply:
    lines = [f"**Checking {code(report.target)}**", ""]
    lines += [f"- {MARK.get(s.status, '•')} **{_plain(s.name)}**: {_plain(s.detail)}" for s in report.steps]
    lines.append("")
    if report.findings:
        for f in report.findings:
            lines += _finding_lines(f, public_url)
    else:
        lines.append("No documented fault found from here.")
    card = diagnosis_card(report.findings, f"live check of {report.target}", report.target) if report.findings else None
    return fitted(Reply("\n".join(lines).strip(), card, _pictures(report.timelines)))


def fitted(reply: Reply, file_name: str = REPORT_FILE, limit: int = MESSAGE_LIMIT_BYTES) -> Reply:
    """``reply`` with its Markdown inside Webex's limit.

    A longer text keeps its beginning (cut at a line, code fences closed) with a
    note, and the whole text goes along as a Markdown file, so nothing is lost.
    """
    data = reply.markdown.encode("utf-8")
    if len(data) <= limit:
        return reply
    note = f"\n\n_This answer is longer than a Webex message; the whole of it is attached as {file_name}._"
    budget = limit - len(note.encode("utf-8")) - 8  # room for a closing fence
    head = data[:budget].decode("utf-8", errors="ignore")
    cut = head.rfind("\n")
    head = head[:cut] if cut > 0 else head
    if head.count("```") % 2:
        head += "\n```"
    short = head.rstrip() + note
    return Reply(short, reply.card, (FileOut(file_name, data), *reply.files))


_ROOTS = tuple(dict.fromkeys(r.rstrip("/") for r in (tempfile.gettempdir(), "/tmp", sys.prefix,
                                                    str(PurePath(__file__).parents[1])) if r and r != "/"))
_SERVER_PATH = re.compile(r"(?<![\w/.:~-])(?:" + "|".join(re.escape(r) for r in _ROOTS) + r")(?:/[^\s`'\"<>()\[\]|,;]*)?")


def scrub_paths(text: str, private: Iterable[str] = ()) -> str:
    """``text`` without this server's paths: a temp folder, the install or the checkout becomes the file's name.

    Analyzer messages and timeline titles name the uploaded file by its full path
    in our private temp folder; people need only the name, and nobody in a space
    needs to learn where the bot keeps its files.
    """
    for folder in private:
        text = text.replace(folder.rstrip("/") + "/", "")
    return _SERVER_PATH.sub(lambda m: PurePath(m.group(0)).name or "(server path)", text)


def scrubbed(reply: Reply, private: Iterable[str] = ()) -> Reply:
    """``reply`` with ``scrub_paths`` applied to its text, its card and its Markdown attachments."""
    private = tuple(private)
    card = json.loads(scrub_paths(json.dumps(reply.card), private)) if reply.card else None
    files = tuple(FileOut(f.name, scrub_paths(f.data.decode("utf-8"), private).encode("utf-8"))
                  if f.name.endswith(".md") else f for f in reply.files)
    return Reply(scrub_paths(reply.markdown, private), card, files)


def card_fallback(card: dict) -> str:
    """The text clients without card support (and notifications) show instead of the card."""
    content = card.get("content", {})
    title = next((b.get("text", "") for b in content.get("body", []) if b.get("type") == "TextBlock"), "")
    return f"Diagnosis card: {title}" if title else "Diagnosis card"

