"""Chain verdicts over real certificates (made by tests/support/pki.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.certs import analyze_chain, name_from_der, webex_roots_in
from kb.errors import InputError
from tests.support.pki import NOW, expressway_pki, webex_pki

WX = webex_pki()
EXP = expressway_pki()


def test_full_chain_is_complete_and_ordered():
    a = analyze_chain([EXP["leaf"].der, EXP["ica"].der], NOW)
    assert a.shape == "complete" and a.order_ok is True
    assert a.leaf.label == "expe.example.com" and not a.validity_problems


def test_leaf_only():
    a = analyze_chain([EXP["leaf"].der], NOW)
    assert a.shape == "leaf_only" and a.order_ok is None
    assert "1 cert, CN=expe.example.com" in a.describe()


def test_self_signed_and_temporary_ca_are_default_certs():
    assert analyze_chain([EXP["self_signed"].der], NOW).shape == "self_signed"
    assert analyze_chain([EXP["temp_leaf"].der], NOW).shape == "self_signed"
    assert "temporary CA" in analyze_chain([EXP["temp_leaf"].der], NOW).describe()


def test_wrong_order_is_noticed():
    assert analyze_chain([EXP["ica"].der, EXP["leaf"].der], NOW).order_ok is False


def test_expired():
    a = analyze_chain([EXP["expired"].der, EXP["ica"].der], NOW)
    assert a.validity_problems and "expired on" in a.validity_problems[0]


def test_webex_leaf_recognised():
    assert analyze_chain([WX["leaf"].der, WX["ica"].der], NOW).leaf.webex_like
    assert not analyze_chain([EXP["leaf"].der], NOW).leaf.webex_like


def test_names_from_der_and_webex_roots():
    der = WX["root"].cert.subject.public_bytes()
    name = name_from_der(der)
    assert name == "CN=QuoVadis Root CA 2, O=QuoVadis Limited, C=BM"
    assert webex_roots_in([name, "CN=Example Root CA"]) == ["QuoVadis Root CA 2"]
    assert webex_roots_in(["CN=Example Root CA"]) == []


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x85\xff\xff\xff\xff\xff", b"\x31\x00", b"\x30\x05\x31\x03\x30\x01"])
def test_bad_names_raise_input_error(junk):
    with pytest.raises(InputError):
        name_from_der(junk)


def test_bad_certificate_raises_input_error():
    with pytest.raises(InputError):
        analyze_chain([b"not a certificate"], NOW)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_certificates_give_a_verdict_or_input_error(data):
    der = bytearray(EXP["leaf"].der)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(der) - 1))
        der[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(der)))
    try:
        analyze_chain([bytes(der[:cut]), EXP["ica"].der], NOW)
    except InputError:
        pass
