"""Every documented fault with log or config evidence, buried in a realistic log, is found.

The fixtures are written by ``tests/fixtures/logs/make_fixtures.py`` from the line shapes in
formats.md (hundreds of lines of unrelated traffic around the fault's lines). Clean inputs
must give no finding at all, and every evidence line must really be at the line it names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import checks
from tests.fixtures.logs import make_fixtures

FIX = Path(__file__).parent / "fixtures" / "logs"

# fixture -> (best issue, confidence, alternatives)
EXPECTED = {
    "mtls-webex-ca-untrusted.log": ("mtls-webex-ca-untrusted", "high", ()),
    "mtls-firewall-inspection.log": ("mtls-firewall-inspection", "high", ()),
    "inbound-preloaded-route-expc.log": ("inbound-preloaded-route", "high", ()),
    "inbound-duplicate-toasts.log": ("inbound-duplicate-toasts", "high", ()),
    "outbound-dns-unresolvable.log": ("outbound-dns-unresolvable", "high", ()),
    "outbound-port-blocked.log": ("outbound-port-blocked", "high", ()),
    "outbound-search-rule.log": ("outbound-search-rule", "high", ()),
    "outbound-cpl.log": ("outbound-cpl", "high", ()),
    "bidir-unsupported-codec.log": ("bidir-unsupported-codec", "high", ()),
    "bidir-ucm-max-message-size-expc.log": ("bidir-ucm-max-message-size", "medium", ()),
    "forwarded-syslog-cpl.log": ("outbound-cpl", "high", ()),
    "x8-no-millis-port-blocked.log": ("outbound-port-blocked", "high", ()),
    "cucm-sdl-trace.txt": ("bidir-ucm-max-message-size", "high", ()),
    "netstat-not-listening.txt": ("inbound-not-listening", "high", ()),
    "controlhub-test-no-dns.txt": ("inbound-dns-unresolvable", "high", ()),
    "xconf-expe-subject-near-miss.txt": ("mtls-subject-name-mismatch", "high", ()),
    "xconf-expe-inbound-classification-off.txt": ("mtls-zone-not-matched", "medium", ()),
    "xconf-expe-dns-override-off.txt": ("outbound-dns-unresolvable", "medium", ()),
    "xconf-expe-search-rule-shadowed.txt": ("outbound-search-rule", "high", ()),
    "xconf-expe-localcpl.txt": ("outbound-cpl", "low", ()),
    "xconf-expe-preservation-off.txt": ("inbound-duplicate-toasts", "medium", ()),
    "xconf-expc-preloaded-off.txt": ("inbound-preloaded-route", "medium", ()),
}
CLEAN = ["expe-clean.log", "expc-clean.log", "xconf-expe-clean.txt", "xconf-expc-clean.txt", "netstat-healthy.txt",
         "cucm-sdl-trace-clean.txt"]


def test_fixtures_are_what_the_script_writes():
    for name, text in make_fixtures.files().items():
        assert (FIX / name).read_text(encoding="utf-8") == text, f"{name} is stale: run make_fixtures.py"


def test_fixture_logs_are_realistic_sizes():
    for name in EXPECTED:
        if name.endswith(".log"):
            lines = (FIX / name).read_text().count("\n")
            assert 500 < lines < 5000, (name, lines)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fault_is_found(name):
    issue, confidence, alternatives = EXPECTED[name]
    report = checks.analyze([str(FIX / name)])
    assert not report.errors
    assert [f.issue for f in report.findings] == [issue], [f.to_dict() for f in report.findings]
    best = report.findings[0]
    assert best.confidence == confidence
    assert best.alternatives == alternatives
    _evidence_is_where_it_says(best)


@pytest.mark.parametrize("name", CLEAN)
def test_clean_input_has_no_finding(name):
    report = checks.analyze([str(FIX / name)])
    assert report.findings == ()
    assert report.errors == ()


def test_two_faults_in_one_log_give_two_findings():
    report = checks.analyze([str(FIX / "two-faults.log")])
    assert sorted(f.issue for f in report.findings) == ["mtls-webex-ca-untrusted", "outbound-port-blocked"]
    assert all(f.confidence == "high" for f in report.findings)
    titles = " ".join(t.title for t in report.timelines)
    assert "146.20.193.70:5062" in titles and "146.20.193.45:33441" in titles


def test_certificate_unknown_alone_is_ambiguous_and_says_what_tells_apart():
    report = checks.analyze([str(FIX / "mtls-certificate-unknown.log")])
    (finding,) = report.findings
    ids = {finding.issue, *finding.alternatives}
    assert ids == {"mtls-incomplete-chain", "mtls-stale-controlhub-cert", "mtls-default-self-signed-cert"}
    assert finding.confidence == "medium"
    assert "To tell" in finding.summary and "apart" in finding.summary
    assert any("sslv3 alert certificate unknown" in e.text for e in finding.evidence)


def test_identity_unacceptable_alone_names_both_candidates():
    report = checks.analyze([str(FIX / "mtls-identity-unacceptable.log")])
    (finding,) = report.findings
    assert {finding.issue, *finding.alternatives} == {"mtls-subject-name-mismatch", "mtls-zone-not-matched"}
    assert finding.confidence == "medium"


def test_log_plus_dump_settles_the_ambiguity():
    log = str(FIX / "mtls-identity-unacceptable.log")
    near = checks.analyze([log, str(FIX / "xconf-expe-subject-near-miss.txt")])
    assert [(f.issue, f.confidence, f.alternatives) for f in near.findings] == [("mtls-subject-name-mismatch", "high", ())]
    off = checks.analyze([log, str(FIX / "xconf-expe-inbound-classification-off.txt")])
    assert [(f.issue, f.confidence, f.alternatives) for f in off.findings] == [("mtls-zone-not-matched", "high", ())]


def test_pdf_pasted_text_is_read_record_by_record():
    text = (FIX / "pdf-pasted-identity.txt").read_text()
    assert text.count("\n") == 1 and '="' not in text
    report = checks.analyze([str(FIX / "pdf-pasted-identity.txt")])
    (finding,) = report.findings
    assert {finding.issue, *finding.alternatives} == {"mtls-subject-name-mismatch", "mtls-zone-not-matched"}
    assert any("identity was unacceptable" in e.text for e in finding.evidence)


def test_pasted_socket_failure_is_ambiguous_between_blocked_and_not_listening():
    report = checks.analyze([str(FIX / "controlhub-test-socket.txt")])
    (finding,) = report.findings
    assert {finding.issue, *finding.alternatives} == {"inbound-port-blocked", "inbound-not-listening"}
    both = checks.analyze([str(FIX / "controlhub-test-socket.txt"), str(FIX / "netstat-not-listening.txt")])
    assert [(f.issue, f.confidence) for f in both.findings] == [("inbound-not-listening", "high")]


def test_expc_and_sdl_combine_into_one_high_finding():
    report = checks.analyze([str(FIX / "bidir-ucm-max-message-size-expc.log"), str(FIX / "cucm-sdl-trace.txt")])
    assert [(f.issue, f.confidence) for f in report.findings] == [("bidir-ucm-max-message-size", "high")]
    texts = " ".join(e.text for e in report.findings[0].evidence)
    assert "Only allow up to 5000 bytes" in texts
    assert any("18000" in line for t in report.timelines for line in t.lines)


def test_failing_call_gets_a_timeline():
    report = checks.analyze([str(FIX / "inbound-duplicate-toasts.log")])
    (timeline,) = [t for t in report.timelines if t.title.startswith("call ")]
    assert "sip.call_type_squared_stripped" in timeline.title
    assert any("INVITE" in line for line in timeline.lines)


def _evidence_is_where_it_says(finding):
    """Each "line N" evidence quotes line N of its file (SIP evidence starts with the message's start line)."""
    for ev in finding.evidence:
        assert ev.location.startswith("line "), ev
        lines = Path(ev.file).read_text(encoding="utf-8").split("\n")
        line = lines[int(ev.location.split()[1]) - 1]
        assert ev.text[:30] in line or line.strip(" |")[:30] in ev.text, (ev, line)
