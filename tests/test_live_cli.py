"""`hcdoctor check` as a user runs it: a real process against real servers on loopback.

The CLI passes no port allow-list, so the servers listen on 127.x.y.z:5062 (the mutual TLS
port) and ``HCDOCTOR_CHECK_PRIVATE=1`` lets the check touch loopback at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.pki import expressway_pki, webex_pki
from tests.support.tls_servers import TlsServer, loopback_host

HCDOCTOR = [shutil.which("hcdoctor")] if shutil.which("hcdoctor") else [sys.executable, "-m", "bot.cli"]
EXP = expressway_pki()
WX = webex_pki()


def run(*args: str, private: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HCDOCTOR_CHECK_PRIVATE"}
    if private:
        env["HCDOCTOR_CHECK_PRIVATE"] = "1"
    return subprocess.run([*HCDOCTOR, "check", *args], capture_output=True, text=True, timeout=60, env=env)


def server_on_5062(**kw) -> TlsServer:
    for _ in range(20):
        try:
            return TlsServer([EXP["leaf"].cert, EXP["ica"].cert], EXP["leaf"].key, host=loopback_host(), port=5062, **kw)
        except OSError:
            continue
    raise RuntimeError("no free 127.x.y.z:5062")


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trust") / "example-root.pem"
    path.write_bytes(EXP["root"].pem)
    return str(path)


def test_json_is_one_document_in_the_contract_shape(ca_file):
    with server_on_5062(client_cas=[WX["root"].cert]) as srv:
        r = run(f"{srv.host}:5062", "--json", "--ca-file", ca_file, "--timeout", "5")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"target", "steps", "findings"} and data["target"] == f"{srv.host}:5062"
    assert [s["name"] for s in data["steps"]] == ["dns", "tcp", "tls", "chain", "trust", "client-ca"]
    for step in data["steps"]:
        assert set(step) == {"name", "status", "detail"} and step["status"] in {"pass", "fail", "warn", "skip"}
    assert data["findings"] == []


def test_human_checklist_names_the_fault_and_its_fix(ca_file):
    with server_on_5062(client_cas=[EXP["root"].cert]) as srv:
        r = run(f"{srv.host}:5062", "--ca-file", ca_file, "--timeout", "5")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"Checking {srv.host}:5062" in out
    assert "  ✔ tcp:" in out and "  ! dns:" in out and "  ✖ client-ca:" in out
    assert "[mtls-webex-ca-untrusted]" in out and "Fix:" in out and "Cloud Certificate management" in out


def test_json_finding_evidence(ca_file):
    with server_on_5062(request_client_cert=False) as srv:
        leaf_only = TlsServer([EXP["leaf"].cert], EXP["leaf"].key, host=srv.host, port=5061)
        with leaf_only:
            r = run(f"{srv.host}:5061", "--json", "--ca-file", ca_file, "--timeout", "5")
    data = json.loads(r.stdout)
    assert [f["issue"] for f in data["findings"]] == ["mtls-incomplete-chain"]
    ev = data["findings"][0]["evidence"][0]
    assert ev == {"file": f"{srv.host}:5061", "location": "step chain", "text": ev["text"]}
    assert "1 cert" in ev["text"]


def test_refused_target_exits_1_with_one_line():
    r = run("127.0.0.1:5062", "--timeout", "2", private=False)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to check 127.0.0.1:5062" in lines[0] and "HCDOCTOR_CHECK_PRIVATE=1" in lines[0]


def test_disallowed_port_and_bad_target_exit_1():
    r = run("127.0.0.1:8080")
    assert r.returncode == 1 and "port 8080" in r.stderr and "Traceback" not in r.stderr
    r = run("not a target")
    assert r.returncode == 1 and "not a SIP destination" in r.stderr and "Traceback" not in r.stderr


def test_usage_errors_exit_2():
    assert run("example.com", "--timeout", "0").returncode == 2
    assert run().returncode == 2
