"""xConfiguration dumps: parsing and the Hybrid Call lint (zones, search-rule shadowing, CPL)."""

from __future__ import annotations

import time

from checks.parsers.xconf import parse
from checks.xconf_lint import edit_distance, lint
from tests.support import explog_writer as xw


def codes(text: str) -> list[str]:
    return [o.code for o in lint(parse([text.encode()]), "xconf.txt")]


def obs(text: str, code: str):
    return [o for o in lint(parse([text.encode()]), "xconf.txt") if o.code == code]


def test_records_run_together_on_one_line_and_empty_values():
    text = ('*c xConfiguration Zones Zone 6 Name: "Hybrid Call Services DNS" *c xConfiguration Zones Zone 6 Type: "DNS" '
            '*c xConfiguration Zones Zone 6 DNS SIP TLS Verify Subject Name: "calllservice.ciscospark.com"\n'
            '*c xConfiguration Zones Policy SearchRules Rule 3 Pattern Replace: \n')
    conf = parse([text[i:i + 5].encode() for i in range(0, len(text), 5)])
    assert conf.zones[6]["Name"].value == "Hybrid Call Services DNS"
    assert conf.zones[6]["DNS SIP TLS Verify Subject Name"].line == 1
    assert conf.rules[3]["Pattern Replace"].value == ""
    assert [o.code for o in lint(conf, "x")] == ["xconf.zone.subject_name_near_miss"]


def test_subject_name_near_miss_by_edit_distance():
    (o,) = obs(xw.xconf_expe(subject="calllservice.ciscospark.com"), "xconf.zone.subject_name_near_miss")
    assert o.fact("expected") == "callservice.ciscospark.com" and o.fact("distance") == "1"
    assert o.evidence[0].text == '*c xConfiguration Zones Zone 6 DNS SIP TLS Verify Subject Name: "calllservice.ciscospark.com"'
    assert o.evidence[0].location == "line 18"
    assert obs(xw.xconf_expe(subject="callservice.webex.com"), "xconf.zone.subject_name_near_miss") == []
    assert obs(xw.xconf_expe(subject="callservce.webex.com"), "xconf.zone.subject_name_near_miss")[0].fact(
        "expected") == "callservice.webex.com"
    # an unrelated name is not a "near miss" of a Webex name: nothing to claim
    assert obs(xw.xconf_expe(subject="b2b.partner.example.org"), "xconf.zone.subject_name_near_miss") == []


def test_edit_distance():
    assert edit_distance("calllservice.ciscospark.com", "callservice.ciscospark.com") == 1
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("a" * 50, "b") > 8


def test_zone_flags():
    assert "xconf.zone.inbound_classification_off" in codes(xw.xconf_expe(inbound="Off"))
    assert "xconf.zone.dns_override_off" in codes(xw.xconf_expe(override="Off"))
    wrong_name = obs(xw.xconf_expe(override_name="ciscospark.com"), "xconf.zone.dns_override_off")
    assert wrong_name and wrong_name[0].fact("name") == "ciscospark.com"
    assert "xconf.zone.tls_verify_off" in codes(xw.xconf_expe().replace(
        'Zone 6 DNS SIP TLS Verify Mode: "On"', 'Zone 6 DNS SIP TLS Verify Mode: "Off"'))


def test_preloaded_routes_and_preservation_on_the_path():
    (o,) = obs(xw.xconf_expc(preloaded="Off"), "xconf.zone.preloaded_routes_off")
    assert o.fact("zone") == "Hybrid Call Service Traversal"
    assert "TraversalClient SIP PreloadedSipRoutes Accept" in o.evidence[0].text
    (o,) = obs(xw.xconf_expe(preservation="Off"), "xconf.zone.parameter_preservation_off")
    assert o.fact("zone") == "Hybrid Call Service Traversal"
    # the guide's working Hybrid DNS zone has preservation Off and a generic DNS zone has neither: no claim
    assert codes(xw.xconf_expe()) == []


def test_search_rule_shadowing_names_the_rule():
    (o,) = obs(xw.xconf_expe(webex_priority="101"), "xconf.search_rule.webex_shadowed")
    assert o.fact("rule") == "to DNS" and o.fact("priority") == "100"
    assert o.fact("webex_rule") == "Webex Hybrid - to Webex Cloud" and o.fact("webex_priority") == "101"
    assert any('Pattern String: "(?!.*@%localdomains%.*$).*"' in e.text for e in o.evidence)


def test_no_shadowing_when_the_stop_rule_does_not_take_the_alias():
    text = xw.xconf_expe(webex_priority="101")
    # source filter: the catch-all only applies to calls from another zone
    named = text.replace('Rule 1 Source Mode: "Any"', 'Rule 1 Source Mode: "Named"').replace(
        'Rule 1 Source Name: "Please Select"', 'Rule 1 Source Name: "DefaultZone"')
    assert obs(named, "xconf.search_rule.webex_shadowed") == []
    # pattern that does not match a Webex address
    prefix = text.replace('Rule 1 Pattern String: "(?!.*@%localdomains%.*$).*"', 'Rule 1 Pattern String: "9"').replace(
        'Rule 1 Pattern Type: "Regex"', 'Rule 1 Pattern Type: "Prefix"')
    assert obs(prefix, "xconf.search_rule.webex_shadowed") == []
    # Continue does not stop the search
    cont = text.replace('Rule 1 Progress: "Stop"', 'Rule 1 Progress: "Continue"')
    assert obs(cont, "xconf.search_rule.webex_shadowed") == []
    # disabled rule
    off = text.replace('Rule 1 State: "Enabled"', 'Rule 1 State: "Disabled"')
    assert obs(off, "xconf.search_rule.webex_shadowed") == []


def test_local_domains_placeholder_excludes_local_aliases():
    text = xw.xconf_expe(webex_priority="101").replace('Domain 1 Name: "rtp.ciscotac.net"',
                                                        'Domain 1 Name: "example.call.ciscospark.com"')
    # every Webex test alias is then "local" for the ciscospark one; the webex.com one is not matched
    # by the Webex rule's pattern, so nothing is shadowed
    assert obs(text, "xconf.search_rule.webex_shadowed") == []


def test_hostile_regex_is_not_evaluated():
    text = xw.xconf_expe(webex_priority="101").replace('Rule 1 Pattern String: "(?!.*@%localdomains%.*$).*"',
                                                        'Rule 1 Pattern String: "(a+)+$"')
    start = time.monotonic()
    assert obs(text, "xconf.search_rule.webex_shadowed") == []
    assert time.monotonic() - start < 1


def test_local_cpl_is_noted():
    (o,) = obs(xw.xconf_expe(cpl="LocalCPL"), "xconf.policy.local_cpl")
    assert o.evidence[0].text == '*c xConfiguration Policy AdministratorPolicy Mode: "LocalCPL"'


def test_xstatus_and_noise_lines_are_ignored():
    text = "*s SystemUnit: /\n  Build: \"X8.10.2\"\n*s/end\nOK\n" + xw.xconf_expe()
    assert codes(text) == []
