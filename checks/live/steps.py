"""The live check's steps: registered units, each judged into pass/fail/warn/skip with a detail.

Like sslyze's scan commands, a unit has a name, needs the material of earlier units and
opens at most one connection; the runner turns whatever it raises into a step status so
one failing probe never sinks the check. Units only *observe* (codes from
``kb/observations.yaml``); which documented fault that adds up to is left to
``checks.diagnose`` and the articles' signatures.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import certifi
from cryptography import x509
from OpenSSL import crypto

from checks.certs import ChainAnalysis, CertInfo, analyze_chain, name_from_der, webex_roots_in
from checks.errors import CheckError, HcdError, InputError
from checks.live import guard, probes
from checks.live.guard import Endpoint, Policy, Target
from checks.model import Evidence, Observation, Status, Step

log = logging.getLogger(__name__)

MUTUAL_TLS_PORT = 5062
# Per-probe caps inside the overall deadline: Expressway's own SIP TCP connect timeout is 10 s.
CONNECT_CAP = 10.0
HANDSHAKE_CAP = 10.0
# Share of the overall time the DNS lookups may use, so a silent resolver leaves no time unused.
DNS_SHARE = 0.5
MAX_TRUST_STORE_BYTES = 4 * 1024 * 1024
WEBEX_NAMES = ("callservice.webex.com", "callservice.ciscospark.com")
WEBEX_LABEL = "seen from where this tool runs, not from the Expressway"
MAX_WEBEX_ENDPOINTS = 8
# How long past the deadline we wait for a probe to notice it ran out of time (its sockets use the same deadline).
GRACE = 0.1


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class StepResult:
    step: Step
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class TrustStore:
    """An OpenSSL store, filled and clocked once, then only read (verification is thread-safe)."""

    name: str
    store: crypto.X509Store


@dataclass(frozen=True)
class Env:
    """What every unit of one check shares."""

    target: str
    policy: Policy
    deadline: probes.Deadline
    dns_deadline: probes.Deadline
    now: dt.datetime
    trust: TrustStore


@dataclass
class EndpointState:
    """Scratch space of one endpoint's pipeline: each unit's material by unit name."""

    endpoint: Endpoint
    material: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    name: str
    run: Callable[[Env, EndpointState], Outcome]
    needs: tuple[str, ...] = ()
    connects: bool = False


def observe(env: Env, code: str, step: str, text: str, endpoint: Endpoint | None = None) -> Observation:
    facts = (("endpoint", endpoint.label),) if endpoint else ()
    return Observation(code, (Evidence(file=env.target, location=f"step {step}", text=text),), facts,
                       scope=endpoint.label if endpoint else "")


def load_trust(ca_file: str | None, now: dt.datetime) -> TrustStore:
    """The trust store chains are validated against (at ``now``): certifi's bundle unless ``ca_file`` names one.

    OpenSSL reads the file itself: it is what Webex-side stacks use, and it takes the odd
    old roots in public bundles without complaint.
    """
    path = ca_file or certifi.where()
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise InputError(f"--ca-file {path}: cannot read it ({exc.strerror or exc.__class__.__name__})") from None
    if size > MAX_TRUST_STORE_BYTES:
        raise InputError(f"--ca-file {path}: larger than {MAX_TRUST_STORE_BYTES // (1024 * 1024)} MB")
    store = crypto.X509Store()
    try:
        store.load_locations(path)
    except crypto.Error:
        raise InputError(f"--ca-file {path}: holds no readable PEM certificate") from None
    store.set_time(now.astimezone(dt.timezone.utc).replace(tzinfo=None))
    return TrustStore("certifi" if ca_file is None else path, store)


# --- DNS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DnsPhase:
    results: tuple[StepResult, ...]
    endpoints: tuple[Endpoint, ...]
    refused: tuple[str, ...]


def resolve(target: Target, resolver, env: Env) -> DnsPhase:
    """The dns steps: what Webex would look up for this SIP destination, and the endpoints to probe."""
    try:
        if target.kind == "address":
            return _literal(target, env)
        if target.kind == "host":
            return _host(target, resolver, env)
        return _domain(target, resolver, env)
    except (probes.ProbeTimeout, probes.ResolveFailed) as exc:
        return DnsPhase((StepResult(Step("dns", "fail", f"{exc}; cannot tell whether the record exists")),), (), ())


def _address_notes(ips: Sequence[str], port: int, env: Env) -> tuple[list[str], list[Endpoint], list[str]]:
    """Warnings for addresses Webex cannot reach, the endpoints we may probe, and refusals."""
    notes: list[str] = []
    refused: list[str] = []
    endpoints: list[Endpoint] = []
    for ip in ips:
        problem = guard.address_problem(ip)
        why = guard.refusal(Endpoint(ip, port), env.policy)
        if why:
            refused.append(why)
            notes.append(f"{Endpoint(ip, port).label} not probed ({why})")
        else:
            endpoints.append(Endpoint(ip, port))
        if problem:
            notes.append(f"{ip} is {problem}, which Webex cannot reach from the Internet")
    return notes, endpoints, refused


def _port_note(port: int, dedicated: str | None) -> str | None:
    if port == MUTUAL_TLS_PORT:
        return None
    note = f"port {port}, not {MUTUAL_TLS_PORT}: Webex sends Hybrid Call signalling to the Expressway-E's mutual TLS port"
    if dedicated:
        note += (f" (often the B2B record reused; publish a dedicated {dedicated} record with port "
                 f"{MUTUAL_TLS_PORT} and enter that domain as the SIP destination)")
    return note


def _literal(target: Target, env: Env) -> DnsPhase:
    port = target.port or MUTUAL_TLS_PORT
    notes, endpoints, refused = _address_notes([target.host], port, env)
    port_note = _port_note(port, None)
    notes = ([port_note] if port_note else []) + notes
    detail = f"{target.host}: an address, no DNS lookup needed"
    status: Status = "warn" if notes else "pass"
    return DnsPhase((StepResult(Step("dns", status, "; ".join([detail, *notes]))),), tuple(endpoints), tuple(refused))


def _host(target: Target, resolver, env: Env) -> DnsPhase:
    port = target.port or MUTUAL_TLS_PORT
    ips = probes.query_addresses(resolver, target.host, env.dns_deadline.remaining())
    if not ips:
        text = f"{target.host} has no A or AAAA record, so Webex cannot resolve the SIP destination"
        obs = observe(env, "dns.srv_missing", "dns", text)
        return DnsPhase((StepResult(Step("dns", "fail", text), (obs,)),), (), ())
    ips = ips[: guard.MAX_ADDRESSES_PER_HOST]
    notes, endpoints, refused = _address_notes(ips, port, env)
    port_note = _port_note(port, None)
    notes = ([port_note] if port_note else []) + notes
    detail = f"{target.host} -> {', '.join(ips)}"
    return DnsPhase((StepResult(Step("dns", "warn" if notes else "pass", "; ".join([detail, *notes]))),),
                    tuple(endpoints), tuple(refused))


def _domain(target: Target, resolver, env: Env) -> DnsPhase:
    name = f"_sips._tcp.{target.host}"
    answer = probes.query_srv(resolver, name, env.dns_deadline.remaining())
    results: list[StepResult] = []
    if not answer.exists:
        text = (f"no SRV record {name}: Webex looks this record up for a domain SIP destination "
                f"(or enter host:{MUTUAL_TLS_PORT} in Control Hub)")
        obs = observe(env, "dns.srv_missing", "dns", text)
        return DnsPhase((StepResult(Step("dns", "fail", text), (obs,)),), (), ())
    records = sorted(answer.records, key=lambda r: (r.priority, -r.weight, r.target, r.port))
    head = f"{name}: {len(records)} SRV record{'s' if len(records) != 1 else ''}"
    if len(records) > guard.MAX_SRV_RECORDS:
        results.append(StepResult(Step("dns", "warn", f"{head}; checking only the first {guard.MAX_SRV_RECORDS}")))
        records = records[: guard.MAX_SRV_RECORDS]
    else:
        results.append(StepResult(Step("dns", "pass", head)))
    endpoints: list[Endpoint] = []
    refused: list[str] = []
    for rec in records:
        line = f"SRV {rec.priority} {rec.weight} {rec.port} {rec.target or '.'}"
        if not rec.target:
            results.append(StepResult(Step("dns", "fail", f"{line}: the target '.' says the service is not offered")))
            continue
        if env.dns_deadline.expired():
            results.append(StepResult(Step("dns", "skip", f"{line}: no time left to resolve {rec.target}")))
            continue
        try:
            ips = probes.query_addresses(resolver, rec.target, env.dns_deadline.remaining())
        except (probes.ProbeTimeout, probes.ResolveFailed) as exc:
            results.append(StepResult(Step("dns", "fail", f"{line}: {exc}")))
            continue
        if not ips:
            results.append(StepResult(Step("dns", "fail", f"{line}: {rec.target} has no A or AAAA record")))
            continue
        ips = ips[: guard.MAX_ADDRESSES_PER_HOST]
        notes, eps, why = _address_notes(ips, rec.port, env)
        port_note = _port_note(rec.port, f"_sips._tcp.mtls.{target.host}")
        notes = ([port_note] if port_note else []) + notes
        endpoints += [Endpoint(e.ip, e.port, rec.target) for e in eps]
        refused += why
        results.append(StepResult(Step("dns", "warn" if notes else "pass",
                                       "; ".join([f"{line} -> {', '.join(ips)}", *notes]))))
    if not endpoints and not refused:
        text = f"{name} exists but none of its targets resolves to an address Webex could use"
        results.append(StepResult(Step("dns", "fail", text), (observe(env, "dns.srv_missing", "dns", text),)))
    return DnsPhase(tuple(results), _cap(endpoints, results), tuple(refused))


def _cap(endpoints: list[Endpoint], results: list[StepResult]) -> tuple[Endpoint, ...]:
    first: dict[tuple[str, int], Endpoint] = {}
    for ep in endpoints:  # one probe per address:port, under the first name that led to it
        first.setdefault((ep.ip, ep.port), ep)
    unique = list(first.values())
    if len(unique) > guard.MAX_ENDPOINTS:
        results.append(StepResult(Step("dns", "warn", f"{len(unique)} addresses; probing only the first "
                                                      f"{guard.MAX_ENDPOINTS}")))
    return tuple(unique[: guard.MAX_ENDPOINTS])


# --- endpoint units --------------------------------------------------------------------------------


def _tcp(env: Env, st: EndpointState) -> Outcome:
    ep = st.endpoint
    try:
        seconds = probes.tcp_connect(ep.ip, ep.port, env.deadline.budget(CONNECT_CAP))
    except probes.ProbeRefused:
        text = f"{ep.label} answered the SYN with a RST: nothing listens there (or a local firewall rule rejects it)"
        return Outcome("fail", text, (observe(env, "tcp.refused", "tcp", text, ep),))
    except probes.ProbeTimeout as exc:
        text = f"{ep.label} did not answer ({exc}): the SYN is dropped on the way"
        return Outcome("fail", text, (observe(env, "tcp.unanswered.inbound", "tcp", text, ep),))
    st.material["tcp"] = seconds
    return Outcome("pass", f"{ep.label} connected in {seconds * 1000:.0f} ms")


def _tls(env: Env, st: EndpointState) -> Outcome:
    ep = st.endpoint
    hs = probes.tls_handshake(ep.ip, ep.port, ep.name, env.deadline.budget(HANDSHAKE_CAP))
    st.material["tls"] = hs
    what = f"{ep.label} {hs.protocol or 'TLS'} {hs.cipher}".rstrip()
    if hs.error is None:
        asked = "; the server asked for a client certificate" if hs.cert_requested else ""
        return Outcome("pass", f"{what}, handshake done in {hs.seconds * 1000:.0f} ms{asked} (this tool sends none)")
    if hs.cert_requested:
        return Outcome("pass", f"{what}: the server asked for a client certificate and, as expected without one, "
                               f"ended the handshake ({hs.error})")
    return Outcome("fail", f"{ep.label} TLS handshake failed: {hs.error}")


def _cert_line(n: int, c: CertInfo) -> str:
    sans = ", ".join(c.sans) if c.sans else "none"
    return (f"[{n}] {c.subject or '(empty subject)'} issued by {c.issuer or '(empty issuer)'}; SAN {sans}; "
            f"valid {c.not_before:%Y-%m-%d} to {c.not_after:%Y-%m-%d}")


_SHAPE_CODES = {
    "leaf_only": "tls.server_chain.leaf_only",
    "self_signed": "tls.server_chain.self_signed",
    "complete": "tls.server_chain.complete",
}


def _chain(env: Env, st: EndpointState) -> Outcome:
    ep = st.endpoint
    hs: probes.Handshake = st.material["tls"]  # type: ignore[assignment]
    if not hs.ders:
        return Outcome("skip", f"{ep.label} sent no certificate to judge")
    analysis = analyze_chain(hs.ders, env.now)
    st.material["chain"] = analysis
    summary = f"{ep.label} sent {analysis.describe()}"
    lines = " | ".join(_cert_line(n, c) for n, c in enumerate(analysis.certs, 1))
    obs = ()
    if code := _SHAPE_CODES.get(analysis.shape):
        obs = (observe(env, code, "chain", summary, ep),)
    verdict, status = _chain_verdict(analysis)
    return Outcome(status, f"{summary}: {verdict}. As sent: {lines}", obs)


def _chain_verdict(a: ChainAnalysis) -> tuple[str, Status]:
    if a.validity_problems:
        return "outside its validity period (" + "; ".join(a.validity_problems) + ")", "fail"
    if a.shape == "self_signed":
        return "the Expressway's default certificate, which Webex does not trust", "fail"
    if a.shape == "leaf_only":
        return "the leaf alone, without the intermediate CA certificates Webex needs to build the chain", "fail"
    if a.order_ok is False:
        return "leaf and intermediates, but not each issued by the next", "warn"
    return "leaf followed by its issuing CA certificate(s)", "pass"


def _trust(env: Env, st: EndpointState) -> Outcome:
    ep = st.endpoint
    hs: probes.Handshake = st.material["tls"]  # type: ignore[assignment]
    if not hs.ders:
        return Outcome("skip", f"{ep.label} sent no certificate to validate")
    leaf, *rest = [crypto.X509.from_cryptography(x509.load_der_x509_certificate(d)) for d in hs.ders]
    names = _names_note(st)
    try:
        crypto.X509StoreContext(env.trust.store, leaf, chain=rest).verify_certificate()
    except crypto.X509StoreContextError as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        return Outcome("warn", f"{ep.label}: the chain as sent does not validate to {env.trust.name} ({reason}); "
                               f"Webex accepts it only if the CA certificates are uploaded in Control Hub{names}")
    return Outcome("pass", f"{ep.label}: the chain as sent validates to {env.trust.name}{names}")


def _names_note(st: EndpointState) -> str:
    """Whether the certificate names the host it was reached by (for people; not judged)."""
    analysis: ChainAnalysis | None = st.material.get("chain")  # type: ignore[assignment]
    host = st.endpoint.name
    if not host or not analysis or not analysis.leaf:
        return ""
    names = {n.lower() for n in (*analysis.leaf.sans, analysis.leaf.subject_cn or "")}
    return f"; {host} is {'' if host.lower() in names else 'not '}among the certificate's names"


def _client_ca(env: Env, st: EndpointState) -> Outcome:
    ep = st.endpoint
    hs: probes.Handshake = st.material["tls"]  # type: ignore[assignment]
    if not hs.cert_requested:
        if not hs.server_flight_seen:
            return Outcome("skip", f"{ep.label}: the handshake ended before the server would have asked "
                                   f"for a client certificate")
        return Outcome("warn", f"{ep.label}: mutual TLS not enabled on this port (the server did not ask for "
                               f"a client certificate)")
    names = []
    for der in hs.ca_names:
        try:
            names.append(name_from_der(der))
        except InputError:
            names.append("(unreadable name)")
    if not names:
        return Outcome("warn", f"{ep.label} asks for a client certificate but names no acceptable CAs, so "
                               f"whether it trusts the Webex root cannot be seen from here")
    roots = webex_roots_in(names)
    listed = "; ".join(names)
    if roots:
        return Outcome("pass", f"{ep.label} asks for a client certificate and accepts {', '.join(roots)} "
                               f"({len(names)} CA name{'s' if len(names) != 1 else ''}: {listed})")
    text = (f"{ep.label} asks for a client certificate, but the CA names it accepts ({len(names)}) include "
            f"neither QuoVadis Root CA 2 nor IdenTrust Commercial Root CA 1: {listed}")
    return Outcome("fail", text, (observe(env, "tls.client_ca_list.no_webex_root", "client-ca", text, ep),))


ENDPOINT_UNITS: tuple[Unit, ...] = (
    Unit("tcp", _tcp, connects=True),
    Unit("tls", _tls, needs=("tcp",), connects=True),
    Unit("chain", _chain, needs=("tls",)),
    Unit("trust", _trust, needs=("tls",)),
    Unit("client-ca", _client_ca, needs=("tls",)),
)


def run_units(units: Sequence[Unit], env: Env, state: EndpointState) -> list[StepResult]:
    """Run one endpoint's units in order; map what they raise to a step status and a detail."""
    out: list[StepResult] = []
    for unit in units:
        missing = [n for n in unit.needs if n not in state.material]
        if missing:
            out.append(StepResult(Step(unit.name, "skip", f"{state.endpoint.label}: no {missing[0]} connection")))
            continue
        if unit.connects and env.deadline.expired():
            out.append(StepResult(Step(unit.name, "skip", f"{state.endpoint.label}: the overall time limit was reached")))
            continue
        try:
            result = unit.run(env, state)
        except probes.ProbeTimeout as exc:
            result = Outcome("fail", f"{state.endpoint.label}: {exc}")
        except HcdError as exc:  # refused, unreachable, unparsable certificate: one line each
            result = Outcome("fail", f"{state.endpoint.label}: {exc}")
        except Exception as exc:  # a bug must not sink the other steps; the traceback goes to the log only
            log.exception("live step %s failed on %s", unit.name, state.endpoint.label)
            result = Outcome("fail", f"{state.endpoint.label}: this step could not run ({exc.__class__.__name__})")
        out.append(StepResult(Step(unit.name, result.status, result.detail), result.observations))
    return out


def run_endpoints(endpoints: Sequence[Endpoint], env: Env, pool: ThreadPoolExecutor) -> list[StepResult]:
    """Every endpoint's pipeline in parallel; results in endpoint order, bounded by the deadline."""
    futures = [pool.submit(run_units, ENDPOINT_UNITS, env, EndpointState(ep)) for ep in endpoints]
    wait(futures, timeout=env.deadline.remaining() + GRACE)
    out: list[StepResult] = []
    for ep, fut in zip(endpoints, futures):
        if fut.done():
            out += fut.result()
        else:
            out.append(StepResult(Step("tcp", "skip", f"{ep.label}: the overall time limit was reached")))
    return out


# --- the Webex side (--webex) ----------------------------------------------------------------------


def webex_side(resolver, env: Env, pool: ThreadPoolExecutor) -> list[StepResult]:
    """Do the Webex call-service SRV records resolve to 5062 targets that answer? Seen from here only."""
    out: list[StepResult] = []
    endpoints: list[Endpoint] = []
    for domain in WEBEX_NAMES:
        name = f"_sips._tcp.{domain}"
        try:
            answer = probes.query_srv(resolver, name, env.dns_deadline.remaining())
        except CheckError as exc:
            out.append(StepResult(Step("webex-dns", "fail", f"{exc} ({WEBEX_LABEL})")))
            continue
        if not answer.exists:
            out.append(StepResult(Step("webex-dns", "fail", f"no SRV record {name} ({WEBEX_LABEL})")))
            continue
        parts, status = [], "pass"
        for rec in sorted(answer.records, key=lambda r: (r.priority, -r.weight, r.target))[: guard.MAX_SRV_RECORDS]:
            try:
                ips = probes.query_addresses(resolver, rec.target, env.dns_deadline.remaining()) if rec.target else ()
            except CheckError:
                ips = ()
            part = f"{rec.port} {rec.target or '.'} -> {', '.join(ips) or 'no address'}"
            if rec.port != MUTUAL_TLS_PORT or not ips:
                status = "fail"
                part += f" (expected port {MUTUAL_TLS_PORT} and an address)"
            parts.append(part)
            endpoints += [Endpoint(ip, rec.port, rec.target) for ip in ips[: guard.MAX_ADDRESSES_PER_HOST]]
        out.append(StepResult(Step("webex-dns", status, f"{name}: {'; '.join(parts)} ({WEBEX_LABEL})")))
    probe_list: list[Endpoint] = []
    for ep in dict.fromkeys(endpoints):
        why = guard.refusal(ep, env.policy)
        if why:
            out.append(StepResult(Step("webex-tcp", "skip", f"{ep.label} not probed ({why})")))
        elif len(probe_list) < MAX_WEBEX_ENDPOINTS:
            probe_list.append(ep)
    futures = [pool.submit(_webex_tcp, env, ep) for ep in probe_list]
    wait(futures, timeout=env.deadline.remaining() + GRACE)
    for ep, fut in zip(probe_list, futures):
        if fut.done():
            out.append(fut.result())
        else:
            out.append(StepResult(Step("webex-tcp", "skip", f"{ep.label}: the overall time limit was reached")))
    return out


def _webex_tcp(env: Env, ep: Endpoint) -> StepResult:
    try:
        seconds = probes.tcp_connect(ep.ip, ep.port, env.deadline.budget(CONNECT_CAP))
    except HcdError as exc:
        return StepResult(Step("webex-tcp", "fail", f"{ep.name} {exc} ({WEBEX_LABEL})"))
    return StepResult(Step("webex-tcp", "pass", f"{ep.name} {ep.label} connected in {seconds * 1000:.0f} ms "
                                                f"({WEBEX_LABEL})"))
