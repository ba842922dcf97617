"""What a live check may touch: target syntax, allowed ports, public addresses, caps.

A chat bot that probes hosts on request must not become a scanner, so every address
is judged here *after* DNS resolution (a public name pointing inward is refused too)
and the probes connect only to the exact addresses that passed. Pure: the caller
decides the policy (``HCDOCTOR_CHECK_PRIVATE`` is read by ``checks.live``, not here).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from checks.errors import CheckError, RefusedTarget

DEFAULT_PORTS = frozenset({5061, 5062})
# Bounds per check: records considered, addresses kept per host, endpoints probed.
MAX_SRV_RECORDS = 10
MAX_ADDRESSES_PER_HOST = 4
MAX_ENDPOINTS = 10
MAX_TARGET_CHARS = 300

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
ALLOW_HINT = "set HCDOCTOR_CHECK_PRIVATE=1 to allow it in a lab"

TargetKind = Literal["domain", "host", "address"]


@dataclass(frozen=True)
class Target:
    """The SIP destination as Control Hub understands it.

    ``domain``: a bare name, looked up as ``_sips._tcp.<domain>``; ``host``: name:port,
    resolved to A/AAAA; ``address``: an IP literal, used as is.
    """

    text: str
    kind: TargetKind
    host: str
    port: int | None


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False
    allowed_ports: frozenset[int] = DEFAULT_PORTS


@dataclass(frozen=True)
class Endpoint:
    """One address:port to probe; ``name`` is the host name it came from (SNI), None for a literal."""

    ip: str
    port: int
    name: str | None = None

    @property
    def label(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


def parse_target(text: str, default_port: int = 5062) -> Target:
    """Split what an admin typed into domain / host:port / ip:port (IPv6 in brackets)."""
    raw = text.strip()
    if not raw or len(raw) > MAX_TARGET_CHARS or any(c.isspace() for c in raw):
        raise CheckError(f"not a SIP destination: {text!r} (expected a domain, host:port or ip:port)")
    lowered = raw.lower()
    for scheme in ("sips:", "sip:"):
        if lowered.startswith(scheme):
            raw = raw[len(scheme):]
            break
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0:
            raise CheckError(f"not a SIP destination: {text!r} (an IPv6 address needs a closing ']')")
        literal, rest = raw[1:close], raw[close + 1:]
        if rest and not rest.startswith(":"):
            raise CheckError(f"not a SIP destination: {text!r} (expected [IPv6]:port)")
        port = _port(rest[1:], text) if rest else default_port
        return Target(text.strip(), "address", _ip(literal, text), port)
    if raw.count(":") > 1:  # a bare IPv6 address without a port
        return Target(text.strip(), "address", _ip(raw, text), default_port)
    host, sep, port_text = raw.partition(":")
    port = _port(port_text, text) if sep else None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = _hostname(host, text)
        return Target(text.strip(), "host" if sep else "domain", name, port)
    return Target(text.strip(), "address", str(ip), port if port is not None else default_port)


def _port(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise CheckError(f"not a SIP destination: {original!r} (the port must be a number from 1 to 65535)")
    return int(text)


def _ip(text: str, original: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CheckError(f"not a SIP destination: {original!r} ({text!r} is not an IP address)") from None


def _hostname(text: str, original: str) -> str:
    name = text.rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise CheckError(f"not a SIP destination: {original!r} (not a valid domain name)") from None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise CheckError(f"not a SIP destination: {original!r} (not a valid domain name)")
    return name


def address_problem(ip: str) -> str | None:
    """Why an address is not a public one Webex could reach, or None when it is public."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    for test, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(addr, test):
            return what
    if not addr.is_global:
        return "not a public address"
    return None


def port_refusal(port: int, policy: Policy) -> str | None:
    if port in policy.allowed_ports:
        return None
    allowed = "/".join(str(p) for p in sorted(policy.allowed_ports))
    return f"port {port} is not one this tool probes ({allowed})"


def address_refusal(ip: str, policy: Policy) -> str | None:
    problem = address_problem(ip)
    if problem is None or policy.allow_private:
        return None
    return f"{ip} is {problem}; {ALLOW_HINT}"


def refusal(endpoint: Endpoint, policy: Policy) -> str | None:
    """Why ``endpoint`` may not be probed, or None."""
    return port_refusal(endpoint.port, policy) or address_refusal(endpoint.ip, policy)


def screen_target(target: Target, policy: Policy) -> None:
    """Refuse before any network use what the typed target alone already rules out."""
    if target.port is not None and (why := port_refusal(target.port, policy)):
        raise RefusedTarget(f"refusing to check {target.text}: {why}")
    if target.kind == "address" and (why := address_refusal(target.host, policy)):
        raise RefusedTarget(f"refusing to check {target.text}: {why}")
