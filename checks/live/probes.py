"""The only network code of the live checks: DNS queries, TCP connects, one TLS handshake.

Each probe takes an explicit timeout, touches at most one connection, connects only to
the literal address it is given (never resolving a name a second time) and returns raw
material (DNS answers, DER certificates, CA names as DER). Judging that material is the
job of ``checks.live.steps`` and ``checks.certs``, so the same chain seen in a capture
gives the same verdict.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import time
import warnings
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from checks.errors import CheckError

MAX_CHAIN_CERTS = 16
MAX_CA_NAMES = 64


class ProbeTimeout(CheckError):
    """Nothing came back within the time the probe was given."""


class ProbeRefused(CheckError):
    """The peer answered the SYN with a RST."""


class ProbeUnreachable(CheckError):
    """The network said no (ICMP unreachable, no route) before the peer could answer."""


class ResolveFailed(CheckError):
    """DNS could not give an answer either way (timeout, SERVFAIL, refused)."""


class Deadline:
    """The overall time limit of a check, shared by every probe it runs."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def budget(self, cap: float | None = None) -> float:
        """Time for the next probe: what is left, at most ``cap``."""
        left = self.remaining()
        return left if cap is None else min(left, cap)


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # without the trailing dot; "." (service refused) becomes ""


@dataclass(frozen=True)
class SrvAnswer:
    """``exists`` is False for NXDOMAIN or an empty answer: the record is not there."""

    name: str
    exists: bool
    records: tuple[SrvRecord, ...]


@dataclass(frozen=True)
class Handshake:
    """What one TLS handshake without a client certificate showed.

    ``error`` is the handshake's failure text, if any; a server that insists on a client
    certificate always ends the handshake, after its CertificateRequest has arrived.
    ``server_flight_seen`` says whether the server got as far as it would have asked
    (ServerHelloDone, or Finished in TLS 1.3), so a missing request means something.
    """

    protocol: str
    cipher: str
    ders: tuple[bytes, ...]
    cert_requested: bool
    ca_names: tuple[bytes, ...]
    server_flight_seen: bool
    error: str | None
    seconds: float


def make_resolver(nameserver: str | None) -> dns.resolver.Resolver:
    """A resolver for the given ``HOST[:PORT]`` (``[v6]:port`` too), else the system's."""
    if nameserver is None:
        try:
            return dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise CheckError("no system DNS resolver is configured; pass --nameserver HOST[:PORT]") from None
    host, port = _split_nameserver(nameserver)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    return resolver


def _split_nameserver(text: str) -> tuple[str, int]:
    raw = text.strip()
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    else:
        host, port_text = raw, ""
    if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise CheckError(f"--nameserver {text!r}: the port must be a number from 1 to 65535")
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        try:  # a name for the resolver itself: the operator chose it, so the system may resolve it
            ip = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0]
        except OSError:
            raise CheckError(f"--nameserver {text!r}: cannot resolve that name") from None
    return ip, int(port_text) if port_text else 53


def query_srv(resolver: dns.resolver.Resolver, name: str, timeout: float) -> SrvAnswer:
    try:
        answer = resolver.resolve(dns.name.from_text(name), "SRV", lifetime=max(timeout, 0.05), search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return SrvAnswer(name, False, ())
    except dns.exception.Timeout:
        raise ProbeTimeout(f"no DNS answer for {name} SRV within {timeout:.1f} s") from None
    except dns.exception.DNSException as exc:
        raise ResolveFailed(f"DNS lookup of {name} SRV failed ({_dns_reason(exc)})") from None
    records = tuple(
        SrvRecord(r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True)) for r in answer
    )
    return SrvAnswer(name, bool(records), records)


def query_addresses(resolver: dns.resolver.Resolver, host: str, timeout: float) -> tuple[str, ...]:
    """A then AAAA records of ``host``; an empty tuple when it has neither."""
    end = time.monotonic() + timeout
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        left = end - time.monotonic()
        if left <= 0:
            raise ProbeTimeout(f"no DNS answer for {host} {rdtype} within {timeout:.1f} s")
        try:
            answer = resolver.resolve(dns.name.from_text(host), rdtype, lifetime=left, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.Timeout:
            raise ProbeTimeout(f"no DNS answer for {host} {rdtype} within {timeout:.1f} s") from None
        except dns.exception.DNSException as exc:
            raise ResolveFailed(f"DNS lookup of {host} {rdtype} failed ({_dns_reason(exc)})") from None
        found.extend(r.address for r in answer)
    return tuple(found)


def _dns_reason(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NoNameservers):
        return "the server answered SERVFAIL or refused"
    return exc.__class__.__name__


def _socket_for(ip: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM)


def _connect(ip: str, port: int, timeout: float) -> socket.socket:
    if timeout <= 0:
        raise ProbeTimeout(f"no time left to connect to {ip}:{port}")
    sock = _socket_for(ip)
    sock.settimeout(timeout)
    try:
        sock.connect((ip, port))
    except ConnectionRefusedError:
        sock.close()
        raise ProbeRefused(f"{ip}:{port} answered the SYN with a RST (connection refused)") from None
    except (TimeoutError, socket.timeout):
        sock.close()
        raise ProbeTimeout(f"no answer from {ip}:{port} within {timeout:.1f} s") from None
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            raise ProbeUnreachable(f"{ip}:{port} is unreachable ({exc.strerror})") from None
        raise CheckError(f"cannot connect to {ip}:{port} ({exc.strerror or exc.__class__.__name__})") from None
    return sock


def tcp_connect(ip: str, port: int, timeout: float) -> float:
    """Open and close one TCP connection; returns the seconds the connect took."""
    start = time.monotonic()
    sock = _connect(ip, port, timeout)
    elapsed = time.monotonic() - start
    sock.close()
    return elapsed


def tls_handshake(ip: str, port: int, server_name: str | None, timeout: float) -> Handshake:
    """One TLS handshake as a client with no certificate, peer verification off (we judge it later)."""
    start = time.monotonic()
    end = start + timeout
    sock = _connect(ip, port, timeout)
    states: list[bytes] = []
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_info_callback(lambda conn, _where, _ret: states.append(conn.get_state_string() or b""))
    conn = SSL.Connection(ctx, sock)
    if server_name:
        try:
            conn.set_tlsext_host_name(server_name.encode("idna"))
        except UnicodeError:  # a name DNS accepted but IDNA does not: connect without SNI
            pass
    conn.set_connect_state()
    sock.setblocking(False)
    error: str | None = None
    try:
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                _wait(sock, end, write=False, what=f"TLS handshake with {ip}:{port}")
            except SSL.WantWriteError:
                _wait(sock, end, write=True, what=f"TLS handshake with {ip}:{port}")
            except SSL.SysCallError as exc:
                error = _syscall_text(exc)
                break
            except SSL.Error as exc:
                error = _ssl_error_text(exc)
                break
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        ders = tuple(c.public_bytes(Encoding.DER) for c in chain[:MAX_CHAIN_CERTS])
        with warnings.catch_warnings():  # X509Name is deprecated in pyOpenSSL, and the only way to reach the list
            warnings.simplefilter("ignore", DeprecationWarning)
            ca_names = tuple(n.der() for n in conn.get_client_ca_list()[:MAX_CA_NAMES])
        return Handshake(
            protocol=conn.get_protocol_version_name() or "",
            cipher=conn.get_cipher_name() or "",
            ders=ders,
            cert_requested=any(b"certificate request" in s for s in states),
            ca_names=ca_names,
            server_flight_seen=any(b"read server done" in s or b"read finished" in s for s in states),
            error=error,
            seconds=time.monotonic() - start,
        )
    finally:
        sock.close()


def _wait(sock: socket.socket, end: float, *, write: bool, what: str) -> None:
    left = end - time.monotonic()
    if left <= 0:
        raise ProbeTimeout(f"{what} did not finish in time")
    ready = select.select([], [sock], [], left) if write else select.select([sock], [], [], left)
    if not any(ready):
        raise ProbeTimeout(f"{what} did not finish in time")


def _ssl_error_text(exc: SSL.Error) -> str:
    parts = [str(e[2]) for e in (exc.args[0] if exc.args and isinstance(exc.args[0], list) else []) if len(e) > 2]
    return "; ".join(p for p in parts if p) or exc.__class__.__name__


def _syscall_text(exc: SSL.SysCallError) -> str:
    if exc.args and exc.args[0] == -1:
        return "the server closed the connection"
    if exc.args and exc.args[0] == errno.ECONNRESET:
        return "the server reset the connection"
    return str(exc.args[1]) if len(exc.args) > 1 else "connection error"
