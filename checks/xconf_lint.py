"""xConfiguration dump -> ``xconf.*`` observations: the Hybrid Call settings the guide checks.

- the Hybrid/Webex DNS zone: TLS verify mode, the subject name (exact, or a near miss by edit
  distance such as ``calllservice.ciscospark.com``), inbound classification, DNS override;
- ``PreloadedSipRoutes Accept`` and ``ParameterPreservation Mode`` on every zone on the Hybrid path;
- search-rule shadowing: enabled rules in priority order, source filters and patterns applied
  to a Webex URI, naming the rule that stops the search before the Webex rule;
- ``Policy AdministratorPolicy Mode: "LocalCPL"`` as a place to look.
"""

from __future__ import annotations

import re

from checks.model import Evidence, Observation
from checks.parsers.xconf import Setting, Xconf

# The names Webex presents on 5062 (Spark-era and rebranded) and the DNS override targets.
WEBEX_SUBJECT_NAMES = ("callservice.ciscospark.com", "callservice.webex.com", "sip.webex.com")
WEBEX_OVERRIDE_NAMES = ("callservice.ciscospark.com", "callservice.webex.com")
NEAR_MISS_DISTANCE = 3
# Addresses used to try search rules: a Webex user's SIP address, Spark-era and current.
WEBEX_TEST_ALIASES = ("alice@example.call.ciscospark.com", "alice@example.calls.webex.com")
MAX_PATTERN_CHARS = 512
# A group holding a quantifier that is itself quantified can backtrack for ever; such a
# pattern (it is hostile or broken) is not evaluated.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)[*+{]")
_HYBRID_PATH_TYPES = ("traversalserver", "traversalclient", "neighbor", "neighbour")


def edit_distance(a: str, b: str, cap: int = 8) -> int:
    """Levenshtein distance, stopping early once every path exceeds ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


def _ev(file: str, s: Setting) -> Evidence:
    return Evidence(file, f"line {s.line}", s.text)


def _zone_kind(zone: dict[str, Setting]) -> str:
    t = zone.get("Type")
    if t:
        return t.value.lower()
    for key in zone:
        first = key.split(" ", 1)[0].lower()
        if first in ("dns", "traversalserver", "traversalclient", "neighbor", "webex"):
            return first
    return ""


def _zone_name(zone: dict[str, Setting], n: int) -> str:
    s = zone.get("Name")
    return s.value if s and s.value else f"Zone {n}"


def _find(zone: dict[str, Setting], suffix: str) -> Setting | None:
    """The zone setting whose key ends with ``suffix`` (the prefix is the zone type: DNS, TraversalServer, ...)."""
    return next((s for k, s in zone.items() if k == suffix or k.endswith(" " + suffix)), None)


def hybrid_dns_zones(conf: Xconf) -> list[int]:
    """DNS zones that talk to Webex: their subject name or DNS override names a Webex domain, or their
    name says Hybrid/Webex (needed when the subject name is the misspelt thing)."""
    out = []
    for n, zone in sorted(conf.zones.items()):
        if _zone_kind(zone) != "dns":
            continue
        subject = _find(zone, "SIP TLS Verify Subject Name")
        override = _find(zone, "SIP DnsOverride Name")
        values = " ".join(s.value.lower() for s in (subject, override) if s)
        name = _zone_name(zone, n).lower()
        if "ciscospark" in values or "webex" in values or re.search(r"hybrid|webex|spark", name):
            out.append(n)
    return out


def lint(conf: Xconf, file: str) -> list[Observation]:
    obs: list[Observation] = []
    dns_zones = hybrid_dns_zones(conf)
    for n in dns_zones:
        obs += _dns_zone(conf.zones[n], n, file)
    path_zones = set(dns_zones) | {n for n, z in conf.zones.items() if _zone_kind(z) in _HYBRID_PATH_TYPES}
    for n in sorted(path_zones):
        zone = conf.zones[n]
        name = _zone_name(zone, n)
        for suffix, code in (("SIP PreloadedSipRoutes Accept", "xconf.zone.preloaded_routes_off"),
                             ("SIP ParameterPreservation Mode", "xconf.zone.parameter_preservation_off")):
            if code == "xconf.zone.parameter_preservation_off" and n in dns_zones:
                # The guide's own working Hybrid DNS zone has preservation Off; only the zones that carry
                # the call on towards Unified CM strip call-type=squared.
                continue
            s = _find(zone, suffix)
            if s and s.value.lower() == "off":
                obs.append(Observation(code, (_ev(file, s),), (("zone", name),)))
    obs += _shadowing(conf, file, dns_zones)
    policy = conf.get("Policy AdministratorPolicy Mode")
    if policy and policy.value.lower() == "localcpl":
        obs.append(Observation("xconf.policy.local_cpl", (_ev(file, policy),)))
    return obs


def _dns_zone(zone: dict[str, Setting], n: int, file: str) -> list[Observation]:
    name = _zone_name(zone, n)
    out = []
    mode = _find(zone, "SIP TLS Verify Mode")
    if mode and mode.value.lower() == "off":
        out.append(Observation("xconf.zone.tls_verify_off", (_ev(file, mode),), (("zone", name),)))
    subject = _find(zone, "SIP TLS Verify Subject Name")
    if subject and subject.value:
        value = subject.value.lower().rstrip(".")
        if value not in WEBEX_SUBJECT_NAMES:
            best = min(WEBEX_SUBJECT_NAMES, key=lambda w: edit_distance(value, w))
            distance = edit_distance(value, best)
            if 0 < distance <= NEAR_MISS_DISTANCE:
                out.append(Observation("xconf.zone.subject_name_near_miss", (_ev(file, subject),),
                                       (("zone", name), ("configured", subject.value), ("expected", best),
                                        ("distance", str(distance)))))
    inbound = _find(zone, "SIP TLS Verify InboundClassification")
    if inbound and inbound.value.lower() == "off":
        out.append(Observation("xconf.zone.inbound_classification_off", (_ev(file, inbound),), (("zone", name),)))
    override = _find(zone, "SIP DnsOverride Override")
    override_name = _find(zone, "SIP DnsOverride Name")
    if override and override.value.lower() == "off":
        ev = (_ev(file, override),) + ((_ev(file, override_name),) if override_name else ())
        out.append(Observation("xconf.zone.dns_override_off", ev, (("zone", name),)))
    elif override and override_name and override_name.value.lower().rstrip(".") not in WEBEX_OVERRIDE_NAMES:
        out.append(Observation("xconf.zone.dns_override_off", (_ev(file, override), _ev(file, override_name)),
                               (("zone", name), ("name", override_name.value))))
    return out


# -- search rules --------------------------------------------------------------------------
def _value(rule: dict[str, Setting], key: str, default: str = "") -> str:
    s = rule.get(key)
    return s.value if s else default


def _priority(rule: dict[str, Setting]) -> int:
    try:
        return int(_value(rule, "Priority", "65535"))
    except ValueError:
        return 65535


def _pattern_matches(rule: dict[str, Setting], alias: str, local_domains: list[str]) -> bool | None:
    """Whether the rule's alias pattern takes ``alias``; None when the pattern cannot be judged."""
    if _value(rule, "Mode").lower() == "anyalias":
        return True
    if _value(rule, "Mode").lower() not in ("aliaspatternmatch", ""):
        return False
    pattern = _value(rule, "Pattern String")
    kind = _value(rule, "Pattern Type", "Prefix").lower()
    if len(pattern) > MAX_PATTERN_CHARS:
        return None
    if "%localdomains%" in pattern.lower():
        domains = "|".join(re.escape(d) for d in local_domains) or "(?!)"
        pattern = re.sub("%localdomains%", f"(?:{domains})", pattern, flags=re.I)
    if "%localdomain" in pattern.lower():
        return None
    alias_l = alias.lower()
    if kind == "regex":
        if _NESTED_QUANTIFIER.search(pattern):
            return None
        try:
            return re.fullmatch(pattern, alias, re.I) is not None
        except (re.error, RecursionError, OverflowError):
            return None
    if kind == "prefix":
        return alias_l.startswith(pattern.lower())
    if kind == "suffix":
        return alias_l.endswith(pattern.lower())
    if kind == "exact":
        return alias_l == pattern.lower()
    return None


def _source_ok(rule: dict[str, Setting], source_zone: str) -> bool:
    mode = _value(rule, "Source Mode", "Any").lower()
    if mode in ("any", "allzones", ""):
        return True
    if mode == "named":
        return _value(rule, "Source Name").lower() == source_zone.lower()
    return False


def _enabled(rule: dict[str, Setting]) -> bool:
    return _value(rule, "State", "Enabled").lower() == "enabled" and _value(rule, "Protocol", "Any").lower() in ("any", "sip")


def _shadowing(conf: Xconf, file: str, dns_zones: list[int]) -> list[Observation]:
    webex_zone_names = {_zone_name(conf.zones[n], n).lower() for n in dns_zones}
    webex_zone_names |= {_zone_name(z, n).lower() for n, z in conf.zones.items() if _zone_kind(z) == "webex"}
    rules = {n: r for n, r in conf.rules.items() if _enabled(r)}
    webex_rules = [(n, r) for n, r in rules.items() if _value(r, "Target Name").lower() in webex_zone_names]
    out = []
    for wn, wr in webex_rules:
        source = _value(wr, "Source Name") if _value(wr, "Source Mode").lower() == "named" else ""
        alias = next((a for a in WEBEX_TEST_ALIASES if _pattern_matches(wr, a, conf.domains)), None)
        if alias is None:
            continue
        for n, r in sorted(rules.items(), key=lambda nr: (_priority(nr[1]), nr[0])):
            if n == wn or _priority(r) >= _priority(wr):
                continue
            if _value(r, "Target Name").lower() in webex_zone_names:
                continue
            if _value(r, "Progress", "Stop").lower() != "stop":
                continue
            if source and not _source_ok(r, source):
                continue
            if not _pattern_matches(r, alias, conf.domains):
                continue
            name = _value(r, "Name", f"Rule {n}")
            evidence = tuple(_ev(file, s) for s in (r.get("Name"), r.get("Priority"), r.get("Pattern String"),
                                                      r.get("Progress"), wr.get("Name"), wr.get("Priority")) if s)
            out.append(Observation("xconf.search_rule.webex_shadowed", evidence,
                                   (("rule", name), ("priority", _value(r, "Priority")),
                                    ("webex_rule", _value(wr, "Name", f"Rule {wn}")),
                                    ("webex_priority", _value(wr, "Priority")), ("alias", alias))))
            break
    return out
