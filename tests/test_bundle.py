"""Diagnostic bundles: members analysed by kind and merged into one diagnosis; hostile archives refused."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

import checks
from checks.parsers import bundle
from tests.support import explog_writer as xw
from tests.support.archives import tar_gz, zip_of
from tests.support.capture_scenarios import leaf_only_pcap_lab
from tests.support.pki import expressway_pki, webex_pki

FIX = Path(__file__).parent / "fixtures" / "logs"
HOST = "amer-expressway01_2017-09-19_10-12"


@pytest.fixture(scope="module")
def pki():
    return webex_pki(), expressway_pki("rtp.ciscotac.net")


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def full_bundle(pki) -> dict[str, bytes]:
    wx, ex = pki
    return {
        f"loggingsnapshot_{HOST}.txt": (FIX / "mtls-certificate-unknown.log").read_bytes(),
        f"xconf_dump_{HOST}.txt": xw.xconf_expe().encode(),
        f"eth0_diagnostic_logging_tcpdump00_{HOST}.pcap": leaf_only_pcap_lab(pki),
        f"ca_{HOST}.pem": wx["root"].pem + ex["root"].pem,
        f"server_{HOST}.pem": ex["leaf"].pem,
    }


def test_tar_gz_bundle_merges_log_capture_and_pems(tmp_path, pki):
    report = checks.analyze([write(tmp_path, "diagnostic_log.tar.gz", tar_gz(full_bundle(pki)))])
    assert report.errors == ()
    kinds = sorted(i.kind for i in report.inputs)
    assert kinds == ["bundle", "log", "pcap", "pem", "pem", "xconf"]
    assert [(f.issue, f.confidence, f.alternatives) for f in report.findings] == [("mtls-incomplete-chain", "high", ())]
    files = {e.file.rsplit(":", 1)[-1] for e in report.findings[0].evidence}
    assert any(f.startswith("loggingsnapshot_") for f in files) and any(f.endswith(".pcap") for f in files)


def test_zip_bundle_gives_the_same_answer(tmp_path, pki):
    report = checks.analyze([write(tmp_path, "bundle.zip", zip_of(full_bundle(pki)))])
    assert [(f.issue, f.confidence) for f in report.findings] == [("mtls-incomplete-chain", "high")]


def test_bundle_identity_unacceptable_with_misspelt_subject(tmp_path):
    members = {f"loggingsnapshot_{HOST}.txt": (FIX / "mtls-identity-unacceptable.log").read_bytes(),
               f"xconf_dump_{HOST}.txt": xw.xconf_expe(subject="calllservice.ciscospark.com").encode()}
    report = checks.analyze([write(tmp_path, "b.tgz", tar_gz(members))])
    assert [(f.issue, f.confidence, f.alternatives) for f in report.findings] == [("mtls-subject-name-mismatch", "high", ())]


def test_bundle_identity_unacceptable_with_inbound_classification_off(tmp_path):
    members = {f"loggingsnapshot_{HOST}.txt": (FIX / "mtls-identity-unacceptable.log").read_bytes(),
               f"xconf_dump_{HOST}.txt": xw.xconf_expe(inbound="Off").encode()}
    report = checks.analyze([write(tmp_path, "b.tgz", tar_gz(members))])
    assert [(f.issue, f.confidence, f.alternatives) for f in report.findings] == [("mtls-zone-not-matched", "high", ())]


def test_pem_members_alone(tmp_path, pki):
    wx, ex = pki
    members = {f"ca_{HOST}.pem": ex["root"].pem + ex["ica"].pem, f"server_{HOST}.pem": ex["self_signed"].pem}
    report = checks.analyze([write(tmp_path, "certs.tar.gz", tar_gz(members))])
    got = {(f.issue, f.confidence) for f in report.findings}
    assert got == {("mtls-webex-ca-untrusted", "medium"), ("mtls-default-self-signed-cert", "high")}


def test_traversal_absolute_and_link_members_are_refused_but_others_read(tmp_path):
    link = tarfile.TarInfo("evil-link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard-link")
    hard.type, hard.linkname = tarfile.LNKTYPE, "xconf.txt"
    dev = tarfile.TarInfo("dev-null")
    dev.type = tarfile.CHRTYPE
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    members = {"../../tmp/evil.txt": b"x", "/etc/cron.d/evil": b"x", "xconf.txt": xw.xconf_expe(cpl="LocalCPL").encode()}
    report = checks.analyze([write(tmp_path, "hostile.tar.gz", tar_gz(members, [link, hard, dev, fifo]))])
    assert [f.issue for f in report.findings] == ["outbound-cpl"]
    text = "\n".join(report.warnings)
    for needle in ("climbs out", "absolute path", "symbolic link", "hard link", "character device", "FIFO"):
        assert needle in text
    assert not (tmp_path.parent / "tmp" / "evil.txt").exists()


def test_zip_with_traversal_and_symlink(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("../evil.txt", b"x")
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, b"/etc/passwd")
        z.writestr("netstat.txt", xw.netstat_output(False))
    report = checks.analyze([write(tmp_path, "h.zip", out.getvalue())])
    assert [f.issue for f in report.findings] == ["inbound-not-listening"]
    assert any("climbs out" in w for w in report.warnings) and any("symbolic link" in w for w in report.warnings)


def test_gzip_bomb_is_refused(tmp_path):
    data = tar_gz({"loggingsnapshot.txt": b"\0" * (64 << 20)})
    assert len(data) < 200_000
    report = checks.analyze([write(tmp_path, "bomb.tar.gz", data)])
    assert report.findings == ()
    (err,) = report.errors
    assert "bomb" in err.error


def test_zip_bomb_is_refused(tmp_path):
    report = checks.analyze([write(tmp_path, "bomb.zip", zip_of({"log.txt": b"a" * (64 << 20)}))])
    (err,) = report.errors
    assert "bomb" in err.error


def test_too_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "MAX_MEMBERS", 20)
    report = checks.analyze([write(tmp_path, "many.tar.gz", tar_gz({f"f{i}.txt": b"hello\n" for i in range(25)}))])
    assert any("more than 20 members" in e.error for e in report.errors)


def test_truncated_and_corrupt_archives(tmp_path):
    whole = tar_gz({"xconf.txt": xw.xconf_expe().encode() * 50})
    cut = checks.analyze([write(tmp_path, "cut.tar.gz", whole[: len(whole) // 2])])
    assert cut.errors and "truncated" in cut.errors[0].error
    junk = checks.analyze([write(tmp_path, "junk.tar.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 200)])
    assert junk.errors and "corrupt" in junk.errors[0].error


def test_nested_archive_and_binary_member_are_skipped(tmp_path):
    inner = tar_gz({"a.txt": b"x"})
    members = {"inner.tar.gz": inner, "blob.bin": bytes(range(256)) * 10, "netstat.txt": xw.netstat_output(False).encode()}
    report = checks.analyze([write(tmp_path, "n.tar.gz", tar_gz(members))])
    assert [f.issue for f in report.findings] == ["inbound-not-listening"]
    assert any("archives inside archives" in w for w in report.warnings)
    assert any("blob.bin" in w and "binary" in w for w in report.warnings)


def test_gzip_of_a_single_log(tmp_path):
    report = checks.analyze([write(tmp_path, "log.gz", gzip.compress((FIX / "outbound-cpl.log").read_bytes()))])
    assert [f.issue for f in report.findings] == ["outbound-cpl"]


def test_safe_name():
    assert bundle.safe_name("loggingsnapshot.txt") is None
    assert bundle.safe_name("dir/x.txt") is None
    assert "climbs" in bundle.safe_name("a/../../b")
    assert "absolute" in bundle.safe_name("/etc/x")
    assert "absolute" in bundle.safe_name("C:\\x")
    assert "climbs" in bundle.safe_name("..\\..\\x")
