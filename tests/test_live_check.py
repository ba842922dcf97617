"""``checks.live.check`` against real servers on loopback: a dnslib DNS server, pyOpenSSL TLS servers,
a closed port (RST) and a port whose full accept queue drops SYNs. No mocked resolver or socket."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from OpenSSL import SSL

from checks.errors import RefusedTarget
from checks.live import check, steps
from checks.live.guard import Endpoint, Policy
from checks.live.probes import Deadline
from kb.errors import InputError
from tests.support.dns_server import DnsServer, silent_dns
from tests.support.pki import expressway_pki, webex_pki
from tests.support.tls_servers import TlsServer, closed_port, loopback_host, mute_port, silent_port

EXP = expressway_pki()
WX = webex_pki()
FULL = [EXP["leaf"].cert, EXP["ica"].cert]
KEY = EXP["leaf"].key
WEBEX_AND_OWN = [WX["root"].cert, EXP["root"].cert]


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trust") / "example-root.pem"
    path.write_bytes(EXP["root"].pem)
    return str(path)


def run(address: str, port: int, ca_file: str | None = None, **kw):
    return check(address, allow_private=True, allowed_ports=[port], ca_file=ca_file, timeout=kw.pop("timeout", 5), **kw)


def by_name(report, name):
    return [s for s in report.steps if s.name == name]


def status(report, name):
    steps = by_name(report, name)
    assert len(steps) == 1, report.steps
    return steps[0].status, steps[0].detail


def issues(report):
    return [f.issue for f in report.findings]


def on_5062(factory):
    """Bind a server on some 127.x.y.z:5062 (the only port a domain check accepts by default)."""
    for _ in range(20):
        try:
            return factory(loopback_host())
        except OSError:
            continue
    raise RuntimeError("no free 127.x.y.z:5062")


def test_healthy_full_chain_with_webex_root_gives_no_finding(ca_file):
    with TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file)
    assert report.findings == ()
    for name in ("tcp", "tls", "chain", "trust", "client-ca"):
        assert status(report, name)[0] == "pass", status(report, name)
    chain = status(report, "chain")[1]
    assert "2 certs" in chain and "[1] CN=expe.example.com issued by O=Example Corp,CN=Example Issuing CA" in chain
    assert "SAN expe.example.com, example.com, mtls.example.com" in chain and "valid " in chain
    assert "QuoVadis Root CA 2" in status(report, "client-ca")[1]
    assert "TLSv1.3" in status(report, "tls")[1]
    # loopback is allowed here, but the dns step still says Webex could not reach it
    assert status(report, "dns")[0] == "warn" and "loopback" in status(report, "dns")[1]


def test_tls12_server_shows_its_certificate_request(ca_file):
    with TlsServer(FULL, KEY, client_cas=[WX["root"].cert], max_version=SSL.TLS1_2_VERSION) as srv:
        report = run(srv.address, srv.port, ca_file)
    assert report.findings == ()
    st, detail = status(report, "tls")
    assert st == "pass" and "TLSv1.2" in detail and "asked for a client certificate" in detail
    assert status(report, "client-ca")[0] == "pass"


def test_leaf_only_is_an_incomplete_chain(ca_file):
    with TlsServer([EXP["leaf"].cert], KEY, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file)
    st, detail = status(report, "chain")
    assert st == "fail" and "1 cert" in detail and "without the intermediate" in detail
    assert status(report, "trust")[0] == "warn"
    assert issues(report) == ["mtls-incomplete-chain"]
    ev = report.findings[0].evidence[0]
    assert ev.file == srv.address and ev.location == "step chain" and srv.address in ev.text


@pytest.mark.parametrize("which", ["self_signed", "temp_leaf"])
def test_default_certificate(which, ca_file):
    with TlsServer([EXP[which].cert], EXP[which].key, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file)
    assert status(report, "chain")[0] == "fail"
    assert issues(report)[0] == "mtls-default-self-signed-cert"


def test_expired_certificate_fails_the_chain_step_without_a_kb_fault(ca_file):
    with TlsServer([EXP["expired"].cert, EXP["ica"].cert], EXP["expired"].key, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file)
    st, detail = status(report, "chain")
    assert st == "fail" and "expired on" in detail
    assert status(report, "trust")[0] == "warn" and "expired" in status(report, "trust")[1]
    assert report.findings == ()


def test_mutual_tls_off(ca_file):
    with TlsServer(FULL, KEY, request_client_cert=False) as srv:
        report = run(srv.address, srv.port, ca_file)
    st, detail = status(report, "client-ca")
    assert st == "warn" and "mutual TLS not enabled on this port" in detail
    assert report.findings == ()


def test_client_ca_list_without_webex_roots(ca_file):
    with TlsServer(FULL, KEY, client_cas=[EXP["root"].cert]) as srv:
        report = run(srv.address, srv.port, ca_file)
    st, detail = status(report, "client-ca")
    assert st == "fail" and "CN=Example Root CA" in detail and "neither QuoVadis" in detail
    assert issues(report) == ["mtls-webex-ca-untrusted"]


def test_certificate_request_without_names_is_a_warning(ca_file):
    with TlsServer(FULL, KEY, client_cas=[]) as srv:
        report = run(srv.address, srv.port, ca_file)
    assert status(report, "client-ca")[0] == "warn" and "names no acceptable CAs" in status(report, "client-ca")[1]
    assert report.findings == ()


def test_closed_port_is_not_listening():
    with closed_port() as cp:
        report = run(f"127.0.0.1:{cp.port}", cp.port)
    st, detail = status(report, "tcp")
    assert st == "fail" and "RST" in detail
    assert [s.status for s in report.steps[2:]] == ["skip"] * 4
    assert issues(report) == ["inbound-not-listening"]


def test_silent_port_is_blocked():
    with silent_port() as sp:
        start = time.monotonic()
        report = run(f"127.0.0.1:{sp.port}", sp.port, timeout=2)
        elapsed = time.monotonic() - start
    st, detail = status(report, "tcp")
    assert st == "fail" and "did not answer" in detail
    assert issues(report) == ["inbound-port-blocked"]
    assert 1.0 < elapsed < 2.0


def test_domain_srv_on_5062_with_sni_and_names(ca_file):
    srv = on_5062(lambda host: TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN, host=host, port=5062))
    with srv, DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, 5062, "expe.example.com").a("expe.example.com", srv.host)
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, ca_file=ca_file, timeout=5)
    dns_steps = by_name(report, "dns")
    assert dns_steps[0].status == "pass" and "_sips._tcp.example.com: 1 SRV record" in dns_steps[0].detail
    assert f"SRV 1 10 5062 expe.example.com -> {srv.host}" in dns_steps[1].detail
    assert "expe.example.com is among the certificate's names" in status(report, "trust")[1]
    assert report.findings == ()


def test_srv_port_5061_warns_about_a_dedicated_record(ca_file):
    srv = on_5062(lambda host: TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN, host=host, port=5061))
    with srv, DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, 5061, "expe.example.com").a("expe.example.com", srv.host)
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, ca_file=ca_file, timeout=5)
    record = by_name(report, "dns")[1]
    assert record.status == "warn" and "port 5061, not 5062" in record.detail
    assert "_sips._tcp.mtls.example.com" in record.detail
    assert status(report, "tls")[0] == "pass"


def test_no_srv_record_is_unresolvable():
    with DnsServer() as dns:
        dns.a("example.com", "127.0.0.1")
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, timeout=5)
    st, detail = status(report, "dns")
    assert st == "fail" and "no SRV record _sips._tcp.example.com" in detail
    assert status(report, "tcp")[0] == "skip"
    assert issues(report) == ["inbound-dns-unresolvable"]
    assert report.findings[0].evidence[0].location == "step dns"


def test_host_without_address_is_unresolvable():
    with DnsServer() as dns:
        dns.a("other.example.com", "127.0.0.1")
        report = check("expe.example.com:5062", nameserver=dns.nameserver, allow_private=True, timeout=5)
    assert status(report, "dns")[0] == "fail"
    assert issues(report) == ["inbound-dns-unresolvable"]


def test_every_srv_record_and_address_is_probed_in_parallel():
    with silent_port() as sp, DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, sp.port, "a.example.com").a("a.example.com", "127.0.0.1")
        dns.srv("_sips._tcp.example.com", 2, 10, sp.port, "b.example.com").a("b.example.com", "127.0.0.1")
        dns.a("b.example.com", "127.0.0.2")
        start = time.monotonic()
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, allowed_ports=[sp.port],
                       timeout=2)
        elapsed = time.monotonic() - start
    tcp = by_name(report, "tcp")
    # 127.0.0.1:port is dropped (full queue) in both records, 127.0.0.2:port has no socket (RST): two endpoints
    assert sorted(s.detail.split()[0] for s in tcp) == [f"127.0.0.1:{sp.port}", f"127.0.0.2:{sp.port}"]
    assert elapsed < 2.0
    assert set(issues(report)) == {"inbound-port-blocked", "inbound-not-listening"}


def test_too_many_targets_are_capped():
    with closed_port() as cp, DnsServer() as dns:
        for i in range(15):
            dns.srv("_sips._tcp.example.com", 1, 10, cp.port, f"h{i:02d}.example.com")
            dns.a(f"h{i:02d}.example.com", f"127.0.0.{i + 10}")
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, allowed_ports=[cp.port],
                       timeout=5)
    assert "15 SRV records; checking only the first 10" in by_name(report, "dns")[0].detail
    assert len(by_name(report, "tcp")) == 10


def test_name_resolving_to_loopback_is_refused_without_permission(monkeypatch):
    monkeypatch.delenv("HCDOCTOR_CHECK_PRIVATE", raising=False)
    with mute_port() as mp, DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, 5062, "expe.example.com").a("expe.example.com", "127.0.0.1")
        dns.a("inward.example.com", "127.0.0.1")
        with pytest.raises(RefusedTarget, match="127.0.0.1 is a loopback address"):
            check("example.com", nameserver=dns.nameserver, timeout=3)
        with pytest.raises(RefusedTarget, match="HCDOCTOR_CHECK_PRIVATE=1"):
            check(f"inward.example.com:{5062}", nameserver=dns.nameserver, timeout=3)
        time.sleep(0.2)
        assert mp.accepted == []  # nothing connected anywhere


def test_environment_variable_allows_private_targets(monkeypatch):
    monkeypatch.setenv("HCDOCTOR_CHECK_PRIVATE", "1")
    with closed_port() as cp:
        report = check(f"127.0.0.1:{cp.port}", allowed_ports=[cp.port], timeout=3)
    assert issues(report) == ["inbound-not-listening"]


def test_srv_targets_all_inward_are_refused(monkeypatch):
    monkeypatch.delenv("HCDOCTOR_CHECK_PRIVATE", raising=False)
    with DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, 5062, "inside.example.com").a("inside.example.com", "10.9.9.9")
        dns.srv("_sips._tcp.example.com", 2, 10, 5062, "edge.example.com").a("edge.example.com", "127.0.0.1")
        with pytest.raises(RefusedTarget, match="10.9.9.9 is a private address"):
            check("example.com", nameserver=dns.nameserver, timeout=3)


def test_in_a_mixed_answer_only_the_inward_address_is_left_out():
    """Judged without connecting anywhere: tests never reach a public address."""
    env = steps.Env(target="example.com", policy=Policy(), deadline=Deadline(1), dns_deadline=Deadline(1),
                    now=dt.datetime.now(dt.timezone.utc), trust=steps.load_trust(None, dt.datetime.now(dt.timezone.utc)))
    notes, endpoints, refused = steps._address_notes(["64.102.241.236", "10.9.9.9"], 5062, env)
    assert endpoints == [Endpoint("64.102.241.236", 5062)]
    assert refused and "10.9.9.9 is a private address" in refused[0]
    assert any("10.9.9.9:5062 not probed" in n for n in notes)


def test_every_step_silent_ends_within_the_overall_timeout():
    with silent_port() as sp, mute_port() as mp, DnsServer() as dns:
        dns.srv("_sips._tcp.example.com", 1, 10, sp.port, "a.example.com").a("a.example.com", "127.0.0.1")
        dns.srv("_sips._tcp.example.com", 2, 10, mp.port, "b.example.com").a("b.example.com", "127.0.0.1")
        dns.srv("_sips._tcp.callservice.webex.com", 5, 10, sp.port, "l2sip-a.wbx2.com")
        dns.a("l2sip-a.wbx2.com", "127.0.0.1")
        start = time.monotonic()
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, timeout=2.5,
                       allowed_ports=[sp.port, mp.port], webex=True)
        elapsed = time.monotonic() - start
    assert elapsed < 2.5, elapsed
    tcp = {s.detail.split()[0]: s for s in by_name(report, "tcp")}
    assert tcp[f"127.0.0.1:{sp.port}"].status == "fail"
    assert tcp[f"127.0.0.1:{mp.port}"].status == "pass"
    tls = by_name(report, "tls")
    assert len(tls) == 2 and any(s.status == "fail" and "did not finish in time" in s.detail for s in tls)
    assert any(s.name == "webex-tcp" and s.status == "fail" for s in report.steps)


def test_silent_dns_ends_within_the_overall_timeout():
    with silent_dns() as dns:
        start = time.monotonic()
        report = check("example.com", nameserver=dns.nameserver, allow_private=True, timeout=1.5)
        elapsed = time.monotonic() - start
    assert elapsed < 1.5
    st, detail = status(report, "dns")
    assert st == "fail" and "no DNS answer" in detail
    assert report.findings == ()  # a silent resolver is not proof the record is missing


def test_webex_side_is_labelled_as_seen_from_here():
    srv = on_5062(lambda host: TlsServer(WX and [WX["leaf"].cert, WX["ica"].cert], WX["leaf"].key,
                                         request_client_cert=False, host=host, port=5062))
    with srv, closed_port() as cp, DnsServer() as dns:
        dns.srv("_sips._tcp.callservice.webex.com", 5, 10, 5062, "l2sip-a.wbx2.com").a("l2sip-a.wbx2.com", srv.host)
        dns.srv("_sips._tcp.callservice.ciscospark.com", 5, 10, 5061, "l2sip-b.wbx2.com")
        dns.a("l2sip-b.wbx2.com", srv.host)
        report = check(f"127.0.0.1:{cp.port}", nameserver=dns.nameserver, allow_private=True,
                       allowed_ports=[cp.port, 5061, 5062], webex=True, timeout=5)
    wdns = by_name(report, "webex-dns")
    assert [s.status for s in wdns] == ["pass", "fail"]
    assert "expected port 5062" in wdns[1].detail
    wtcp = by_name(report, "webex-tcp")
    assert any(s.status == "pass" and f"{srv.host}:5062" in s.detail for s in wtcp)
    assert all("seen from where this tool runs, not from the Expressway" in s.detail for s in wdns + wtcp)
    assert issues(report) == ["inbound-not-listening"]  # the Webex side adds no finding of its own


def test_default_trust_store_is_certifi():
    with TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port)
    st, detail = status(report, "trust")
    assert st == "warn" and "certifi" in detail and "unable to get local issuer certificate" in detail


def test_unreadable_ca_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read it"):
        check("127.0.0.1:5062", allow_private=True, ca_file=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(InputError, match="no readable PEM"):
        check("127.0.0.1:5062", allow_private=True, ca_file=str(junk))


def test_chain_out_of_issuing_order_is_a_warning(ca_file):
    with TlsServer([EXP["leaf"].cert, EXP["root"].cert, EXP["ica"].cert], KEY, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file)
    st, detail = status(report, "chain")
    assert st == "warn" and "3 certs" in detail and "not each issued by the next" in detail
    assert detail.index("[2] O=Example Corp,CN=Example Root CA") < detail.index("[3] O=Example Corp,CN=Example Issuing CA")
    assert report.findings == ()


def test_validity_is_judged_at_the_given_time(ca_file):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=800)
    with TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN) as srv:
        report = run(srv.address, srv.port, ca_file, now=later)
    assert status(report, "chain")[0] == "fail" and "expired on" in status(report, "chain")[1]
    assert "expired" in status(report, "trust")[1]


def test_ipv6_loopback_in_brackets(ca_file):
    with TlsServer(FULL, KEY, client_cas=WEBEX_AND_OWN, host="::1") as srv:
        report = run(f"[::1]:{srv.port}", srv.port, ca_file)
    assert status(report, "tcp")[1].startswith(f"[::1]:{srv.port} connected")
    assert status(report, "client-ca")[0] == "pass" and report.findings == ()
