"""The browsable knowledge base (``/kb``, ``/kb/<id>``) through Flask's test client, and ``kb.render``."""

from __future__ import annotations

from html import escape, unescape
from html.parser import HTMLParser

import pytest
from flask import Flask

import kb
from bot import kb_pages
from kb.render import article_html, markdown_html, plain_html, snippet_html
from tests.conftest import SHARED

CATALOG = [line.split()[0] for line in (SHARED / "catalog.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")]


class _Page(HTMLParser):
    """Links, headings and the text of code elements: what the assertions below look at."""

    def __init__(self, html: str):
        super().__init__()
        self.links: list[str] = []
        self.codes: list[str] = []
        self.h1: list[str] = []
        self.tags: list[str] = []
        self._in: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a" and dict(attrs).get("href"):
            self.links.append(dict(attrs)["href"])
        if tag in ("code", "h1"):
            self._in.append(tag)
            getattr(self, "codes" if tag == "code" else "h1").append("")

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        for tag in self._in:
            lst = self.codes if tag == "code" else self.h1
            lst[-1] += data


@pytest.fixture(scope="module")
def client():
    app = Flask("kb_pages_test")
    app.config["TESTING"] = True
    kb_pages.register(app)
    return app.test_client()


def test_catalog_is_readable():
    assert len(CATALOG) == 21 and "mtls-incomplete-chain" in CATALOG


@pytest.mark.parametrize("issue_id", CATALOG)
def test_every_catalog_article_renders(client, issue_id):
    art = kb.get(issue_id)
    resp = client.get(f"/kb/{issue_id}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    page = _Page(html)
    assert [unescape(h).strip() for h in page.h1] == [art.title]
    text = unescape(html)
    assert art.summary.split()[0] in text
    for step in art.fix:
        assert escape(step.split("`")[0], quote=False) in html
    for sig in art.log_signatures:
        assert sig in page.codes, f"log signature {sig!r} is not shown as code"
    for other in art.confused_with:
        assert f"/kb/{other.issue}" in page.links
    if art.unconfirmed:
        assert "Not confirmed" in html
    # every link to another article resolves (no broken cross-references on the page)
    for link in {lnk for lnk in page.links if lnk.startswith("/kb/")}:
        assert client.get(link).status_code == 200, link
    assert "script" not in page.tags


def test_index_lists_every_article_grouped_by_area(client):
    resp = client.get("/kb")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    page = _Page(html)
    for issue_id in kb.articles():
        assert f"/kb/{issue_id}" in page.links
    # areas appear in the schema's order, each as its own section
    positions = [html.find(f'id="area-{g.area}"') for g in kb_pages.grouped(kb.articles())]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    assert html.find("/kb/mtls-webex-ca-untrusted") < html.find("/kb/mtls-incomplete-chain") < html.find(
        "/kb/mtls-default-self-signed-cert")
    assert '<form class="search"' in html and 'name="q"' in html


def test_guide_order_is_numeric():
    groups = {g.area: [a.guide_section for a in g.articles] for g in kb_pages.grouped(kb.articles())}
    assert groups["tls"] == [f"Mutual TLS Issue {n}" for n in range(1, 8)]


def test_unknown_id_is_404_with_suggestions(client):
    resp = client.get("/kb/mtls-incomplete-chian")
    assert resp.status_code == 404
    page = _Page(resp.get_data(as_text=True))
    assert "/kb/mtls-incomplete-chain" in page.links
    assert "mtls-incomplete-chian" in "".join(page.h1 + page.codes)


def test_unknown_id_without_close_ids_still_offers_search(client):
    resp = client.get("/kb/zzzz")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert "Did you mean" not in html
    assert 'name="q" value="zzzz"' in html


def test_id_in_other_case_redirects_to_canonical_url(client):
    resp = client.get("/kb/MTLS-Incomplete-Chain")
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith("/kb/mtls-incomplete-chain")


def test_search_box_finds_the_article_for_a_pasted_error(client):
    resp = client.get("/kb", query_string={"q": "Peer's TLS certificate identity was unacceptable"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    results = html[html.index('class="results"'):]
    first = _Page(results).links[0]
    assert first == "/kb/mtls-subject-name-mismatch"
    assert "score" in results
    assert "<mark>" in results and "**" not in results


def test_search_with_no_match_says_so(client):
    resp = client.get("/kb", query_string={"q": "qqqqxxxx zzzzyyyy"})
    assert resp.status_code == 200
    assert "No documented issue matches" in resp.get_data(as_text=True)


def test_search_rejects_an_oversized_query_in_one_line(client):
    resp = client.get("/kb", query_string={"q": "certificate " * 2000})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and "characters long" in html


def test_query_text_is_escaped(client):
    resp = client.get("/kb", query_string={"q": "<script>alert(1)</script> certificate"})
    html = resp.get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_stylesheet_is_served(client):
    resp = client.get("/assets/hcdoctor.css")
    assert resp.status_code == 200 and resp.mimetype == "text/css"
    assert b"article.kb-article" in resp.data


# kb.render on its own


def test_markdown_shows_raw_html_as_text():
    html = markdown_html("Run `check <host>` then <b>x</b>\n\n<script>alert(1)</script>")
    assert "<code>check &lt;host&gt;</code>" in html
    assert "<b>" not in html and "<script>" not in html and "&lt;script&gt;" in html


def test_markdown_drops_unsafe_link_targets():
    html = markdown_html("[a](javascript:alert(1)) [b](https://example.com/x) [c](/kb/x)")
    page = _Page(html)
    assert page.links == ["https://example.com/x", "/kb/x"]
    assert 'rel="noopener noreferrer"' in html


def test_chat_markdown_reads_lists_and_breaks_as_webex_does():
    html = markdown_html("**Fix**\n1. one\n2. two\n\nfirst\nsecond\n```\n<x>\n```", chat=True)
    assert "<ol>" in html and "<li>one</li>" in html
    assert "first<br>" in html
    assert "<pre><code>&lt;x&gt;" in html


def test_article_html_shifts_body_headings_below_the_page_title():
    art = kb.get("mtls-incomplete-chain")
    html = article_html(art, {"mtls-stale-controlhub-cert": "Stale certificate in Control Hub"})
    assert html.count("<h1>") == 1
    assert "<h3>What happens</h3>" in html
    assert '<a href="/kb/mtls-stale-controlhub-cert">Stale certificate in Control Hub</a>' in html
    # an id without a known title is still a working link, labelled by its id
    assert '<a href="/kb/mtls-default-self-signed-cert">mtls-default-self-signed-cert</a>' in html


def test_front_matter_text_is_plain_except_code_spans():
    html = plain_html(r"Pattern string .*@.*\.ciscospark\.com, then run `check <host>` & **not bold**")
    assert html == (r"Pattern string .*@.*\.ciscospark\.com, then run <code>check &lt;host&gt;</code> "
                    "&amp; **not bold**")


def test_snippet_highlights_matches_and_escapes_the_rest():
    assert snippet_html("a **<b>** c **d**") == "a <mark>&lt;b&gt;</mark> c <mark>d</mark>"
    assert snippet_html("odd ** marker") == "odd ** marker"


def test_the_bot_app_serves_the_pages_beside_the_webhook():
    from bot import create_app

    app = create_app({"webhook_secret": "kb-pages-test", "access_token": ""})
    c = app.test_client()
    assert c.get("/kb").status_code == 200
    assert c.get("/kb/mtls-incomplete-chain").status_code == 200
    assert c.get("/kb/no-such-issue").status_code == 404
    assert c.get("/assets/hcdoctor.css").status_code == 200
    assert c.get("/healthz").status_code == 200
