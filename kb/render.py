"""Articles (and chat Markdown) as HTML, for the ``/kb`` pages and the demo chat page.

Pure: text in, HTML out; callers pass whatever other articles' titles a page
should show, so this module never loads anything itself.

Markdown is converted with the ``markdown`` package with raw HTML switched off:
article bodies are ours, but chat messages quote people and log lines, and
``<sip-destination>`` or a pasted ``<script>`` must show as text, not become
markup. Links are kept only for web, mail and page-relative targets for the
same reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html import escape
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from kb.schema import Article

SAFE_LINK = re.compile(r"^(?:https?://|mailto:|/|#|\.{0,2}/)", re.IGNORECASE)
MAX_HEADING = 6


class _Tidy(Treeprocessor):
    """Drops unsafe link targets, opens web links in a new tab, and moves headings down a level when asked."""

    def __init__(self, md, shift: int):
        super().__init__(md)
        self.shift = shift

    def run(self, root: Element) -> None:
        for el in root.iter():
            if el.tag == "a":
                href = el.get("href", "")
                if not SAFE_LINK.match(href):
                    el.attrib.pop("href", None)
                elif href.lower().startswith(("http://", "https://")):
                    el.set("rel", "noopener noreferrer")
            elif self.shift and re.fullmatch(r"h[1-6]", el.tag):
                el.tag = f"h{min(int(el.tag[1]) + self.shift, MAX_HEADING)}"


class _NoRawHtml(Extension):
    def __init__(self, shift: int = 0):
        super().__init__()
        self.shift = shift

    def extendMarkdown(self, md) -> None:  # noqa: N802 (the markdown package's name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_Tidy(md, self.shift), "hcd_tidy", 0)


_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+\S")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def _chat_blocks(text: str) -> str:
    """Webex starts a list right under a line of text; Python-Markdown wants a blank line first."""
    out: list[str] = []
    in_fence = False
    prev = ""
    for line in text.split("\n"):
        if _FENCE.match(line):
            if not in_fence and prev.strip():
                out.append("")
            in_fence = not in_fence
        elif not in_fence and _LIST_ITEM.match(line) and prev.strip() and not _LIST_ITEM.match(prev):
            out.append("")
        out.append(line)
        prev = line
    return "\n".join(out)


def markdown_html(text: str, *, chat: bool = False, shift_headings: int = 0) -> str:
    """Markdown to an HTML fragment, raw HTML shown as text.

    ``chat`` reads the text the way Webex clients draw a message: a single line
    break is a break, and a list may follow a line of text directly.
    """
    extensions: list = ["fenced_code", "sane_lists", _NoRawHtml(shift_headings)]
    if chat:
        extensions.append("nl2br")
        text = _chat_blocks(text)
    return markdown.Markdown(extensions=extensions, output_format="html").convert(text)


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def plain_html(text: str) -> str:
    """A front-matter string as HTML: plain text except `code` spans.

    Front matter is written as plain text (regular expressions and menu paths
    such as ``.*@.*\\.ciscospark\\.com`` must survive as typed); backticks are the
    one mark-up it uses, as in the bot's chat answers.
    """
    parts = _CODE_SPAN.split(text)
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p, quote=False) for i, p in enumerate(parts))


def snippet_html(snippet: str) -> str:
    """A search snippet (matched words between ``**``, as ``kb.search`` marks them) with the matches highlighted."""
    parts = snippet.split("**")
    if len(parts) % 2 == 0:  # an unpaired marker: show the text as it is
        return escape(snippet, quote=False)
    return "".join(f"<mark>{escape(p, quote=False)}</mark>" if i % 2 else escape(p, quote=False)
                   for i, p in enumerate(parts))


def article_url(issue_id: str) -> str:
    return f"/kb/{issue_id}"


def _section(title: str, inner: str, cls: str) -> str:
    return f'<section class="{cls}">\n<h2>{escape(title)}</h2>\n{inner}\n</section>'


def _items(values, tag: str = "ul") -> str:
    lis = "\n".join(f"<li>{plain_html(v)}</li>" for v in values)
    return f"<{tag}>\n{lis}\n</{tag}>"


def article_html(
    art: Article,
    titles: Mapping[str, str] | None = None,
    link: Callable[[str], str] = article_url,
) -> str:
    """The whole article as an HTML fragment: the front matter laid out for a reader, then the body.

    Order follows what a reader comes for: what it is, the fix and how to verify
    it, how to recognise it, what it is often confused with, then the longer
    explanation. ``titles`` maps other article ids to titles for the
    ``confused_with`` links (ids are shown when a title is unknown).
    """
    titles = titles or {}
    parts = [
        f'<header class="article-head">\n<h1>{escape(art.title)}</h1>',
        '<p class="meta">'
        f'<code class="issue-id">{escape(art.id)}</code> · {escape(art.guide_section)} · '
        f'area <span class="tag">{escape(art.area)}</span> · direction <span class="tag">{escape(art.direction)}</span>'
        "</p>",
        f'<p class="summary">{plain_html(art.summary)}</p>\n</header>',
    ]
    if art.fix:
        parts.append(_section("Fix", _items(art.fix, "ol"), "fix"))
    if art.verify:
        parts.append(_section("Verify", _items(art.verify), "verify"))
    recognise = []
    if art.symptoms:
        recognise.append("<h3>What people report</h3>\n" + _items(art.symptoms))
    if art.log_signatures:
        sigs = "\n".join(f"<li><code>{escape(s)}</code></li>" for s in art.log_signatures)
        recognise.append(f'<h3>Log signatures</h3>\n<ul class="signatures">\n{sigs}\n</ul>')
    if art.capture_evidence:
        recognise.append("<h3>In a packet capture</h3>\n" + _items(art.capture_evidence))
    if art.config_evidence:
        recognise.append("<h3>In the configuration</h3>\n" + _items(art.config_evidence))
    if recognise:
        parts.append(_section("How to recognise it", "\n".join(recognise), "recognise"))
    if art.confused_with:
        rows = "\n".join(
            f'<li><a href="{escape(link(c.issue))}">{escape(titles.get(c.issue, c.issue))}</a> '
            f"(<code>{escape(c.issue)}</code>): {plain_html(c.tell_apart)}</li>"
            for c in art.confused_with
        )
        parts.append(_section("Often confused with", f'<ul class="confused">\n{rows}\n</ul>', "confused"))
    parts.append(_section("In depth", markdown_html(art.body, shift_headings=1), "body"))
    if art.unconfirmed:
        parts.append(_section("Not confirmed", _items(art.unconfirmed), "unconfirmed"))
    if art.references:
        parts.append(_section("References", _items(art.references), "references"))
    return "\n".join(parts) + "\n"
