"""Reply fixes found in the demo: code spans unescaped, article paragraphs unwrapped, the card's host prefilled from a capture."""

from __future__ import annotations

import kb
from bot.replies import _plain, article_reply, find_host, fix_reply, unwrap
from checks.model import Evidence, Finding, Timeline
from tests.support.capture_scenarios import leaf_only_pcap_lab
from tests.support.webex_bot import running_bot


def test_code_spans_keep_their_characters_and_plain_text_is_still_neutralised():
    assert _plain("Run `hcdoctor check <sip-destination>` now") == "Run `hcdoctor check <sip-destination>` now"
    assert _plain("a <b> *c* `x_y*z` [d]") == "a \\<b\\> \\*c\\* `x_y*z` \\[d\\]"
    assert _plain("an unclosed ` tick <here>") == "an unclosed ` tick \\<here\\>"


def test_every_fix_step_with_a_command_shows_it_without_backslashes():
    shown = 0
    for art in kb.articles().values():
        text = fix_reply(art).markdown
        for span in text.split("`")[1::2]:
            assert "\\" not in span, (art.id, span)
            shown += "<" in span
    assert shown >= 1  # e.g. `hcdoctor check <sip-destination>`


def test_unwrap_joins_paragraph_lines_but_keeps_lists_headings_tables_and_code():
    text = ("## Title\n\nOne sentence that was\nwrapped by the editor.\n\n- item one\n  continues here\n- item two\n"
            "1. step\n2. step\n\n```\nkeep\nthese lines\n```\n| a | b |\n| - | - |\n> quote\n> more")
    assert unwrap(text) == ("## Title\n\nOne sentence that was wrapped by the editor.\n\n- item one continues here\n"
                            "- item two\n1. step\n2. step\n\n```\nkeep\nthese lines\n```\n| a | b |\n| - | - |\n"
                            "> quote\n> more")


def test_article_reply_has_no_hard_wrapped_paragraphs():
    art = kb.get("mtls-incomplete-chain")
    text = article_reply(art).markdown
    para = next(p for p in text.split("\n\n") if p.startswith("During the mutual TLS handshake"))
    assert "\n" not in para and para.endswith("the handshake is aborted.")
    assert "- In a capture of 5062" in text  # list items still start their own lines


def test_find_host_prefers_the_expressway_side_address_and_port():
    ev = Evidence("x.pcap", "frame 6", "172.16.2.2 (Expressway side) sent its Certificate: 1 cert")
    finding = Finding("mtls-incomplete-chain", "t", "high", "s", (), (ev,))
    title = "x.pcap stream 0 (172.16.2.2:5062): 146.20.193.45:33441 (Webex) → 172.16.2.2:5062 (Expressway)"
    assert find_host([finding], [Timeline(title, ())]) == "172.16.2.2:5062"
    assert find_host([finding]) == "172.16.2.2"  # no port anywhere: the address alone (5062 is assumed)
    log_ev = Evidence("x.log", "line 3", 'Dst-ip="172.16.2.2" peer 203.0.113.9:5062')
    assert find_host([Finding("x", "t", "high", "s", (), (log_ev,))]) == "203.0.113.9:5062"


def test_uploaded_capture_card_is_prefilled_with_the_expressway_address():
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, files=[("expe.pcap", leaf_only_pcap_lab())])
        h.idle(30)
        card = next(m for m in h.answers(room) if m.get("attachments"))
        box = next(b for b in card["attachments"][0]["content"]["body"] if b.get("id") == "target")
        assert box["value"] == "172.16.2.2:5062"
