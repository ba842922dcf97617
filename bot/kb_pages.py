"""The browsable knowledge base: ``GET /kb`` (every article by area, and search) and ``GET /kb/<id>``.

Answers in chat link here (``Settings.public_url`` + ``/kb/<id>``) so an
administrator can send a colleague a page instead of pasting the article.
Plain server-rendered HTML and one small stylesheet: the pages work with
JavaScript off and print cleanly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, Flask, redirect, render_template, request, url_for

import kb
from kb.render import article_html, snippet_html
from kb.schema import AREAS, Article

bp = Blueprint(
    "kb_pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)

AREA_TITLES = {
    "tls": "Mutual TLS between Expressway-E and Webex",
    "inbound": "Inbound calls (Webex to on-premises)",
    "outbound": "Outbound calls (on-premises to Webex)",
    "both": "Both directions",
    "tool": "How-tos: Expressway tools",
}
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class AreaGroup:
    area: str
    title: str
    articles: tuple[Article, ...]


def _natural(text: str) -> tuple:
    """"Issue 10" after "Issue 9": numbers in guide sections compare as numbers."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def grouped(arts: dict[str, Article]) -> list[AreaGroup]:
    """Articles by area in the schema's order, each area in the guide's order."""
    groups = []
    for area in AREAS:
        members = sorted((a for a in arts.values() if a.area == area), key=lambda a: (_natural(a.guide_section), a.id))
        if members:
            groups.append(AreaGroup(area, AREA_TITLES.get(area, area), tuple(members)))
    return groups


@bp.get("/kb")
def index():
    arts = kb.articles()
    query = request.args.get("q", "").strip()
    hits, error = [], ""
    if query:
        try:
            hits = kb.search(query, limit=SEARCH_LIMIT)
        except kb.InputError as exc:
            error = str(exc)
    status = 400 if error else 200
    results = [(h, snippet_html(h.snippet)) for h in hits]
    return render_template(
        "kb_index.html", groups=grouped(arts), count=len(arts), query=query, results=results, error=error
    ), status


@bp.get("/kb/<issue_id>")
def article(issue_id: str):
    try:
        art = kb.get(issue_id)
    except kb.UnknownArticle as exc:
        titles = {s: kb.articles()[s].title for s in exc.suggestions}
        return render_template("kb_missing.html", issue_id=issue_id, suggestions=titles), 404
    if art.id != issue_id:  # kb.get forgives case and spaces; links should not
        return redirect(url_for("kb_pages.article", issue_id=art.id), 301)
    titles = {a.id: a.title for a in kb.articles().values()}
    return render_template("kb_article.html", art=art, html=article_html(art, titles))


def register(app: Flask) -> None:
    """Mount the pages (and the shared stylesheet at ``/assets/``) on ``app``."""
    app.register_blueprint(bp)
