"""Captures nobody on this project made (Zeek's TLS test traces): read without error, and agree with tshark.

tshark runs here on the same files (``-d tcp.port==N,tls`` where its port table would not decode
them); the certificate chains (subjects, issuers, order, who sent them), alerts and negotiated
versions we extract must match its decoding, except where tshark itself is known to fall short
(listed in ``TSHARK_SHORT``, each with the reason).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from checks.capture import observe, scan

ZEEK = Path(__file__).resolve().parents[2] / "shared" / "third_party" / "zeek-tls"  # shared/ sits beside the checkout
EXPECTED = json.loads((ZEEK / "expected.json").read_text()) if ZEEK.exists() else {"traces": {}}
TRACES = sorted(p.name for p in (ZEEK / "traces").glob("*.pcap")) if ZEEK.exists() else []

# Where tshark's decoding is not the truth (see the traces' README and the frames named).
TSHARK_SHORT = {
    # tshark never reassembles the 339,629-byte Certificate; Zeek's own baseline shows one cert, CN=Bro.
    "tls-fragmented-handshake.pcap": {"certs": [("104.236.167.107", [("CN=Bro", "CN=Bro")])]},
    # frame 251 carries the server's encrypted alert after a lost segment; tshark marks it a
    # retransmission and does not dissect it.
    "ssl.v3.pcap": {"extra_alerts": [("194.127.84.106", "encrypted")]},
}

pytestmark = [
    pytest.mark.skipif(not TRACES, reason="shared/third_party/zeek-tls is not beside the checkout"),
    # some of these real certificates have negative serial numbers, which cryptography warns about
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]


def _chunks(path: Path):
    data = path.read_bytes()
    return [data[i:i + 1500] for i in range(0, len(data), 1500)]


@pytest.fixture(scope="module")
def tshark_rows(tmp_path_factory) -> dict[str, list[list[str]]]:
    """tshark's fields for every trace, from one tshark run over the traces laid end to end (mergecap -a)."""
    merged = tmp_path_factory.mktemp("zeek") / "all.pcap"
    paths = [str(ZEEK / "traces" / t) for t in TRACES]
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(merged), *paths], check=True, timeout=60,
                   capture_output=True)
    decode = []
    for info in EXPECTED["traces"].values():
        for rule in info.get("decode_as", []):
            decode += ["-d", rule]
    fields = ["frame.number", "ip.src", "ipv6.src", "tls.record.content_type", "tls.handshake.type",
              "tls.handshake.extensions.supported_version", "tls.handshake.version", "tls.alert_message.level",
              "tls.alert_message.desc", "tls.handshake.certificates_length", "tls.handshake.certificate_length",
              "tls.handshake.certificate"]
    cmd = ["tshark", "-r", str(merged), *decode, "-T", "fields", "-E", "separator=|",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    rows = [line.split("|") for line in out.splitlines()]
    by_trace, start = {}, 0
    for trace in TRACES:
        count = scan(_chunks(ZEEK / "traces" / trace)).frames
        by_trace[trace] = rows[start:start + count]
        start += count
    assert start == len(rows)
    return by_trace


def _names(der: bytes) -> tuple[str, str]:
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def _from_tshark(rows: list[list[str]]):
    certs, alerts, versions = [], [], set()
    for row in rows:
        _, ip4, ip6, ctypes, htypes, sv, hv, _levels, descs, lengths, each_len, ders = row
        src = ip4 or ip6
        htype_list = htypes.split(",") if htypes else []
        if "2" in htype_list:
            chosen = [v for v in sv.split(",") if v] if sv else []
            versions.add(int(chosen[-1], 16) if chosen else int(hv.split(",")[-1], 16))
        if lengths:
            der_list = [bytes.fromhex(d) for d in ders.split(",")] if ders else []
            counts, pos = [], 0
            sizes = [int(x) for x in each_len.split(",")] if each_len else []
            for total in (int(x) for x in lengths.split(",")):
                n, used = 0, 0
                while used < total and pos + n < len(sizes):
                    used += sizes[pos + n] + 3
                    n += 1
                counts.append(der_list[pos:pos + n])
                pos += n
            for msg in counts:
                certs.append((src, [_names(d) for d in msg]))
        n_alerts = ctypes.split(",").count("21") if ctypes else 0
        plain = [int(d) for d in descs.split(",")] if descs else []
        alerts += [(src, d) for d in plain] + [(src, "encrypted")] * (n_alerts - len(plain))
    return certs, alerts, versions


def _from_us(trace: str):
    result = scan(_chunks(ZEEK / "traces" / trace))
    certs, alerts, versions = [], [], set()
    events = []
    for conn in result.connections:
        for frame, d, _, ders in conn.certificates:
            events.append((frame, "cert", conn.ends[d][0], [_names(x) for x in ders]))
        for frame, d, alert in conn.alerts:
            events.append((frame, "alert", conn.ends[d][0], "encrypted" if alert.encrypted else alert.description))
        if conn.version is not None:
            versions.add(conn.version)
    for _, what, ip, value in sorted(events, key=lambda e: e[0]):
        (certs if what == "cert" else alerts).append((ip, value))
    return certs, alerts, versions, result


@pytest.mark.parametrize("trace", TRACES)
def test_trace_reads_cleanly_and_gives_no_hybrid_finding(trace: str):
    observed = observe(_chunks(ZEEK / "traces" / trace), trace)
    assert not any(w for w in observed.warnings if "damaged" in w or "ends in the middle" in w)
    # none of these is on 5062 or carries Webex names: nothing ties them to Hybrid Call
    assert observed.observations == ()


@pytest.mark.skipif(shutil.which("mergecap") is None, reason="tshark/mergecap are not installed")
@pytest.mark.parametrize("trace", TRACES)
def test_trace_agrees_with_tshark(trace: str, tshark_rows):
    t_certs, t_alerts, t_versions = _from_tshark(tshark_rows[trace])
    certs, alerts, versions, _ = _from_us(trace)
    short = TSHARK_SHORT.get(trace, {})
    assert certs == short.get("certs", t_certs)
    if "extra_alerts" in short:
        assert sorted(alerts, key=str) == sorted(t_alerts + short["extra_alerts"], key=str)
    else:
        assert alerts == t_alerts
    assert versions == t_versions


def test_expected_json_names_match():
    """Client-CA names in CertificateRequest and chain lengths per connection, as recorded by the trace notes."""
    for trace, info in EXPECTED["traces"].items():
        conns = scan(_chunks(ZEEK / "traces" / trace)).connections
        for key, want in info["connections"].items():
            conn = next(c for c in conns if f"{c.ends[c.client][1]} ->" in key)
            req = want["certificate_request"]
            if req.get("sent"):
                got = [name for _, _, names in conn.cert_requests for name in names]
                assert [set(n.split(", ")) for n in got] == [set(n.split(",")) for n in req["distinguished_names"]]
            elif req.get("sent") is False:
                assert conn.cert_requests == []
            sizes = [len(ders) for _, _, _, ders in conn.certificates]
            if trace not in TSHARK_SHORT or "certs" not in TSHARK_SHORT[trace]:
                assert sizes == [len(c["certs"]) for c in want["certificates"]]
            assert conn.hello_retry == want["hello_retry_request"]
