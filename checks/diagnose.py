"""Observations x article signatures -> findings.

All issue-specific knowledge is in the articles' ``signatures`` and
``confused_with``; this module only combines them, so that every analyzer (pcap,
log, config, bundle, live) reaches the same verdict from the same evidence.

How it decides:
1. A rule fires when all its ``when`` codes were observed and none of its ``unless``,
   all within one scope: observations tied to one connection (``Observation.scope``)
   combine only with observations of that connection or with unscoped ones.
2. Each article keeps its strongest firing rule (confidence, then how many codes
   it needed: a rule that combines two sources is more specific than one).
3. The strongest candidate becomes a finding. Other candidates whose rule needs
   nothing beyond the winner's observation codes fit the same evidence: they
   become its ``alternatives`` rather than separate findings. (A candidate that
   shares a code but also rests on evidence of its own, such as a second
   misconfiguration in the same dump, stays a finding of its own.) When an
   alternative is as strong as the winner, the evidence cannot tell them apart,
   so confidence is capped at medium and the summary says what would.
4. Repeat with the candidates left, so a file with two unrelated faults gives two findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from checks.model import CONFIDENCE_RANK, Evidence, Finding, Observation
from kb.schema import Article, Rule

MAX_EVIDENCE = 6


def diagnose(observations: Iterable[Observation], articles: Mapping[str, Article]) -> tuple[Finding, ...]:
    by_code: dict[str, list[Observation]] = {}
    for obs in observations:
        by_code.setdefault(obs.code, []).append(obs)
    order = {aid: _guide_order(art) for aid, art in articles.items()}

    candidates: list[tuple[Article, Rule, dict[str, list[Observation]]]] = []
    for art in articles.values():
        fired = [(r, used) for r in art.signatures if (used := _fire(r, by_code)) is not None]
        if fired:
            rule, used = max(fired, key=lambda f: _strength(f[0]))
            candidates.append((art, rule, used))
    candidates.sort(key=lambda c: (-_strength(c[1])[0], -_strength(c[1])[1], order[c[0].id]))

    findings: list[Finding] = []
    while candidates:
        best_art, best_rule, used = candidates.pop(0)
        codes = set(best_rule.when)
        alts = [c for c in candidates if set(c[1].when) <= codes]
        candidates = [c for c in candidates if c not in alts]
        tied = [a for a, r, _ in alts if _strength(r) == _strength(best_rule)]
        confidence = best_rule.confidence
        if tied and CONFIDENCE_RANK[confidence] > CONFIDENCE_RANK["medium"]:
            confidence = "medium"
        findings.append(
            Finding(
                issue=best_art.id,
                title=best_art.title,
                confidence=confidence,  # type: ignore[arg-type]
                summary=_summary(best_art, [a for a, _, _ in alts]),
                alternatives=tuple(a.id for a, _, _ in alts),
                evidence=_evidence(best_rule, used),
            )
        )
    return tuple(findings)


def _fire(rule: Rule, by_code: dict[str, list[Observation]]) -> dict[str, list[Observation]] | None:
    """The observations that make ``rule`` fire (per code, from one scope), or None when it does not.

    An ``unless`` fact rules out a rule fired in its own scope; a rule fired on unscoped
    facts alone (log lines, config values) cannot be tied to one connection, so an
    ``unless`` fact from any connection rules it out.
    """
    if not all(code in by_code for code in rule.when):
        return None
    scopes = sorted({o.scope for code in rule.when for o in by_code[code]} - {""})
    for scope in [*scopes, ""]:
        used = {code: [o for o in by_code[code] if o.scope in ("", scope)] for code in rule.when}
        if not all(used.values()):
            continue
        blocked = any(
            not scope or o.scope in ("", scope) for code in rule.unless for o in by_code.get(code, ())
        )
        if not blocked:
            return used
    return None


def _guide_order(art: Article) -> tuple:
    """Ties go to the issue the guide documents first ("Mutual TLS Issue 3" before "Issue 7"):
    the guide orders each family from the commonest, simplest cause onwards."""
    parts = re.split(r"(\d+)", art.guide_section)
    return tuple(int(p) if p.isdigit() else p for p in parts), art.id


def _strength(rule: Rule) -> tuple[int, int]:
    return CONFIDENCE_RANK[rule.confidence], len(rule.when)


def _summary(best: Article, alternatives: list[Article]) -> str:
    if not alternatives:
        return best.summary
    parts = [best.summary, f"The same evidence also fits: {', '.join(a.id for a in alternatives)}."]
    for alt in alternatives:
        hint = best.tell_apart(alt.id) or alt.tell_apart(best.id)
        if hint:
            parts.append(f"To tell {alt.id} apart: {hint}")
    return " ".join(parts)


def _evidence(rule: Rule, used: dict[str, list[Observation]]) -> tuple[Evidence, ...]:
    """The evidence of the rule's observations, a few per code, without repeats."""
    out: list[Evidence] = []
    per_code = max(1, MAX_EVIDENCE // len(rule.when))
    for code in rule.when:
        for obs in used[code][:per_code]:
            for ev in obs.evidence:
                if ev not in out:
                    out.append(ev)
    return tuple(out[: MAX_EVIDENCE * 2])
