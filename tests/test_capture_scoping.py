"""Two different failures in one capture stay two findings: facts from one connection are
never combined with facts from another into a third diagnosis (checks.diagnose scoping)."""

from __future__ import annotations

import kb
from checks.capture import observe
from checks.diagnose import diagnose
from tests.support import capture_scenarios as S
from tests.support.capture_writer import write_pcap


def test_untrusted_ca_and_leaf_only_in_one_capture_do_not_invent_a_stale_certificate():
    w, e = S.pkis()
    frames = S.inbound(S._webex(), S._expe(trust=(e["root"],), client_ca_names=(e["root"],)), close="fin-s")
    frames += S.inbound(S._webex(), S._expe(send_chain=False), webex="127.10.0.9")
    frames.sort(key=lambda f: f.ts)
    observed = observe([write_pcap(frames)], "two-faults.pcap")
    codes = {o.code for o in observed.observations}
    # pooled, these codes would satisfy mtls-stale-controlhub-cert's combined rule
    assert {"tls.server_chain.complete", "tls.webex_rejected_expressway_cert"} <= codes
    found = {f.issue: f for f in diagnose(observed.observations, kb.articles())}
    assert set(found) == {"mtls-webex-ca-untrusted", "mtls-incomplete-chain"}
    assert found["mtls-incomplete-chain"].confidence == "high"
