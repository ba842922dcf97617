"""The demo in a real browser: headless Debian chromium driven by Playwright.

A visitor asks a question, uploads a capture with the file picker, drops a log on
the page, presses the diagnosis card's button and opens an article. Everything
behind the page is the production path (signed webhooks, the bot's jobs,
webexpythonsdk against the stand-in API). The screenshots the README shows are
taken here, into docs/screenshots/.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bot.demo import DemoServer
from tests.support.capture_writer import Flow, Side, handshake, write_pcap
from tests.support.pki import expressway_pki, webex_pki

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 20_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# the Expressway-E's own line for a handshake Webex aborted (a log the visitor drops on the page)
LOG_LINE = ('2026-11-30T09:14:03.221+01:00 expe tvcs: Event="Inbound TLS Negotiation Error" Service="SIP" '
            'Src-ip="127.10.0.1" Src-port="41000" Dst-ip="127.20.0.1" Dst-port="5062" '
            'Detail="sslv3 alert certificate unknown" Protocol="TLS" Level="1" UTCTime="2026-11-30 08:14:03,221"\n')

@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """Webex (127.10.0.1) to the Expressway-E (127.20.0.1:5062): a real handshake where the E sends its leaf alone."""
    e, w = expressway_pki(), webex_pki()
    hs = handshake(Side(cert=w["leaf"], trust=(e["root"],)),
                   Side(cert=e["leaf"], send_chain=False, trust=(w["root"],), client_ca_names=(w["root"],)),
                   sni="expe.example.com")
    frames: list = []
    Flow(frames, ("127.10.0.1", 41000), ("127.20.0.1", 5062)).open().flights(hs).fin("c").fin("s")
    path = tmp_path_factory.mktemp("upload") / "expe-5062.pcap"
    path.write_bytes(write_pcap(frames))
    return path


@pytest.fixture(scope="module")
def demo():
    server = DemoServer("127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(demo):
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: bash scripts/setup.sh installs it"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        pg = context.new_page()
        yield pg
        context.close()
        browser.close()


def _thread(pg: Page, n: int):
    return pg.locator("#thread > .thread").nth(n)


def _shot(pg: Page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.mouse.move(0, 0)  # no hover or focus ring in the picture
    pg.evaluate("document.activeElement && document.activeElement.blur()")
    data = pg.screenshot(path=str(SHOTS / name), full_page=full_page)
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_visitor_session_in_the_browser(demo, page, capture):
    pg = page
    pg.goto(demo.url + "/")
    expect(pg.locator("h1")).to_have_text("Chat with HCDoctor")

    # 1. a pasted error line is answered, in its thread, with the right article
    pg.fill("#text", "Peer's TLS certificate identity was unacceptable")
    pg.press("#text", "Enter")
    first = _thread(pg, 0)
    expect(first.locator(".msg.user")).to_contain_text("Peer's TLS certificate identity was unacceptable")
    answer = first.locator(".replies .msg.bot").first
    expect(answer).to_contain_text("Wrong TLS verify subject name", timeout=WAIT_MS)
    expect(answer.locator('a[href$="/kb/mtls-subject-name-mismatch"]')).to_have_count(1)
    expect(answer.locator("ol li").first).to_be_visible()  # the fix steps are a rendered list, not Markdown

    # 2. a capture chosen with the file picker is diagnosed: summary, card, ladder picture
    pg.set_input_files("#file", str(capture))
    expect(pg.locator("#attached")).to_contain_text("expe-5062.pcap")
    pg.fill("#text", "calls from the Webex app never reach the desk phone")
    pg.click("#send")
    second = _thread(pg, 1)
    expect(second.locator(".msg.user a.file")).to_contain_text("expe-5062.pcap")
    replies = second.locator(".replies")
    expect(replies).to_contain_text("Diagnosis of expe-5062.pcap", timeout=WAIT_MS)
    expect(replies.locator('a[href$="/kb/mtls-incomplete-chain"]').first).to_be_visible()
    card = replies.locator(".card")
    expect(card).to_contain_text("Expressway-E sends only its own certificate", timeout=WAIT_MS)
    expect(card.locator("dd").first).to_have_text("mtls-incomplete-chain")
    picture = replies.locator("img.picture")
    expect(picture).to_be_visible(timeout=WAIT_MS)
    picture.evaluate("img => img.decode()")
    assert picture.evaluate("img => img.naturalWidth") > 100

    # 3. the card's button becomes an attachmentActions webhook; the answer lands in the same thread
    card.get_by_role("button", name="Show the fix").click()
    fix = replies.locator(".msg.bot", has_text="Fix for")
    expect(fix).to_be_visible(timeout=WAIT_MS)
    expect(fix).to_contain_text("Append CA Certificate")
    pg.wait_for_timeout(600)  # let the last poll settle before the picture
    # a full-page picture: the composer sits at the end, not stuck to a viewport that no longer scrolls
    pg.add_style_tag(content="#composer { position: static; }")
    _shot(pg, "chat.png")

    # 4. a log dropped on the page is sent at once and diagnosed
    log_b64 = base64.b64encode(LOG_LINE.encode()).decode()
    pg.evaluate("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: "text/plain"}));
        document.querySelector("#drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""", ["expe-diagnostic.log", log_b64])
    third = _thread(pg, 2)
    expect(third.locator(".msg.user a.file")).to_contain_text("expe-diagnostic.log")
    expect(third.locator(".replies")).to_contain_text("Diagnosis of expe-diagnostic.log", timeout=WAIT_MS)
    expect(third.locator(".replies")).to_contain_text("mtls-incomplete-chain")


def test_article_and_search_pages_in_the_browser(demo, page):
    pg = page
    pg.goto(demo.url + "/kb?q=sslv3+alert+certificate+unknown")
    hits = pg.locator("ol.hits > li")
    expect(hits.first).to_be_visible()
    assert hits.count() >= 3
    expect(pg.locator("ol.hits mark").first).to_be_visible()
    _shot(pg, "kb-search.png", full_page=False)

    pg.locator('ol.hits a[href="/kb/mtls-incomplete-chain"]').click()
    expect(pg).to_have_url(demo.url + "/kb/mtls-incomplete-chain")
    expect(pg.locator("h1")).to_have_text("Expressway-E sends only its own certificate, not the chain, to Webex")
    expect(pg.locator("section.fix ol li")).to_have_count(3)
    expect(pg.locator("ul.signatures code").first).to_have_text("Inbound TLS Negotiation Error")
    _shot(pg, "article.png")

    pg.locator('section.confused a[href="/kb/mtls-stale-controlhub-cert"]').click()
    expect(pg.locator("h1")).to_contain_text("Control Hub")
