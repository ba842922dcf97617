"""Hostile and broken captures: a clear one-line InputError or a partial analysis with a warning, never a crash or a hang."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.capture import observe
from kb.errors import InputError
from tests.support import capture_scenarios as S
from tests.support.capture_writer import write_pcap, write_pcapng


def _one_line_error(data: bytes) -> str:
    with pytest.raises(InputError) as err:
        observe([data], "bad.pcap")
    message = str(err.value)
    assert message and "\n" not in message
    return message


def test_empty_file():
    assert "empty" in _one_line_error(b"")
    assert "empty" in _one_line_error(b"" * 3)


def test_not_a_capture():
    assert "not a packet capture" in _one_line_error(b"%PDF-1.7\n" + b"x" * 200)
    assert "not a packet capture" in _one_line_error(b"\xd4\xc3")
    assert "not a packet capture" in _one_line_error(b"\xd4\xc3\xb2\xa1\x02\x00")  # header cut short


def test_unsupported_link_type():
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
    assert "link type 147" in _one_line_error(header)


def test_absurd_record_length_first_frame():
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    assert "damaged" in _one_line_error(header + struct.pack("<IIII", 0, 0, 0x7FFFFFF0, 0x7FFFFFF0))


def test_absurd_length_later_keeps_the_frames_before():
    good = write_pcap(S.SCENARIOS["mtls-incomplete-chain"].build())
    observed = observe([good + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 10)], "tail.pcap")
    assert any("damaged" in w for w in observed.warnings)
    assert "tls.server_chain.leaf_only" in {o.code for o in observed.observations}


@pytest.mark.parametrize("writer", [write_pcap, write_pcapng])
def test_truncated_mid_record_gives_partial_analysis(writer):
    data = writer(S.SCENARIOS["mtls-webex-ca-untrusted"].build())
    for cut in (len(data) - 3, len(data) // 2, 75):
        observed = observe([data[:cut]], "cut.pcap")
        assert any("ends in the middle of frame" in w for w in observed.warnings)


def test_snaplen_cut_frames_are_skipped_not_misread():
    frames = S.incomplete_chain(mss=1400)
    data = write_pcap(frames, snaplen=300)
    observed = observe([data], "snap.pcap")
    assert any("snap length" in w for w in observed.warnings)
    # the Certificate message cannot be read whole, so nothing is claimed about the chain
    assert not {o.code for o in observed.observations} & {"tls.server_chain.leaf_only", "tls.server_chain.complete"}


def test_buffer_budget_stops_reading_instead_of_growing(monkeypatch):
    import checks.capture as capture

    monkeypatch.setattr(capture, "MAX_BUFFERED_BYTES", 150)
    observed = observe([write_pcap(S.incomplete_chain(mss=90, reorder=True))], "tight.pcap")
    assert any("left unread" in w for w in observed.warnings)


def test_unrelated_tls_does_not_crowd_out_the_5062_connection(monkeypatch):
    import checks.capture as capture
    from tests.support.capture_writer import Flow, Side, handshake

    monkeypatch.setattr(capture, "MAX_KEPT_OTHER_TLS", 2)
    w, e = S.pkis()
    hs = handshake(Side(e["leaf"], trust=(e["root"],)), Side(e["leaf"], trust=(e["root"],)))
    frames = []
    for n in range(6):
        Flow(frames, ("127.0.0.9", 50000 + n), ("127.0.0.8", 443), start=1_600_000_000.0 + n).open().flights(hs)
    frames += S.incomplete_chain()
    observed = observe([write_pcap(frames)], "busy.pcap")
    assert {"tls.server_chain.leaf_only", "tls.webex_rejected_expressway_cert"} <= {o.code for o in observed.observations}
    assert len(capture.scan([write_pcap(frames)]).connections) == 3


def test_damaged_pcapng_block():
    data = write_pcapng(S.SCENARIOS["inbound-not-listening"].build())
    bad = data[:28] + struct.pack("<I", 7) + data[32:]  # SHB length not a multiple of 4
    _one_line_error(bad)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return [write_pcap(S.SCENARIOS["mtls-webex-ca-untrusted"].build()),
            write_pcapng(S.SCENARIOS["bidir-unsupported-codec"].build()),
            write_pcap(S.SCENARIOS["mtls-firewall-inspection"].build())]


_FUZZ_SECONDS = 15.0


def test_fuzz_mutated_captures(seeds):
    """Mutate real captures for a bounded time: each input gives InputError or a partial result, quickly.

    Bounded twice: at most ``max_examples`` inputs, and none is run after ``_FUZZ_SECONDS``.
    """
    deadline = time.monotonic() + _FUZZ_SECONDS
    runs = 0

    @settings(max_examples=1000, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(which=st.integers(0, len(seeds) - 1),
           edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255), st.sampled_from("xid")),
                          min_size=1, max_size=8),
           cut=st.integers(0, 1 << 20))
    def run(which: int, edits: list[tuple[int, int, str]], cut: int) -> None:
        nonlocal runs
        if time.monotonic() > deadline:
            return
        data = bytearray(seeds[which])
        for pos, value, op in edits:
            pos %= max(1, len(data))
            if op == "x":
                data[pos] = value
            elif op == "i":
                data[pos:pos] = bytes([value]) * (value % 7 + 1)
            else:
                del data[pos:pos + value % 9 + 1]
        data = bytes(data[: max(1, cut % (len(data) + 1))]) if cut % 3 == 0 else bytes(data)
        start = time.monotonic()
        try:
            observed = observe([data[i:i + 777] for i in range(0, len(data), 777)], "fuzz.pcap")
            assert isinstance(observed.warnings, tuple)
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
        assert time.monotonic() - start < 5.0
        runs += 1

    run()
    assert runs > 50
