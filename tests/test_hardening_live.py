"""Live-check abuse: inward names, DNS answers that change under us, disallowed ports, many targets, floods of checks.

Real DNS (dnslib on loopback) and real TCP listeners on 127.x addresses that count
who connected to them; nothing leaves the machine.
"""

from __future__ import annotations

import socket
import threading

import pytest
from dnslib import QTYPE, RR, A

from bot.limits import CHECKS_BUSY
from checks.errors import RefusedTarget
from checks.live import check, guard
from tests.support.dns_server import DnsServer, _Zone
from tests.support.tls_servers import bind_listener, loopback_host
from tests.support.webex_bot import running_bot


class Listener:
    """A TCP listener that records every peer that connects; ``hold`` keeps connections open silently."""

    def __init__(self, host: str, port: int = 0, hold: bool = False):
        self.sock = bind_listener(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.hold = hold
        self.accepted: list[tuple[str, int]] = []
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.accepted.append(peer)
            if self.hold:
                self._open.append(conn)
            else:
                conn.close()

    def __enter__(self) -> "Listener":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        for c in self._open:
            c.close()
        self.sock.close()


class FlippingZone(_Zone):
    """Answers the first A query for a name with one address and every later one with another (DNS rebinding)."""

    def __init__(self, name: str, first: str, then: str):
        super().__init__()
        self.name, self.first, self.then = name, first, then
        self.a_queries = 0
        self.records[(name, "AAAA")] = []  # the name exists: AAAA is an empty NOERROR

    def resolve(self, request, handler):
        qname = str(request.q.qname).rstrip(".").lower()
        if qname == self.name and QTYPE[request.q.qtype] == "A":
            with self.lock:
                self.a_queries += 1
                ip = self.first if self.a_queries == 1 else self.then
            reply = request.reply()
            reply.add_answer(RR(self.name, QTYPE.A, rdata=A(ip), ttl=0))
            return reply
        return super().resolve(request, handler)


def _pair_on_one_port() -> tuple[Listener, Listener]:
    for _ in range(20):
        checked = Listener(loopback_host())
        try:
            other = Listener(loopback_host(), checked.port)
        except OSError:
            checked.sock.close()
            continue
        return checked, other
    raise RuntimeError("no free port on two loopback addresses")


def test_connects_only_to_the_address_that_was_checked_when_dns_flips():
    checked, rebound = _pair_on_one_port()
    dns = DnsServer()
    dns.zone = FlippingZone("flip.example.test", checked.host, rebound.host)
    with dns, checked, rebound:
        report = check(f"flip.example.test:{checked.port}", nameserver=dns.nameserver, allow_private=True,
                       allowed_ports={checked.port}, timeout=3)
        # a second look-up would get the other address: the zone really flips
        assert dns.zone.a_queries == 1
        steps = {s.name: s for s in report.steps}
        assert checked.host in steps["dns"].detail and rebound.host not in steps["dns"].detail
        assert steps["tcp"].status == "pass" and checked.host in steps["tcp"].detail
    assert len(checked.accepted) == 2  # the TCP step and the TLS step, both to the checked address
    assert rebound.accepted == []


def test_a_name_that_resolves_inward_is_refused_before_any_connection(monkeypatch):
    monkeypatch.delenv("HCDOCTOR_CHECK_PRIVATE", raising=False)
    with Listener(loopback_host(), 5062) as inside, DnsServer() as dns:
        dns.a("inside.example.test", inside.host)
        dns.srv("_sips._tcp.example.test", 10, 10, 5062, "inside.example.test")
        for target in ("inside.example.test:5062", "example.test"):
            with pytest.raises(RefusedTarget, match="loopback address") as err:
                check(target, nameserver=dns.nameserver, timeout=3)
            assert "\n" not in str(err.value)
    assert inside.accepted == []


def test_disallowed_ports_are_never_connected_to():
    with Listener(loopback_host()) as web, DnsServer() as dns:
        dns.a("web.example.test", web.host).srv("_sips._tcp.example.test", 10, 10, web.port, "web.example.test")
        with pytest.raises(RefusedTarget, match=f"port {web.port} is not one this tool probes"):
            check(f"{web.host}:{web.port}", allow_private=True, timeout=3)
        with pytest.raises(RefusedTarget, match=f"port {web.port}"):
            check(f"web.example.test:{web.port}", nameserver=dns.nameserver, allow_private=True, timeout=3)
        with pytest.raises(RefusedTarget, match=f"port {web.port}"):  # an SRV record cannot smuggle a port in
            check("example.test", nameserver=dns.nameserver, allow_private=True, timeout=3)
    assert web.accepted == []


def test_many_targets_are_capped_to_a_few_connections():
    hosts = [loopback_host() for _ in range(3 * guard.MAX_ENDPOINTS)]
    listeners = [Listener(h, 5062) for h in hosts]
    with DnsServer() as dns:
        for n, lst in enumerate(listeners):
            lst.__enter__()
            dns.a(f"t{n}.example.test", lst.host).srv("_sips._tcp.example.test", n // 5, 10, 5062, f"t{n}.example.test")
        try:
            report = check("example.test", nameserver=dns.nameserver, allow_private=True, timeout=4)
        finally:
            for lst in listeners:
                lst.__exit__()
    touched = [lst for lst in listeners if lst.accepted]
    assert 0 < len(touched) <= guard.MAX_ENDPOINTS
    assert any("checking only the first" in s.detail for s in report.steps)


def test_bot_refuses_an_inward_name_and_a_disallowed_port_in_one_line(monkeypatch):
    with running_bot() as h:
        ann = h.person()
        room = h.direct(ann)
        h.sandbox.say(ann, room, "check 127.0.0.1:5062")
        h.sandbox.say(ann, room, "check 127.0.0.1:22")
        h.idle(20)
        texts = [a["markdown"] for a in h.answers(room)]
        assert len(texts) == 2 and all("\n" not in t and t.startswith("I cannot check") for t in texts)
        assert "loopback" in texts[0] and "port 22 is not one this tool probes" in texts[1]


def test_one_person_gets_at_most_two_checks_at_once_the_rest_one_line_each():
    with running_bot(check_private=True, check_timeout=2.0, workers=8) as h, \
            Listener(loopback_host(), 5062, hold=True) as slow:
        ann, bob = h.person(), h.person("bob@example.com", "Bob")
        room, bob_room = h.direct(ann), h.direct(bob)
        target = f"check {slow.host}:5062"
        sent = [h.sandbox.say(ann, room, target, wait=False) for _ in range(4)]
        h.sandbox.say(bob, bob_room, target, wait=False)  # someone else still gets theirs
        h.idle(30)
        answers = h.answers(room)
        busy = [a for a in answers if a["markdown"] == CHECKS_BUSY.format(n=2)]
        reports = [a for a in answers if a["markdown"].startswith("**Checking")]
        assert len(busy) == 2 and len(reports) == 2
        assert {a["parentId"] for a in busy + reports} == {m["id"] for m in sent}
        assert [a["markdown"].startswith("**Checking") for a in h.answers(bob_room)] == [True]
        # the slots are free again once the checks have answered
        h.sandbox.say(ann, room, target)
        h.idle(30)
        assert h.answers(room)[-1]["markdown"].startswith("**Checking")
