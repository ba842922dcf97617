"""A real DNS server on loopback for the live-check tests (dnslib, UDP and TCP on one random port).

Records are plain data added by each test; names that have no record at all answer
NXDOMAIN, names with other types answer NOERROR with no data, like a real zone.
``silent_dns()`` binds a port and never answers, for the timeout tests.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

from dnslib import AAAA, QTYPE, RCODE, RR, SRV, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Zone(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[RR]] = defaultdict(list)
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            answers = list(self.records.get((qname, qtype), ()))
            known = any(name == qname for name, _ in self.records)
        for rr in answers:
            reply.add_answer(rr)
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsServer:
    """``with DnsServer() as dns: dns.srv(...); check(..., nameserver=dns.nameserver)``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.zone = _Zone()
        self._servers: list[DNSServer] = []
        self.port = 0

    def srv(self, name: str, priority: int, weight: int, port: int, target: str) -> DnsServer:
        rr = RR(name, QTYPE.SRV, rdata=SRV(priority, weight, port, target + "."), ttl=60)
        return self._add(name, "SRV", rr)

    def a(self, name: str, ip: str) -> DnsServer:
        return self._add(name, "A", RR(name, QTYPE.A, rdata=A(ip), ttl=60))

    def aaaa(self, name: str, ip: str) -> DnsServer:
        return self._add(name, "AAAA", RR(name, QTYPE.AAAA, rdata=AAAA(ip), ttl=60))

    def _add(self, name: str, qtype: str, rr: RR) -> DnsServer:
        with self.zone.lock:
            self.zone.records[(name.rstrip(".").lower(), qtype)].append(rr)
        return self

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> DnsServer:
        quiet = DNSLogger(logf=lambda *_: None)
        for _ in range(20):  # a port free for both UDP and TCP
            udp = DNSServer(self.zone, address=self.host, port=0, logger=quiet)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self.zone, address=self.host, port=port, tcp=True, logger=quiet)
            except OSError:
                udp.server.server_close()
                continue
            self._servers = [udp, tcp]
            self.port = port
            break
        else:
            raise RuntimeError("no free port for the test DNS server")
        for server in self._servers:  # a short poll interval keeps stop() (and so each test) quick
            threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


class silent_dns:
    """A UDP port on loopback that takes queries and never answers."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.host, self.port = host, self.udp.getsockname()[1]

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> silent_dns:
        return self

    def __exit__(self, *exc) -> None:
        self.udp.close()
