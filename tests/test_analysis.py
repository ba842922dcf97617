"""The analysis front door and ``hcdoctor analyze``: kinds, merging, bad input, progress, CLI shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import checks
from checks.detect import detect
from kb.errors import InputError
from tests.support import explog_writer as xw

FIX = Path(__file__).parent / "fixtures" / "logs"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``hcdoctor`` as installed (console script), else the same entry point through the interpreter."""
    exe = shutil.which("hcdoctor")
    cmd = [exe] if exe else [sys.executable, "-m", "bot.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


@pytest.mark.parametrize("head,kind", [
    (b"\xd4\xc3\xb2\xa1" + b"\0" * 20, "pcap"),
    (b"\x0a\x0d\x0d\x0a" + b"\0" * 20, "pcap"),
    (b"\x1f\x8b\x08\x00", "bundle"),
    (b"PK\x03\x04", "bundle"),
    (b'*c xConfiguration Zones Zone 6 Name: "x"\n', "xconf"),
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "pem"),
    (b"00012345.000 |10:11:12.123 |AppInfo  |SIPTcp - x\n", "sdl"),
    (b"tcp        0      0 127.0.0.1:5062          0.0.0.0:*               LISTEN\n", "netstat"),
    (b"2017-09-19T10:12:00.100-04:00 amer-expressway01 tvcs: Event=\"x\"\n", "log"),
])
def test_detect_by_content(head, kind):
    assert detect(head) == kind


def test_detect_refuses_empty_and_binary():
    with pytest.raises(InputError, match="empty"):
        detect(b"")
    with pytest.raises(InputError, match="binary"):
        detect(bytes(range(256)) * 4)


def test_bad_inputs_are_errors_and_the_rest_is_still_analysed(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "image.log"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100)
    missing = tmp_path / "gone.log"
    good = FIX / "outbound-cpl.log"
    report = checks.analyze([str(empty), str(binary), str(missing), str(good)])
    assert [f.issue for f in report.findings] == ["outbound-cpl"]
    errors = {Path(e.path).name: e.error for e in report.errors}
    assert errors["empty.log"] == "the file is empty"
    assert "binary data" in errors["image.log"]
    assert "cannot read" in errors["gone.log"]
    assert all("\n" not in e for e in errors.values())


def test_binary_file_given_explicitly_as_a_log_is_refused(tmp_path):
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 100)
    report = checks.analyze([str(binary)], kind="log")
    assert report.errors and "binary" in report.errors[0].error
    pcap_as_log = checks.analyze([str(FIX.parent.parent / "test_bundle.py")], kind="pcap")
    assert pcap_as_log.errors


def test_observations_from_several_files_combine():
    report = checks.analyze([str(FIX / "outbound-search-rule.log"), str(FIX / "xconf-expe-search-rule-shadowed.txt")])
    (f,) = report.findings
    assert f.issue == "outbound-search-rule" and f.confidence == "high"
    assert {Path(e.file).name for e in f.evidence} == {"outbound-search-rule.log", "xconf-expe-search-rule-shadowed.txt"}


def test_progress_reaches_the_total():
    seen = []
    paths = [str(FIX / "two-faults.log"), str(FIX / "xconf-expe-clean.txt")]
    checks.analyze(paths, progress=lambda done, total: seen.append((done, total)))
    total = sum(Path(p).stat().st_size for p in paths)
    assert seen and seen[-1] == (total, total)
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))


def test_mixed_encoding_log_is_read(tmp_path):
    w = xw.LogWriter(seed=5)
    w.noise(30)
    xw.fault_port_blocked_out(w)
    data = w.text().encode() + "2017-09-19T10:30:00.000-04:00 amer-expressway01 web: User=\"Jos\xe9\"\n".encode("latin-1")
    path = tmp_path / "mixed.log"
    path.write_bytes(data)
    assert [f.issue for f in checks.analyze([str(path)]).findings] == ["outbound-port-blocked"]


def test_text_without_any_log_record_is_clean(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("We restarted the Expressway yesterday.\nCalls still fail.\n")
    report = checks.analyze([str(path)])
    assert report.findings == () and report.errors == ()


def test_cli_json_shape_and_exit_status(tmp_path):
    proc = run_cli("analyze", "--json", str(FIX / "two-faults.log"), str(FIX / "xconf-expe-clean.txt"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"inputs", "findings", "errors"}
    assert data["inputs"] == [{"path": str(FIX / "two-faults.log"), "kind": "log"},
                              {"path": str(FIX / "xconf-expe-clean.txt"), "kind": "xconf"}]
    for f in data["findings"]:
        assert set(f) == {"issue", "title", "confidence", "summary", "alternatives", "evidence"}
        assert all(set(e) == {"file", "location", "text"} and e["location"].startswith("line ") for e in f["evidence"])
    assert {f["issue"] for f in data["findings"]} == {"mtls-webex-ca-untrusted", "outbound-port-blocked"}
    assert data["errors"] == []


def test_cli_human_output_has_findings_evidence_fix_and_timeline():
    proc = run_cli("analyze", str(FIX / "outbound-port-blocked.log"))
    assert proc.returncode == 0
    out = proc.stdout
    assert "[outbound-port-blocked]" in out and "confidence high" in out
    assert "line " in out and "TCP Connection Failed" in out
    assert "Fix:" in out and "Timeline: connection 172.16.2.2:25026 -> 146.20.193.70:5062" in out
    assert out.index("Fix:") < out.index("Timeline:")


def test_cli_unusable_inputs_exit_1_with_one_line_each(tmp_path):
    empty = tmp_path / "e.log"
    empty.write_bytes(b"")
    proc = run_cli("analyze", "--json", str(empty))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["errors"] == [{"path": str(empty), "error": "the file is empty"}]
    assert proc.stderr.strip() == f"hcdoctor: {empty}: the file is empty"
    assert "Traceback" not in proc.stderr


def test_kind_option_overrides_detection():
    report = checks.analyze([str(FIX / "netstat-not-listening.txt")], kind="netstat")
    assert report.inputs[0].kind == "netstat" and report.findings[0].issue == "inbound-not-listening"
    as_xconf = checks.analyze([str(FIX / "netstat-not-listening.txt")], kind="xconf")
    assert as_xconf.findings == () and as_xconf.errors == ()


def test_ten_megabyte_line_in_a_log_file(tmp_path):
    w = xw.LogWriter(seed=6)
    w.noise(20)
    xw.fault_firewall_inspection(w)
    path = tmp_path / "long.log"
    path.write_bytes(b"2017-09-19T10:00:00.000-04:00 amer-expressway01 tvcs: " + b"A" * 10_000_000 + b"\n"
                     + w.text().encode())
    report = checks.analyze([str(path)])
    assert [f.issue for f in report.findings] == ["mtls-firewall-inspection"]
    assert any("over-long" in w for w in report.warnings)
    lines = path.read_bytes().split(b"\n")
    for ev in report.findings[0].evidence:
        assert ev.text[:60].encode() in lines[int(ev.location.split()[1]) - 1]
