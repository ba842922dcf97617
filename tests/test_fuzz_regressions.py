"""Inputs the fuzzers (tests/test_fuzz_parsers.py, tests/benchmarks/fuzz_parsers.py) found to break a
parser, kept as literals so that each fix stays fixed."""

from __future__ import annotations

import base64
import time

import pytest

from checks.analysis import analyze
from checks.parsers import tcpstream
from checks.pemfiles import PemStore, pem_ders
from kb.errors import InputError

# A real EC leaf certificate (CN=expe.example.com from tests/support/pki.py) with one byte flipped:
# the subject CN reads "expe.exampl\xaecom", which is not UTF-8. cryptography loads the certificate
# and only fails when the subject is compared, so the PEM reader raised ValueError instead of
# InputError.
BAD_SUBJECT_PEM = (b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(base64.b64decode(
    "MIIBuzCCAWKgAwIBAgIUIYWd1bVWMwhQVRKgrUjKD762kIUwCgYIKoZIzj0EAwIwNDEbMBkGA1UEAwwSRXhhbXBsZSBJc3N1aW5n"
    "IENBMRUwEwYDVQQKDAxFeGFtcGxlIENvcnAwHhcNMjYxMTA0MTczNjA3WhcNMjcxMjA0MTczNjA3WjAbMRkwFwYDVQQDDBBleHBl"
    "LmV4YW1wbG2uY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENdR4BvYfu8zqwy9JWPsnxxg7CJnso6AwsqNWzBl9ANOjFdy0"
    "RN4C5iuzDj/ia6VA+2aL+WbHGjzaIRSieKC0RqNrMGkwDAYDVR0TAQH/BAIwADA6BgNVHREEMzAxghBleHBlLmV4YW1wbGUuY29t"
    "ggtleGFtcGxlLmNvbYIQbXRscy5leGFtcGxlLmNvbTAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwCgYIKoZIzj0EAwID"
    "RwAwRAIgZG6pM19WoTigmHqRUiuymx42t57AqqaZnhxy/JShj0kCIGmx4vpMGxOP+6qts7blC4qwO8YOGzH0QuPCGNr1VPmt"))
    + b"-----END CERTIFICATE-----\n")


def test_pem_certificate_with_undecodable_subject_is_an_input_error():
    with pytest.raises(InputError) as err:
        PemStore().add("server_expe_1.pem", BAD_SUBJECT_PEM)
    assert "\n" not in str(err.value) and "cannot be parsed" in str(err.value)


def test_pem_certificate_with_undecodable_subject_through_analyze(tmp_path):
    path = tmp_path / "server_expe_1.pem"
    path.write_bytes(BAD_SUBJECT_PEM)
    report = analyze([str(path)])
    assert [e.error for e in report.errors] == ["certificate cannot be parsed (ValueError)"]


# Thousands of BEGIN markers with no END: the old regular expression scanned to the end of the
# text from each of them (165 kB took 7 s, 660 kB over two minutes).
UNTERMINATED_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n" * 20_000


def test_unterminated_pem_blocks_are_read_in_linear_time():
    start = time.perf_counter()
    with pytest.raises(InputError, match="no PEM certificate found"):
        pem_ders(UNTERMINATED_PEM)
    assert time.perf_counter() - start < 0.5


def test_pem_blocks_still_read_in_order_with_an_unterminated_one_last():
    der = base64.b64decode(BAD_SUBJECT_PEM.split(b"-----")[2])
    text = BAD_SUBJECT_PEM + b"junk\n" + BAD_SUBJECT_PEM + b"-----BEGIN CERTIFICATE-----\nMIIB\n"
    assert pem_ders(text) == [der, der]


def test_out_of_order_segments_keep_under_the_byte_cap():
    """Tiny held segments in front of large ones: skipping one hole freed one byte while a 60 kB
    segment came in, so the held bytes grew far past MAX_HELD_BYTES (up to segments cap x 64 kB)."""
    half = tcpstream.HalfStream()
    half.syn(0xFFFFFF00)  # the stream crosses the 2**32 wrap too
    base = 0xFFFFFF01
    delivered = 0
    for i in range(300):  # 1-byte segments with a hole before each
        delivered += sum(len(d.data) for d in half.segment((base + 2 + 2 * i) & 0xFFFFFFFF, b"t"))
    big = b"B" * 60_000
    for i in range(100):  # far ahead, each leaving a hole behind it
        deliveries = half.segment((base + 1_000_000 + i * 100_000) & 0xFFFFFFFF, big)
        assert half.held_bytes <= tcpstream.MAX_HELD_BYTES
        assert all(d.gap for d in deliveries[:1])
        delivered += sum(len(d.data) for d in deliveries)
    assert len(half._held) <= tcpstream.MAX_HELD_SEGMENTS
    assert delivered + half.held_bytes == 300 + 100 * 60_000
