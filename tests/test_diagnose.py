"""The generic rule engine: best id, alternatives, tell-apart text, separate faults."""

from __future__ import annotations

from checks.diagnose import diagnose
from checks.model import Evidence, Observation
from kb.schema import build

CODES = {"a.one", "a.two", "b.one", "c.one"}


def _article(aid: str, rules, confused=()):
    fm = {
        "id": aid, "title": aid.upper(), "area": "tls", "direction": "inbound", "guide_section": "x",
        "summary": f"{aid} summary.", "symptoms": ["s1", "s2", "s3"], "log_signatures": [],
        "capture_evidence": [], "config_evidence": [], "fix": ["f"], "verify": ["v"],
        "confused_with": [{"id": c, "tell_apart": f"{aid} vs {c} hint"} for c in confused],
        "signatures": rules,
    }
    return build(fm, "body")


def _obs(code: str, line: int, scope: str = "") -> Observation:
    return Observation(code, (Evidence("f.log", f"line {line}", code),), scope=scope)


ARTS = {
    "first": _article("first", [{"when": ["a.one"], "confidence": "medium"},
                                {"when": ["a.one", "a.two"], "confidence": "high"}], confused=["second"]),
    "second": _article("second", [{"when": ["a.one"], "confidence": "medium", "unless": ["b.one"]}]),
    "third": _article("third", [{"when": ["c.one"], "confidence": "high"}]),
}


def test_combined_evidence_wins_and_names_alternative():
    (f,) = diagnose([_obs("a.one", 1), _obs("a.two", 2)], ARTS)
    assert f.issue == "first" and f.confidence == "high"
    assert f.alternatives == ("second",)
    assert "first vs second hint" in f.summary
    assert [e.location for e in f.evidence] == ["line 1", "line 2"]


def test_tie_caps_confidence_and_lists_both():
    (f,) = diagnose([_obs("a.one", 1)], ARTS)
    assert f.issue == "first" and f.alternatives == ("second",)
    assert f.confidence == "medium"


def test_unless_rules_out():
    (f,) = diagnose([_obs("a.one", 1), _obs("b.one", 5)], ARTS)
    assert f.alternatives == ()


def test_unrelated_evidence_gives_two_findings():
    found = diagnose([_obs("a.one", 1), _obs("a.two", 2), _obs("c.one", 9)], ARTS)
    assert [f.issue for f in found] == ["first", "third"]


def test_shared_code_with_own_evidence_is_a_separate_finding():
    arts = {
        "misspelt": _article("misspelt", [{"when": ["a.one", "a.two"], "confidence": "high"}]),
        "classification": _article("classification", [{"when": ["a.one", "c.one"], "confidence": "high"}]),
    }
    found = diagnose([_obs("a.one", 1), _obs("a.two", 2), _obs("c.one", 3)], arts)
    assert sorted(f.issue for f in found) == ["classification", "misspelt"]
    assert all(f.alternatives == () for f in found)


def test_rules_combine_facts_of_one_connection_only():
    # stream 1 shows a.one, stream 2 shows a.two: "first"'s combined rule must not fire across them
    (f,) = diagnose([_obs("a.one", 1, "s1"), _obs("a.two", 2, "s2")], ARTS)
    assert f.issue == "first" and f.confidence == "medium" and f.alternatives == ("second",)
    # an unscoped fact (a log line) combines with any one connection
    (f,) = diagnose([_obs("a.one", 1), _obs("a.two", 2, "s2")], ARTS)
    assert f.confidence == "high"


def test_unless_applies_within_the_scope_that_fired():
    # b.one seen on another connection does not rule out "second" on this one...
    (f,) = diagnose([_obs("a.one", 1, "s1"), _obs("b.one", 2, "s2")], ARTS)
    assert f.alternatives == ("second",)
    # ...but an unscoped fact is ruled out by b.one seen on any connection
    (f,) = diagnose([_obs("a.one", 1), _obs("b.one", 2, "s2")], ARTS)
    assert f.alternatives == ()


def test_no_observation_no_finding():
    assert diagnose([], ARTS) == ()
    assert diagnose([_obs("zzz", 1)], ARTS) == ()


def test_ties_go_to_the_issue_the_guide_documents_first():
    import kb

    (f,) = diagnose([_obs("log.tls.inbound.certificate_unknown", 4)], kb.articles())
    assert f.issue == "mtls-incomplete-chain"  # Mutual TLS Issue 3, before Issues 5 and 7
    assert set(f.alternatives) == {"mtls-stale-controlhub-cert", "mtls-default-self-signed-cert"}
    assert f.confidence == "medium"
