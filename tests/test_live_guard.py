"""Target syntax and the scanner-safety rules of the live check (pure: no network)."""

from __future__ import annotations

import pytest

from checks.errors import CheckError, RefusedTarget
from checks.live import check
from checks.live.guard import Endpoint, Policy, address_problem, parse_target, refusal, screen_target


@pytest.mark.parametrize(
    ("text", "kind", "host", "port"),
    [
        ("example.com", "domain", "example.com", None),
        ("mtls.Example.COM.", "domain", "mtls.example.com", None),
        ("sips:mtls.example.com", "domain", "mtls.example.com", None),
        ("expe.example.com:5062", "host", "expe.example.com", 5062),
        ("203.0.113.7:5062", "address", "203.0.113.7", 5062),
        ("203.0.113.7", "address", "203.0.113.7", 5062),
        ("[2001:db8::7]:5061", "address", "2001:db8::7", 5061),
        ("2001:db8::7", "address", "2001:db8::7", 5062),
    ],
)
def test_targets_as_control_hub_takes_them(text, kind, host, port):
    t = parse_target(text)
    assert (t.kind, t.host, t.port) == (kind, host, port)


@pytest.mark.parametrize("text", ["", "exa mple.com", "example.com:0", "example.com:70000", "example.com:sip",
                                  "[2001:db8::7", "[2001:db8::7]x", "localhost", "-bad-.example.com", "a" * 400,
                                  "[not-an-ip]:5062"])
def test_bad_targets_are_one_line_errors(text):
    with pytest.raises(CheckError) as err:
        parse_target(text)
    assert "\n" not in str(err.value) and str(err.value)


@pytest.mark.parametrize(
    ("ip", "words"),
    [("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.1.6", "private"),
     ("172.16.2.2", "private"), ("169.254.9.9", "link-local"), ("fe80::1", "link-local"), ("224.0.0.5", "multicast"),
     ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("::ffff:127.0.0.1", "loopback"),
     ("100.64.0.1", "not a public")],
)
def test_non_public_addresses_are_named(ip, words):
    assert words in address_problem(ip)


def test_public_addresses_pass():
    assert address_problem("64.102.241.236") is None
    assert address_problem("2a00:1450:4001:80b::200e") is None


def test_ports_only_5061_and_5062_unless_configured():
    strict = Policy(allow_private=True)
    assert refusal(Endpoint("127.0.0.1", 5062), strict) is None
    assert refusal(Endpoint("127.0.0.1", 5061), strict) is None
    assert "port 8443" in refusal(Endpoint("127.0.0.1", 8443), strict)
    assert refusal(Endpoint("127.0.0.1", 8443), Policy(True, frozenset({8443}))) is None


@pytest.mark.parametrize("target", ["127.0.0.1:5062", "[::1]:5062", "10.0.0.1:5062", "169.254.1.1:5062",
                                    "224.0.0.1:5062", "0.0.0.0:5062", "240.0.0.1:5062"])
def test_private_literals_refused_before_any_network(target, monkeypatch):
    monkeypatch.delenv("HCDOCTOR_CHECK_PRIVATE", raising=False)
    with pytest.raises(RefusedTarget) as err:
        check(target, timeout=1)
    assert "HCDOCTOR_CHECK_PRIVATE=1" in str(err.value) and "\n" not in str(err.value)


def test_disallowed_port_refused_even_when_private_is_allowed():
    with pytest.raises(RefusedTarget, match="port 8080 is not one this tool probes"):
        check("127.0.0.1:8080", allow_private=True, timeout=1)
    with pytest.raises(RefusedTarget, match="port 22"):
        screen_target(parse_target("expe.example.com:22"), Policy(allow_private=True))
