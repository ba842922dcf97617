"""`hcdoctor search`, `show` and `index` as a user runs them: real processes, real exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from bot import cli
from kb import loader

HCDOCTOR = [shutil.which("hcdoctor")] if shutil.which("hcdoctor") else [sys.executable, "-m", "bot.cli"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*HCDOCTOR, *args], capture_output=True, text=True, timeout=timeout)


def test_search_prints_best_match_with_fix_then_runners_up():
    r = run("search", "sslv3", "alert", "certificate", "unknown")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert any(f"[{i}]" in first for i in ("mtls-incomplete-chain", "mtls-stale-controlhub-cert",
                                            "mtls-default-self-signed-cert"))
    assert "Fix:" in r.stdout and "Also possible:" in r.stdout and "hcdoctor show" in r.stdout
    assert r.stderr == ""


def test_search_json_is_one_document_in_the_contract_shape():
    r = run("search", "webex app rings twice", "--json", "--limit", "3")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"query", "results"} and data["query"] == "webex app rings twice"
    assert 1 <= len(data["results"]) <= 3
    for res in data["results"]:
        assert set(res) == {"issue", "title", "score", "snippet"}
        assert isinstance(res["score"], float) and isinstance(res["snippet"], str)
    assert data["results"][0]["issue"] == "inbound-duplicate-toasts"


def test_search_takes_a_whole_pasted_log_line():
    line = ('2017-06-13T14:31:38.758-04:00 vcse tvcs: Event="Outbound TLS Negotiation Error" Service="SIP" '
            'Src-ip="172.17.31.10" Src-port="28351" Dst-ip="198.101.251.5" Dst-port="5062" '
            'Detail="No SSL error available, probably remote disconnect" Protocol="TLS" '
            'Common-name="callservice.ciscospark.com" Level="1" UTCTime="2017-06-13 18:31:38,758"')
    r = run("search", line, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["issue"] == "mtls-firewall-inspection"


def test_search_without_a_match_says_so():
    r = run("search", "zyxwvut")
    assert r.returncode == 0 and "No documented issue matches" in r.stdout


@pytest.mark.parametrize("args", [["search"], ["search", "   "]])
def test_empty_query_is_a_usage_error(args):
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "query" in r.stderr


def test_show_prints_the_article():
    r = run("show", "mtls-incomplete-chain")
    assert r.returncode == 0, r.stderr
    art = loader.get("mtls-incomplete-chain")
    assert r.stdout.startswith(art.title) and "Maintenance > Security > Trusted CA certificate" in r.stdout


def test_show_json_has_every_front_matter_field():
    r = run("show", "bidir-ucm-max-message-size", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    art = loader.get("bidir-ucm-max-message-size")
    assert data["issue"] == art.id and data["title"] == art.title and data["body"] == art.body
    assert set(art.front_matter) <= set(data)


def test_show_unknown_id_exits_1_with_suggestions():
    r = run("show", "mtls-incomplete-chian")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "did you mean" in lines[0] and "mtls-incomplete-chain" in lines[0]
    assert r.stdout == ""


def test_index_rebuilds_on_demand():
    r = run("index")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("index rebuilt: 21 articles")
    r = run("index", "--json")
    info = json.loads(r.stdout)
    assert info["articles"] == 21 and info["seconds"] > 0 and info["path"].endswith(loader.digest())


def test_malformed_article_fails_index_and_search_in_one_line(tmp_path, monkeypatch, capsys):
    d = tmp_path / "articles"
    shutil.copytree(loader.ARTICLES_DIR, d)
    (d / "outbound-cpl.md").write_text("---\nid: outbound-cpl\n---\nbody\n", encoding="utf-8")
    monkeypatch.setattr(loader, "ARTICLES_DIR", d)
    monkeypatch.setenv("HCDOCTOR_INDEX_DIR", str(tmp_path / "cache"))
    for argv in (["index"], ["search", "certificate", "--json"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hcdoctor: outbound-cpl.md: missing key 'title'")
