"""Captures through the front door (`hcdoctor analyze`), and our synthetic captures checked by tshark itself."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from bot.cli import main
from checks.capture import scan
from tests.support import capture_scenarios as S
from tests.support.capture_writer import write_pcap, write_pcapng


def test_analyze_json_and_ladders(tmp_path, capsys):
    cap = tmp_path / "expe.pcapng"
    cap.write_bytes(write_pcapng(S.SCENARIOS["mtls-incomplete-chain"].build()))
    assert main(["analyze", str(cap), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"] == [{"path": str(cap), "kind": "pcap"}]
    assert doc["errors"] == []
    (finding,) = doc["findings"]
    assert finding["issue"] == "mtls-incomplete-chain" and finding["confidence"] == "high"
    assert any(e["location"].startswith("frame ") and "1 cert" in e["text"] for e in finding["evidence"])

    ladders = tmp_path / "ladders"
    assert main(["analyze", str(cap), "--ladder", str(ladders)]) == 0
    out = capsys.readouterr().out
    assert "mtls-incomplete-chain" in out and "alert unknown_ca" in out
    pngs = list(ladders.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes().startswith(b"\x89PNG")


def test_analyze_clean_and_bad_captures(tmp_path, capsys):
    clean = tmp_path / "clean.pcap"
    clean.write_bytes(write_pcap(S.SCENARIOS["clean-tls12"].build()))
    assert main(["analyze", str(clean), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []

    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 10)
    code = main(["analyze", str(junk), "--kind", "pcap"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "not a packet capture" in err


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_our_captures_the_same_way(tmp_path):
    """The writer's frames are real TCP/TLS to tshark: same chain length and alert as we report.

    tshark 4.0 reassembles reordered segments only with ``tcp.reassemble_out_of_order`` on.
    """
    cap = tmp_path / "chain.pcapng"
    cap.write_bytes(write_pcapng(S.incomplete_chain(mss=200, reorder=True, retransmit=True)))
    out = subprocess.run(["tshark", "-r", str(cap), "-d", "tcp.port==5062,tls", "-o", "tcp.reassemble_out_of_order:TRUE",
                          "-T", "fields", "-E",
                          "occurrence=a", "-E", "aggregator=,", "-e", "ip.src", "-e", "tls.handshake.certificate_length",
                          "-e", "tls.alert_message.desc"], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    certs = [(ip, len(lens.split(","))) for ip, lens, _ in rows if lens]
    alerts = [(ip, int(desc)) for ip, _, desc in rows if desc]
    assert certs == [(S.EXPE, 1)]
    assert alerts == [(S.WEBEX, 48)]
    conn = scan([cap.read_bytes()]).connections[0]
    assert [(conn.ends[d][0], len(ders)) for _, d, _, ders in conn.certificates] == certs
    assert [(conn.ends[d][0], a.description) for _, d, a in conn.alerts] == alerts


def test_unusable_inputs_say_so_on_stderr_only(tmp_path, capsys):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert main(["analyze", str(empty)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == f"hcdoctor: {empty}: the file is empty"
    assert main(["analyze", str(tmp_path / "missing.pcap")]) == 1
    assert "no such file" in capsys.readouterr().err
