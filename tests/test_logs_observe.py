"""Log records -> observation codes: what each code needs, and what must not produce it."""

from __future__ import annotations

from checks.explog_observe import LogObserver
from checks.logcalls import CallTracker
from checks.parsers.explog import parse_record

P = "2017-09-19T11:12:09.721-04:00 amer-expressway01 tvcs:"


def codes(*lines: str) -> list[str]:
    observer = LogObserver("t.log", CallTracker())
    for n, text in enumerate(lines, 1):
        observer.add(parse_record(f"{P} {text}", n))
    return [o.code for o in observer.finish()[0]]


def tls(event: str, sport: str, dport: str, detail: str) -> str:
    return (f'Event="{event}" Service="SIP" Src-ip="146.20.193.45" Src-port="{sport}" Dst-ip="172.16.2.2" '
            f'Dst-port="{dport}" Detail="{detail}" Protocol="TLS" Level="1"')


def test_tls_errors_by_detail_and_direction():
    assert codes(tls("Inbound TLS Negotiation Error", "33441", "5062", "self signed certificate in certificate chain")) == \
        ["log.tls.inbound.self_signed_in_chain"]
    assert codes(tls("Outbound TLS Negotiation Error", "28351", "5062", "No SSL error available, probably remote disconnect")) == \
        ["log.tls.outbound.remote_disconnect"]
    # an outbound connection (Expressway source port range) rejected by Webex is not the inbound fault
    assert codes(tls("TLS Negotiation Error", "25123", "5062", "sslv3 alert certificate unknown")) == []
    assert codes(tls("TLS Negotiation Error", "41123", "5062", "sslv3 alert certificate unknown")) == \
        ["log.tls.inbound.certificate_unknown"]


def test_b2b_tls_errors_on_5061_are_not_hybrid_evidence():
    assert codes(tls("Inbound TLS Negotiation Error", "33441", "5061", "sslv3 alert certificate unknown")) == []


def test_tcp_failure_to_5062_needs_5062():
    tup = 'Src-ip="172.16.2.2" Src-port="25026" Dst-ip="146.20.193.70"'
    fail = f'UTCTime="x" Module="network.tcp" Level="ERROR":  {tup} Dst-port="5062" Detail="TCP Connection Failed"'
    assert codes(fail) == ["log.tcp.outbound_5062_failed"]
    assert codes(fail.replace('"5062"', '"5061"')) == []  # 5061 alone, with no user-domain SRV answer before it


def test_user_domain_srv_answer_must_be_close_to_its_query():
    query = 'Module="network.dns" Level="DEBUG": Detail="Sending DNS query" Name="_sips._tcp.dmzlab.call.ciscospark.com" Type="SRV (IPv4 and IPv6)"'
    answer = ("Module=\"network.dns\" Level=\"DEBUG\": Detail=\"Resolved hostname to:  ['IPv4''TCP''146.20.193.64:5061'] "
              "(A/AAAA) Hostname:'l2sip-cfa-01.wbx2.com' Port:'5061'\"")
    fail = ('Module="network.tcp" Level="ERROR":  Src-ip="172.16.2.2" Src-port="25764" Dst-ip="146.20.193.64" '
            'Dst-port="5061" Detail="TCP Connection Failed"')
    assert codes(query, answer, fail) == ["log.dns.user_domain_srv_5061"]
    far = [query] + ['Module="developer.fsm" Level="DEBUG": x="y"'] * 60 + [answer, fail]
    assert codes(*far) == []
    callservice = query.replace("dmzlab.call.ciscospark.com", "callservice.ciscospark.com")
    assert codes(callservice, answer, fail) == []


def test_catchall_rule_needs_a_webex_alias_a_generic_target_and_a_404():
    considering = ("Module=\"network.search\" Level=\"DEBUG\": Detail=\"Considering search rule 'to DNS' towards target "
                   "'DNS' at priority '100' with alias 'bob@dmzlab.call.ciscospark.com'\"")
    done = 'Event="Search Completed" Reason="Not Found" Dst-alias="sip:bob@dmzlab.call.ciscospark.com" Level="1"'
    assert codes(considering, done) == ["log.search.catchall_404"]
    assert codes(considering.replace("'DNS'", "'Hybrid Call Services DNS'"), done) == []
    assert codes(considering.replace("dmzlab.call.ciscospark.com", "partner.example.com"),
                 done.replace("dmzlab.call.ciscospark.com", "partner.example.com")) == []
    assert codes(considering, done.replace("Not Found", "Found")) == []


def test_cpl_reject_needs_a_webex_rule_or_destination_and_a_403():
    rule = ('Module="network.cpl" Level="DEBUG":  Remote-ip="192.168.1.5" Detail="CPL: <rule unauthenticated-origin=".*" '
            'destination=".*@dmzlab\\.call\\.ciscospark\\.com.*" message-regex=""> matched "')
    reject = 'Module="network.cpl" Level="DEBUG":  Remote-ip="192.168.1.5" Detail="CPL: <reject/> "'
    forbidden = 'Event="Call Rejected" Dst-alias="sip:bob@dmzlab.call.ciscospark.com" Response-code="403" Level="1"'
    assert codes(rule, reject, forbidden) == ["log.cpl.reject_403"]
    assert codes(rule, forbidden) == []
    other = rule.replace("dmzlab\\.call\\.ciscospark\\.com", "tollfraud\\.example\\.com")
    assert codes(other, reject, forbidden.replace("dmzlab.call.ciscospark.com", "x.example.com")) == []


def test_pasted_test_tool_lines():
    assert codes("Socket failure: Connection timed out") == ["text.socket_failure"]
    assert codes("Error: No DNS addresses found") == ["dns.srv_missing"]
