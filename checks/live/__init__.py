"""Live checks of a SIP destination, seen the way Webex would reach it.

``check(target)`` resolves what an admin typed in Control Hub, refuses anything that is
not a public address on an allowed port, probes every endpoint in parallel (TCP, one TLS
handshake) within one overall deadline, and hands the observations to the same rule
engine as the file analyzers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import kb
from checks.diagnose import diagnose
from checks.errors import RefusedTarget
from checks.live import guard, probes, steps
from checks.model import CheckReport, Step

__all__ = ["check"]

PRIVATE_ENV = "HCDOCTOR_CHECK_PRIVATE"
# Time kept back from the overall limit to assemble the report after the last probe.
REPORT_MARGIN = 0.3


def check(
    target: str,
    *,
    port: int = 5062,
    nameserver: str | None = None,
    ca_file: str | None = None,
    timeout: float = 15.0,
    webex: bool = False,
    allow_private: bool | None = None,
    allowed_ports: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> CheckReport:
    """Check ``target`` (domain, host:port or ip:port) and return steps plus findings.

    ``port`` is used when the target names none (an address). ``allow_private`` defaults to
    ``HCDOCTOR_CHECK_PRIVATE=1``; ``allowed_ports`` to 5061 and 5062. Raises ``RefusedTarget``
    before connecting anywhere it may not, and ``CheckError``/``InputError`` for unusable input.
    """
    start_deadline = probes.Deadline(max(timeout - REPORT_MARGIN, 0.1))
    if allow_private is None:
        allow_private = os.environ.get(PRIVATE_ENV, "").strip() == "1"
    policy = guard.Policy(
        allow_private=allow_private,
        allowed_ports=frozenset(allowed_ports) if allowed_ports is not None else guard.DEFAULT_PORTS,
    )
    articles = kb.articles()  # loaded inside the time limit, not after it
    parsed = guard.parse_target(target, port)
    guard.screen_target(parsed, policy)
    when = _aware(now) if now else dt.datetime.now(dt.timezone.utc)
    env = steps.Env(
        target=parsed.text,
        policy=policy,
        deadline=start_deadline,
        dns_deadline=probes.Deadline(start_deadline.remaining() * steps.DNS_SHARE),
        now=when,
        trust=steps.load_trust(ca_file, when),
    )
    resolver = probes.make_resolver(nameserver) if parsed.kind != "address" or webex else None

    # Not a ``with`` block: its exit would wait for every thread, and the deadline is the promise.
    pool = ThreadPoolExecutor(max_workers=guard.MAX_ENDPOINTS + steps.MAX_WEBEX_ENDPOINTS + 1,
                              thread_name_prefix="hcdoctor-check")
    try:
        dns = steps.resolve(parsed, resolver, env)
        if not dns.endpoints and dns.refused:
            raise RefusedTarget(f"refusing to check {parsed.text}: {dns.refused[0]}")
        webex_future = pool.submit(steps.webex_side, resolver, env, pool) if webex else None
        results = list(dns.results)
        if dns.endpoints:
            results += steps.run_endpoints(dns.endpoints, env, pool)
        else:
            results.append(steps.StepResult(Step("tcp", "skip", "no address to connect to")))
        if webex_future is not None:
            try:
                results += webex_future.result(timeout=env.deadline.remaining() + 2 * steps.GRACE)
            except TimeoutError:
                results.append(steps.StepResult(Step("webex-dns", "skip", "the overall time limit was reached")))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    observations = [o for r in results for o in r.observations]
    return CheckReport(
        target=parsed.text,
        steps=tuple(r.step for r in results),
        findings=diagnose(observations, articles),
    )


def _aware(when: dt.datetime) -> dt.datetime:
    """Certificates carry UTC times; a naive ``now`` is taken to be UTC too."""
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
