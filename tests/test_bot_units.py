"""The bot's pure parts: signatures, the allow-list, command parsing, reply shaping, settings, de-duplication."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import kb
from bot.access import AllowList
from bot.commands import Command, parse, strip_mention
from bot.jobs import FileSeen, MemorySeen
from bot.replies import Reply, check_reply, diagnosis_card, find_host, fitted, progress, report_reply, search_reply
from bot.settings import DEFAULT_BASE_URL, MESSAGE_LIMIT_BYTES, Settings
from bot.signature import sign, verify
from checks.model import CheckReport, Evidence, Finding, InputInfo, InputProblem, Report, Step


# -- signature -----------------------------------------------------------------------------------
def test_signature_is_hmac_sha1_of_the_raw_bytes():
    body = b'{"data": {"id": "x"},   "resource": "messages"}'
    expected = hmac.new(b"secret", body, hashlib.sha1).hexdigest()
    assert sign("secret", body) == expected
    assert verify("secret", body, expected) and verify("secret", body, expected.upper())
    reserialised = json.dumps(json.loads(body)).encode()
    assert not verify("secret", reserialised, expected)  # same JSON, other bytes: refused


@pytest.mark.parametrize("header", [None, "", "abc", "0" * 40, "sha1=" + "0" * 40, "z" * 40])
def test_signature_refuses_missing_or_wrong(header):
    assert not verify("secret", b"{}", header)


def test_empty_secret_accepts_nothing():
    assert not verify("", b"{}", sign("", b"{}"))


# -- allow-list ----------------------------------------------------------------------------------
def test_allow_list_matches_emails_and_exact_domains():
    allow = AllowList.parse(" Ann@Example.com, @corp.example ; partner.net ")
    assert allow.allows("ann@example.com") and allow.allows("ANN@EXAMPLE.COM")
    assert allow.allows("bob@corp.example") and allow.allows("x@partner.net")
    for stranger in ("bob@example.com", "bob@sub.corp.example", "bob@corp.example.evil", "@corp.example", "", None):
        assert not allow.allows(stranger)
    assert AllowList.parse("").everyone and AllowList.parse("").allows(None)


# -- commands ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("help", Command("help")), ("/HELP", Command("help")), ("hi", Command("help")), ("", Command("help")),
    ("Version", Command("version")),
    ("show MTLS-Incomplete-Chain", Command("show", "mtls-incomplete-chain")),
    ("show: `mtls-incomplete-chain`", Command("show", "mtls-incomplete-chain")),
    ("show me why calls fail", Command("search", "show me why calls fail")),
    ("check example.com", Command("check", "example.com")),
    ("Check: 127.0.0.1:5062", Command("check", "127.0.0.1:5062")),
    ("check [::1]:5062", Command("check", "[::1]:5062")),
    ("check why calls drop", Command("search", "check why calls drop")),
    ("search sslv3 alert", Command("search", "sslv3 alert")),
    ("sslv3 alert certificate unknown", Command("search", "sslv3 alert certificate unknown")),
    ("analyze", Command("analyze")),
])
def test_parse_is_forgiving(text, expected):
    assert parse(text) == expected


def test_files_mean_analyze_whatever_the_text_says():
    assert parse("what is wrong here?", has_files=True) == Command("analyze", "what is wrong here?")


def test_mention_stripped_from_html_by_person_id():
    html = ('<p><spark-mention data-object-type="person" data-object-id="BOT">HC Doctor</spark-mention> '
            'show <b>mtls-incomplete-chain</b> &amp; more</p>')
    assert strip_mention("HC Doctor show mtls-incomplete-chain & more", ["HC Doctor"], html, "BOT") == \
        "show mtls-incomplete-chain & more"
    other = '<p><spark-mention data-object-id="ANN">Ann</spark-mention> said hi</p>'
    assert strip_mention("Ann said hi", ["HC Doctor"], other, "BOT") == "Ann said hi"


@pytest.mark.parametrize("text", ["HC Doctor help", "HC help", "hc doctor: help", "  HC Doctor,  help"])
def test_mention_stripped_from_text_by_name(text):
    assert strip_mention(text, ["HC Doctor"]) == "help"


def test_name_prefix_inside_a_word_is_kept():
    assert strip_mention("HCDoctorish question", ["HCDoctor"]) == "HCDoctorish question"


# -- replies -------------------------------------------------------------------------------------
def _finding(issue="mtls-incomplete-chain", location="stream 3 (192.0.2.10:5062)"):
    art = kb.get(issue)
    return Finding(issue, art.title, "medium", art.summary, ("mtls-stale-controlhub-cert",),
                   (Evidence("/tmp/hcdoctor-in-abc/expe.log", location, "Detail=`sslv3 alert`\ncertificate unknown"),))


def test_fitted_keeps_short_text_and_splits_long_text_with_the_whole_attached():
    assert fitted(Reply("short")) == Reply("short")
    text = "```\n" + "\n".join("é" * 50 for _ in range(400)) + "\n```"
    out = fitted(Reply(text, files=()))
    assert len(out.markdown.encode()) <= MESSAGE_LIMIT_BYTES
    assert out.markdown.count("```") % 2 == 0  # a cut code block is closed
    assert out.files[0].name == "hcdoctor-report.md" and out.files[0].data == text.encode()


def test_report_reply_names_files_not_temp_paths_and_neutralises_evidence():
    report = Report((InputInfo("/tmp/hcdoctor-in-abc/expe.log", "log"),), (_finding(),),
                    errors=(InputProblem("/tmp/hcdoctor-in-abc/other.bin", "not a log"),))
    reply = report_reply(report)
    assert "/tmp/" not in reply.markdown and "expe.log (log)" in reply.markdown
    assert "`Detail='sslv3 alert' certificate unknown`" in reply.markdown
    assert "other.bin: not a log" in reply.markdown and "**Fix**" in reply.markdown
    assert "`mtls-stale-controlhub-cert`" in reply.markdown  # the alternative, with what tells them apart


def test_clean_report_has_no_card():
    reply = report_reply(Report((InputInfo("a.pcap", "pcap"),), ()))
    assert reply.card is None and reply.markdown.startswith("No documented fault found in a.pcap (pcap)")


def test_card_is_adaptive_1_3_with_at_most_five_actions():
    findings = [_finding(i) for i in ("mtls-incomplete-chain", "mtls-stale-controlhub-cert",
                                      "mtls-default-self-signed-cert", "mtls-webex-ca-untrusted")]
    card = diagnosis_card(findings, "expe.log (log)", find_host(findings))
    content = card["content"]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["version"] == "1.3" and content["type"] == "AdaptiveCard"
    assert len(content["actions"]) <= 5 and content["actions"][-1]["title"] == "Check this host"
    assert content["actions"][0] == {"type": "Action.Submit", "title": "Show the fix",
                                     "data": {"hcd": "fix", "issue": "mtls-incomplete-chain"}}
    assert next(b for b in content["body"] if b["type"] == "Input.Text")["value"] == "192.0.2.10:5062"


def test_check_reply_lists_steps_and_offers_a_recheck():
    report = CheckReport("expe.example.com", (Step("dns", "pass", "SRV found"), Step("tls", "fail", "leaf only")),
                         (_finding(location="step tls"),))
    reply = check_reply(report)
    assert "❌ **tls**: leaf only" in reply.markdown and "✅ **dns**" in reply.markdown
    assert next(b for b in reply.card["content"]["body"] if b["type"] == "Input.Text")["value"] == "expe.example.com"


def test_search_reply_with_no_hits_says_so():
    assert "No documented issue matches" in search_reply("zzz", []).markdown


def test_search_reply_links_to_public_pages_when_configured():
    hits = kb.search("webex app rings twice", 3)
    md = search_reply("webex app rings twice", hits, "https://bot.example.com").markdown
    assert f"(https://bot.example.com/kb/{hits[0].issue})" in md
    assert md.count("https://bot.example.com/kb/") == 3


def test_progress_line_names_file_and_size():
    assert progress([("capture.pcap", 48 * 1024 * 1024)]) == "Analyzing capture.pcap (48 MB)…"
    assert progress([("a_b.log", 2048), ("x", None)]) == "Analyzing a\\_b.log (2 kB), x…"


# -- settings, de-duplication --------------------------------------------------------------------
def test_settings_from_env():
    s = Settings.from_env({"WEBEX_ACCESS_TOKEN": " tok ", "WEBEX_WEBHOOK_SECRET": "sec",
                           "WEBEX_BASE_URL": "http://127.0.0.1:9/v1", "HCDOCTOR_ALLOWED": "@example.com",
                           "REDIS_URL": "redis://127.0.0.1:1/0", "HCDOCTOR_CHECK_PRIVATE": "1",
                           "HCDOCTOR_PUBLIC_URL": "https://bot.example.com/"})
    assert (s.access_token, s.webhook_secret, s.base_url) == ("tok", "sec", "http://127.0.0.1:9/v1/")
    assert s.allowed == "@example.com" and s.redis_url and s.check_private and s.public_url == "https://bot.example.com"
    assert Settings.from_env({}).base_url == DEFAULT_BASE_URL and not Settings.from_env({}).check_private
    assert Settings.from_env(s.to_env()) == s
    with pytest.raises(TypeError):
        s.replace(no_such_setting=1)


def test_memory_seen_remembers_within_ttl_and_stays_bounded():
    seen = MemorySeen(ttl=60, cap=3)
    assert seen.first("a") and not seen.first("a")
    for key in "bcd":
        assert seen.first(key)
    assert len(seen._until) <= 3
    expired = MemorySeen(ttl=0)
    assert expired.first("a") and expired.first("a")


def _first_times(directory: str, keys: list[str]) -> list[str]:
    seen = FileSeen.for_settings(Settings(dedupe_dir=directory))
    return [k for k in keys if seen.first(k)]


def test_file_seen_is_shared_by_processes(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    directory = str(tmp_path / "seen")
    keys = [f"m:{n}" for n in range(200)]
    with ProcessPoolExecutor(4) as pool:
        firsts = [k for got in pool.map(_first_times, [directory] * 4, [keys] * 4) for k in got]
    assert sorted(firsts) == sorted(keys)  # each id won by exactly one process
    assert (tmp_path / "seen").stat().st_mode & 0o777 == 0o700


def test_file_seen_expires_and_refuses_a_shared_directory(tmp_path):
    expired = FileSeen.for_settings(Settings(dedupe_dir=str(tmp_path / "a"), dedupe_ttl=0))
    assert expired.first("x") and expired.first("x")
    open_dir = tmp_path / "b"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    assert FileSeen.for_settings(Settings(dedupe_dir=str(open_dir))) is None
