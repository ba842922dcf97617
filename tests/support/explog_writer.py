"""Realistic Expressway diagnostic logs, written from the line shapes in formats.md section 1.

A ``LogWriter`` produces the background of a busy Expressway-E (MRA registrations and
keepalives, B2B TLS on 5061, developer.* chatter, healthy Hybrid calls with their SIP
messages and working mutual TLS on 5062) and each ``fault_*`` function adds the lines of one
documented fault, so tests can bury a fault in hundreds of unrelated lines. Deterministic
for a given seed. The lab values are the guide's (amer-expressway01, 172.16.2.2, Webex
146.20.193.x, Expressway-C 192.168.1.5, traversal port 7003).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

HOST = "amer-expressway01"
EXPE_OUT, EXPE_IN, EXPC = "172.16.2.2", "192.168.1.6", "192.168.1.5"
WEBEX_IPS = ("146.20.193.45", "146.20.193.64", "146.20.193.70", "146.20.193.73", "148.62.40.52")
UCM = "192.168.1.21"


class LogWriter:
    def __init__(self, seed: int = 1, host: str = HOST, start: str = "2017-09-19T10:12:00",
                 ms: bool = True, offset: str = "-04:00", pri: bool = False, doubled_tag: bool = False):
        self.rnd = random.Random(seed)
        self.host = host
        self.t = dt.datetime.fromisoformat(start)
        self.ms = ms
        self.offset = offset
        self.pri = pri
        self.doubled = doubled_tag
        self.lines: list[str] = []
        self.hash = 10_000_000_000_000_000_000 + seed

    # -- shapes ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        self.t += dt.timedelta(milliseconds=self.rnd.randint(1, 40))

    def _prefix(self, process: str = "tvcs") -> str:
        self._tick()
        stamp = self.t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{self.t.microsecond // 1000:03d}" if self.ms else "")
        tag = f"{process}: {process}:" if self.doubled else f"{process}:"
        pri = "<166>" if self.pri else ""
        return f"{pri}{stamp}{self.offset} {self.host} {tag}"

    def _utc(self) -> str:
        utc = self.t + dt.timedelta(hours=4)
        return utc.strftime("%Y-%m-%d %H:%M:%S") + f",{utc.microsecond // 1000:03d}"

    def net(self, module: str, level: str, payload: str) -> None:
        p = self._prefix()
        self.lines.append(f'{p} UTCTime="{self._utc()}" Module="{module}" Level="{level}":  {payload}')

    def dev(self, module: str, level: str, location: str, method: str, payload: str) -> None:
        p = self._prefix()
        thread = f"0x7f{self.rnd.randrange(16**10):010x}"
        self.lines.append(f'{p} UTCTime="{self._utc()}" Module="{module}" Level="{level}" CodeLocation="{location}" '
                          f'Method="{method}" Thread="{thread}":  {payload}')

    def event(self, name: str, fields: str, level: str = "1") -> None:
        p = self._prefix()
        self.lines.append(f'{p} Event="{name}" {fields} Level="{level}" UTCTime="{self._utc()}"')

    def other(self, process: str, text: str) -> None:
        self.lines.append(f"{self._prefix(process)} {text}")

    def sip(self, action: str, local: tuple[str, int], remote: tuple[str, int], message: str) -> None:
        """The INFO summary line and the DEBUG line with the SIPMSG block of one SIP message."""
        self.hash += 7919
        first = message.split("\r\n", 1)[0]
        headers = dict(line.split(": ", 1) for line in message.split("\r\n\r\n")[0].split("\r\n")[1:] if ": " in line)
        call_id = headers.get("Call-ID", "")
        cseq = headers.get("CSeq", "1 INVITE").split()
        peer = "Src" if action == "Received" else "Dst"
        if first.startswith("SIP/2.0"):
            code = first.split()[1]
            verb = "Receive Response" if action == "Received" else "Sending Response"
            what = f"Code={code}, Method={cseq[-1]}, CSeq={cseq[0]}, To={_uri(headers.get('To', ''))}"
        else:
            method, ruri = first.split()[:2]
            verb = "Receive Request" if action == "Received" else "Sending Request"
            what = f"Method={method}, CSeq={cseq[0]}, Request-URI={ruri}"
        session = headers.get("Session-ID", "0" * 32)
        local_sid = session.split(";")[0]
        self.net("network.sip", "INFO", f'Action="{action}" Local-ip="{local[0]}" Local-port="{local[1]}" '
                 f'{peer}-ip="{remote[0]}" {peer}-port="{remote[1]}" Detail="{verb} {what}, Call-ID={call_id}, '
                 f'From-Tag=872524918, To-Tag=, Msg-Hash={self.hash}, Local-SessionID={local_sid}, '
                 f'Remote-SessionID={"0" * 32}"')
        self.net("network.sip", "DEBUG", f'Action="{action}" Local-ip="{local[0]}" Local-port="{local[1]}" '
                 f'{peer}-ip="{remote[0]}" {peer}-port="{remote[1]}" Msg-Hash="{self.hash}"')
        self.lines.append(" SIPMSG:")
        body_lines = message.split("\r\n")
        if body_lines and body_lines[-1] == "":
            body_lines.pop()
        self.lines.append(" |" + body_lines[0])
        self.lines += [" " + line for line in body_lines[1:]]
        self.lines.append(" |")
        self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    # -- background -------------------------------------------------------------------------------
    def noise(self, n: int) -> None:
        """``n`` background records of a busy Expressway-E."""
        choices = (self._dev_noise, self._dev_noise, self._dev_noise, self._dev_noise, self._mra_register,
                   self._b2b_tcp, self._misc, self._options_keepalive, self._dns_healthy)
        for _ in range(n):
            self.rnd.choice(choices)()

    def _dev_noise(self) -> None:
        r = self.rnd
        kind = r.randrange(5)
        if kind == 0:
            self.dev("developer.sip.leg", "DEBUG", "ppcmains/sip/sipproxy/SipProxyLeg.cpp(1234)", "SipProxyLeg::handleRequest",
                     f'this="0x{r.randrange(16**12):012x}" Type="Request" Leg="{r.randrange(1, 9)}" Detail="leg state Active"')
        elif kind == 1:
            self.dev("developer.fsm.fsm", "DEBUG", "ppcmains/fsm/Fsm.cpp(88)", "Fsm::processEvent",
                     f'state="Idle" event="Timer" Id="{r.randrange(10**6)}"')
        elif kind == 2:
            self.dev("developer.mediasessionmgr", "DEBUG", "ppcmains/media/MediaSessionMgr.cpp(412)",
                     "MediaSessionMgr::allocate", f'Session="{uuid.UUID(int=r.getrandbits(128))}" Ports="{r.randrange(36000, 59999)}"')
        elif kind == 3:
            self.net("developer.clusterdb.cdb", "INFO", f'Detail="replication check ok" Peer="10.0.0.{r.randrange(2, 9)}"')
        else:
            self.dev("developer.ssl", "DEBUG", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1974)", "::ttssl_continueHandshake",
                     'Detail="Handshake in progress" Reason="want read/write"')

    def _mra_register(self) -> None:
        r = self.rnd
        cid = f"{r.randrange(16**16):016x}@10.1.{r.randrange(255)}.{r.randrange(255)}"
        user = f"user{r.randrange(500)}"
        msg = (f"REGISTER sip:rtp.ciscotac.net SIP/2.0\r\nVia: SIP/2.0/TLS 10.1.2.3:5061;branch=z9hG4bK{r.randrange(16**8):08x}\r\n"
               f"Call-ID: {cid}\r\nCSeq: {r.randrange(1, 900)} REGISTER\r\nFrom: <sip:{user}@rtp.ciscotac.net>;tag=1\r\n"
               f"To: <sip:{user}@rtp.ciscotac.net>\r\nContact: <sip:{user}@10.1.2.3:5061;transport=tls>\r\n"
               "Expires: 3600\r\nUser-Agent: Cisco-CP8865\r\nContent-Length: 0\r\n\r\n")
        self.sip("Received", (EXPE_OUT, 5061), ("10.1.2.3", r.randrange(20000, 60000)), msg)
        self.event("Registration Accepted", f'Service="SIP" Src-ip="10.1.2.3" Protocol="TLS" AOR="sip:{user}@rtp.ciscotac.net"', "1")

    def _options_keepalive(self) -> None:
        r = self.rnd
        cid = f"{r.randrange(16**20):020x}"
        msg = (f"OPTIONS sip:{EXPC}:7003 SIP/2.0\r\nVia: SIP/2.0/TLS {EXPE_IN}:7003;branch=z9hG4bK{r.randrange(16**8):08x}\r\n"
               f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:{EXPE_IN}>;tag=9\r\nTo: <sip:{EXPC}>\r\n"
               "Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n")
        self.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), msg)
        ok = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS {EXPE_IN}:7003;branch=z9hG4bK1\r\nCall-ID: {cid}\r\nCSeq: 1 OPTIONS\r\n"
              f"From: <sip:{EXPE_IN}>;tag=9\r\nTo: <sip:{EXPC}>;tag=4\r\nContent-Length: 0\r\n\r\n")
        self.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), ok)

    def _b2b_tcp(self) -> None:
        r = self.rnd
        src, sport = f"203.0.113.{r.randrange(2, 250)}", r.randrange(20000, 60000)
        tup = f'Src-ip="{src}" Src-port="{sport}" Dst-ip="{EXPE_OUT}" Dst-port="5061"'
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
        self.dev("developer.ssl", "DEBUG", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1960)", "::ttssl_continueHandshake",
                 'Detail="Handshake succeeded"')
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Closed" Reason="Got EOF on socket"')

    def _misc(self) -> None:
        r = self.rnd
        kind = r.randrange(4)
        if kind == 0:
            self.other("web", f'Event="Admin Session Start" Src-ip="10.0.0.{r.randrange(2, 200)}" User="admin" Level="1"')
        elif kind == 1:
            self.other("alarm", f'Level="INFO" Event="Alarm Lowered" Id="20006" Detail="Cluster check ok" UTCTime="{self._utc()}"')
        elif kind == 2:
            self.other("management", 'Event="System Configuration Changed" Detail="xconfiguration read" Level="1"')
        else:
            self.net("network.ldap", "DEBUG", f'Detail="LDAP query" Server="10.0.0.5" Result="{r.randrange(3)}"')

    def _dns_healthy(self) -> None:
        r = self.rnd
        self.net("network.dns", "DEBUG", 'Detail="Sending DNS query" Name="_sips._tcp.callservice.ciscospark.com" Type="SRV (IPv4 and IPv6)"')
        ip = r.choice(WEBEX_IPS[:4])
        self.net("network.dns", "DEBUG", f"Detail=\"Resolved hostname to:  ['IPv4''TCP''{ip}:5062'] (A/AAAA) "
                 "Hostname:'l2sip-cfa-01.wbx2.com' Port:'5062' Priority:'5' TTL:'300' Weight:'10' (SRV) "
                 "Number of relevant records retrieved: 4\"")

    # -- healthy Hybrid calls -----------------------------------------------------------------------
    def healthy_inbound_call(self) -> None:
        """Webex -> Expressway-E on 5062: mutual TLS works, the INVITE goes on to the C with call-type=squared kept."""
        r = self.rnd
        webex, port = r.choice(WEBEX_IPS), r.randrange(30000, 60000)
        tup = f'Src-ip="{webex}" Src-port="{port}" Dst-ip="{EXPE_OUT}" Dst-port="5062"'
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
        self.dev("developer.ssl", "DEBUG", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1960)", "::ttssl_continueHandshake",
                 'Detail="Handshake succeeded"')
        self.dev("developer.ssl", "DEBUG", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(700)", "::TTSSL_retrieveCommonName",
                 'Detail="Found common name in peer certificate" CommonName="l2sip-cfa-01.ciscospark.com"')
        self.dev("developer.zone.zonemgr", "DEBUG", "ppcmains/oak/zones/ZoneManager.cpp(1183)",
                 "ZoneManager::getDNSZoneByTLSVerifySubjectNameList",
                 'this="0x56408ff81220"  Detail="Searched for DNS Zones by Subject Name" Found="True" '
                 'MatchedZone="Hybrid Call Services DNS" MatchedIdentity="callservice.ciscospark.com"')
        ack = self.inbound_invite(webex, port, keep_squared=True, first_miss=True)
        self.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), ack)
        self.event("Search Completed", 'Reason="Found" Service="SIP" Dst-alias="sip:jorobb@rtp.ciscotac.net" '
                   'Detail="found:true, searchtype:INVITE"')
        self.event("Call Connected", 'Service="SIP" Dst-alias="sip:jorobb@rtp.ciscotac.net" Protocol="TLS"')

    def inbound_invite(self, webex: str, port: int, keep_squared: bool, first_miss: bool) -> str:
        """A Webex INVITE received on 5062 and sent on to the Expressway-C, up to the ACK from Webex
        (returned, for the caller to send on). ``keep_squared`` False strips call-type=squared on the
        way; ``first_miss`` logs a search rule that did not match before the Webex one."""
        cid, sid = self._ids()
        invite = _invite(cid, sid, "sip:jorobb@rtp.ciscotac.net", squared=True, route=True, codecs="0 9 101")
        self.sip("Received", (EXPE_OUT, 5062), (webex, port), invite)
        if first_miss:
            self.net("network.search", "DEBUG", "Detail=\"Search rule 'Webex Hybrid' did not match destination alias "
                     "'cucm.rtp.ciscotac.net;lr'\"")
        self.net("network.search", "DEBUG", "Detail=\"Considering search rule 'Webex Hybrid' towards target "
                 "'Hybrid Call Service Traversal' at priority '15' with alias 'cucm.rtp.ciscotac.net;lr'\"")
        onward = _invite(cid, sid, "sip:jorobb@rtp.ciscotac.net", squared=keep_squared, route=False, codecs="0 9 101",
                         contact_host=f"{EXPE_IN}:5073", egress="HybridCallServiceTraversal")
        self.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), onward)
        ok = _response(cid, sid, 200, "OK", "INVITE", sdp_codecs="0 101")
        self.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), ok)
        self.sip("Sent", (EXPE_OUT, 5062), (webex, port), ok)
        ack = _request("ACK", cid, sid, "sip:jorobb@rtp.ciscotac.net")
        self.sip("Received", (EXPE_OUT, 5062), (webex, port), ack)
        return ack

    def healthy_outbound_call(self) -> None:
        r = self.rnd
        alias = f"user{r.randrange(100)}@dmzlab.call.ciscospark.com"
        self.net("network.search", "DEBUG", f"Detail=\"Considering search rule 'Webex Hybrid - to Webex Cloud' towards "
                 f"target 'Hybrid Call Services DNS' at priority '90' with alias '{alias}'\"")
        self._dns_healthy()
        webex = r.choice(WEBEX_IPS[:4])
        sport = r.randrange(25000, 29999)
        tup = f'Src-ip="{EXPE_OUT}" Src-port="{sport}" Dst-ip="{webex}" Dst-port="5062"'
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
        self.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
        self.dev("developer.ssl", "DEBUG", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1960)", "::ttssl_continueHandshake",
                 'Detail="Handshake succeeded"')
        cid, sid = self._ids()
        invite = _invite(cid, sid, f"sip:{alias}", squared=False, route=False, codecs="0 8 9 101",
                         contact_host=f"{EXPE_OUT}:5062", egress="HybridCallServicesDNS", ua="Cisco-CUCM11.5")
        self.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), invite)
        self.sip("Sent", (EXPE_OUT, sport), (webex, 5062), invite)
        ok = _response(cid, sid, 200, "OK", "INVITE", sdp_codecs="9 101", ua="Cisco-L2SIP")
        self.sip("Received", (EXPE_OUT, sport), (webex, 5062), ok)
        self.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), ok)
        ack = _request("ACK", cid, sid, f"sip:{alias}")
        self.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), ack)
        self.sip("Sent", (EXPE_OUT, sport), (webex, 5062), ack)

    def _ids(self) -> tuple[str, str]:
        r = self.rnd
        return f"{r.randrange(16**32):032x}@146.20.193.45", f"{r.randrange(16**32):032x};remote={'0' * 32}"


def _uri(header: str) -> str:
    return header.split("<", 1)[-1].split(">", 1)[0] if "<" in header else header.split(";")[0]


def _sdp(codecs: str, port: int = 52668) -> str:
    names = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000", "18": "G729/8000", "101": "telephone-event/8000"}
    lines = ["v=0", "o=CiscoSystemsCCM-SIP 2000 1 IN IP4 192.168.1.21", "s=SIP Call", "c=IN IP4 192.168.1.21", "t=0 0",
             f"m=audio {port} RTP/SAVP {codecs}"]
    lines += [f"a=rtpmap:{pt} {names[pt]}" for pt in codecs.split() if pt in names]
    lines += ["a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:.....", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def _invite(cid: str, sid: str, ruri: str, squared: bool, route: bool, codecs: str | None,
            contact_host: str = "l2sip-cfa-01.wbx2.com:5062", egress: str = "", ua: str = "Cisco-L2SIP") -> str:
    contact = (f'"l2sip-UA" <sip:l2sip-UA@{contact_host};transport=tls>' if squared or "wbx2" in contact_host
               else f"<sip:{contact_host};transport=tls>")
    if squared:
        contact += "; call-type=squared"
    via = f"SIP/2.0/TLS 146.20.193.45:5062;branch=z9hG4bK{cid[:10]}"
    if egress:
        via = f"SIP/2.0/TLS {EXPE_IN}:7003;egress-zone={egress};branch=z9hG4bK{cid[:8]}.1, " + via
    headers = [f"INVITE {ruri} SIP/2.0", f"Via: {via}", f"Call-ID: {cid}", "CSeq: 101 INVITE",
               '"Pat Caller" <sip:pstojano-test@dmzlab.call.ciscospark.com>;tag=872524918'.join(["From: ", ""]),
               f"To: <{ruri}>", f"Contact: {contact}", f"Session-ID: {sid}", f"User-Agent: {ua}",
               "Locus: c904a3b2-1111-2222-3333-444455556666", "Locus-Type: CALL", "Max-Forwards: 69"]
    if route:
        headers.append("Route: <sip:cucm.rtp.ciscotac.net;lr>")
    body = _sdp(codecs) if codecs else ""
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body)}")
    return "\r\n".join(headers) + "\r\n\r\n" + body


def _response(cid: str, sid: str, code: int, reason: str, method: str, sdp_codecs: str | None = None,
              audio_port: int = 33512, warning: str = "", ua: str = "Cisco-L2SIP") -> str:
    headers = [f"SIP/2.0 {code} {reason}", f"Via: SIP/2.0/TLS 146.20.193.45:5062;branch=z9hG4bK{cid[:10]}",
               f"Call-ID: {cid}", f"CSeq: 101 {method}",
               "From: <sip:pstojano-test@dmzlab.call.ciscospark.com>;tag=872524918",
               "To: <sip:jorobb@rtp.ciscotac.net>;tag=96b9a0eaf669a590", f"Session-ID: {sid}"]
    if warning:
        headers.append(f'Warning: {warning}')
        headers.append("Server: TANDBERG/4135 (X8.10.2)")
    else:
        headers.append(f"User-Agent: {ua}")
    body = _sdp(sdp_codecs, audio_port) if sdp_codecs is not None else ""
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body)}")
    return "\r\n".join(headers) + "\r\n\r\n" + body


def _request(method: str, cid: str, sid: str, ruri: str, extra: str = "") -> str:
    cseq = "101 ACK" if method == "ACK" else f"102 {method}"
    headers = [f"{method} {ruri} SIP/2.0", f"Via: SIP/2.0/TLS 146.20.193.45:5062;branch=z9hG4bK{cid[:6]}a",
               f"Call-ID: {cid}", f"CSeq: {cseq}", "From: <sip:pstojano-test@dmzlab.call.ciscospark.com>;tag=872524918",
               "To: <sip:jorobb@rtp.ciscotac.net>;tag=96b9a0eaf669a590", f"Session-ID: {sid}"]
    if extra:
        headers.append(extra)
    headers.append("Content-Length: 0")
    return "\r\n".join(headers) + "\r\n\r\n"


# -- faults (one function per documented fault with log evidence) ------------------------------------------

def _inbound_tls(w: LogWriter, detail: str, ssl_reason: str, close_reason: str, iresult: str = "0") -> None:
    webex, port = "146.20.193.45", 33441
    tup = f'Src-ip="{webex}" Src-port="{port}" Dst-ip="{EXPE_OUT}" Dst-port="5062"'
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
    w.dev("developer.ssl", "INFO", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1974)", "::ttssl_continueHandshake",
          'Detail="Handshake in progress" Reason="want read/write"')
    w.event("Inbound TLS Negotiation Error", f'Service="SIP" {tup} Detail="{detail}" Protocol="TLS"')
    w.dev("developer.ssl", "ERROR", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(68)", "::TTSSLErrorOutput",
          f'TTSSL_continueHandshake: Failed to establish SSL connection iResult="{iresult}" error="1" bServer="true" '
          f"localAddress=\"['IPv4''TCP''{EXPE_OUT}:5062']\" remoteAddress=\"['IPv4''TCP''{webex}:{port}']\" "
          f'ssl_error_reason="{ssl_reason}"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Closed" Reason="{close_reason}"')


def fault_webex_ca_untrusted(w: LogWriter) -> None:
    _inbound_tls(w, "self signed certificate in certificate chain",
                 "error:14089086:SSL routines:ssl3_get_client_certificate:certificate verify failed",
                 "self signed certificate in certificate chain", "-1")


def fault_identity_unacceptable(w: LogWriter) -> None:
    webex, port = "148.62.40.52", 44205
    tup = f'Src-ip="{webex}" Src-port="{port}" Dst-ip="{EXPE_OUT}" Dst-port="5062"'
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
    w.dev("developer.ssl", "INFO", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(1974)", "::ttssl_continueHandshake",
          'Detail="Handshake in progress" Reason="want read/write"')
    w.event("Inbound TLS Negotiation Error", f'Service="SIP" {tup} Detail="Peer\'s TLS certificate identity was unacceptable" '
            'Protocol="TLS"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Closed" Reason="Peer\'s TLS certificate identity was unacceptable"')


def fault_certificate_unknown(w: LogWriter) -> None:
    _inbound_tls(w, "sslv3 alert certificate unknown",
                 "error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown", "Got EOF on socket")


def fault_firewall_inspection(w: LogWriter) -> None:
    webex, sport = "198.101.251.5", 28351
    tup = f'Src-ip="172.17.31.10" Src-port="{sport}" Dst-ip="{webex}" Dst-port="5062"'
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Established"')
    w.dev("developer.ssl", "ERROR", "ppcmains/ssl/ttssl/ttssl_openssl.cpp(68)", "::TTSSLErrorOutput",
          'TTSSL_continueHandshake: Failed to establish SSL connection iResult="-1" error="5" bServer="false" '
          f"localAddress=\"['IPv4''TCP''172.17.31.10:{sport}']\" remoteAddress=\"['IPv4''TCP''{webex}:5062']\"")
    w.event("Outbound TLS Negotiation Error", f'Service="SIP" {tup} Detail="No SSL error available, probably remote disconnect" '
            'Protocol="TLS" Common-name="callservice.ciscospark.com"')
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connection Closed" Reason="Got EOF on socket"')


def fault_preloaded_route(w: LogWriter) -> None:
    """On the Expressway-C: the INVITE from the E carries a Route header and is rejected 404 with no search rule tried."""
    cid, sid = w._ids()
    invite = _invite(cid, sid, "sip:jorobb@rtp.ciscotac.net", squared=True, route=True, codecs="0 9 101",
                     contact_host=f"{EXPE_IN}:5073")
    w.sip("Received", (EXPC, 7003), (EXPE_IN, 7003), invite)
    w.event("Call Attempted", 'Service="SIP" Src-ip="192.168.1.6" Src-port="7003" Src-alias-type="SIP" '
            'Src-alias="sip:pstojano-test@dmzlab.call.ciscospark.com" Dst-alias-type="SIP" '
            'Dst-alias="sip:jorobb@rtp.ciscotac.net" Protocol="TLS" Auth="NO"')
    w.event("Search Attempted", 'Service="SIP" Dst-alias="sip:jorobb@rtp.ciscotac.net" Detail="searchtype:INVITE"')
    w.event("Search Completed", 'Reason="Not Found" Service="SIP" Src-alias-type="SIP" '
            'Src-alias="sip:pstojano-test@dmzlab.call.ciscospark.com" Dst-alias-type="SIP" '
            'Dst-alias="sip:jorobb@rtp.ciscotac.net" Detail="found:false , searchtype:INVITE, Info:Policy Response"')
    w.event("Call Rejected", 'Service="SIP" Src-ip="192.168.1.6" Src-port="7003" Dst-alias="sip:jorobb@rtp.ciscotac.net" '
            'Detail="Not Found" Protocol="TLS" Response-code="404"')
    rej = _response(cid, sid, 404, "Not Found", "INVITE", warning='399 192.168.1.5:5061 "Policy Response"')
    w.sip("Sent", (EXPC, 7003), (EXPE_IN, 7003), rej)


def fault_squared_stripped(w: LogWriter) -> None:
    w.inbound_invite("146.20.193.64", 41822, keep_squared=False, first_miss=False)


def fault_dns_5061(w: LogWriter) -> None:
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    w.net("network.search", "DEBUG", f"Detail=\"Considering search rule 'Webex Hybrid - to Webex Cloud' towards target "
          f"'Hybrid Call Services DNS' at priority '90' with alias '{alias}'\"")
    w.net("network.dns", "DEBUG", 'Detail="Sending DNS query" Name="dmzlab.call.ciscospark.com" Type="NAPTR (IPv4 and IPv6)"')
    w.net("network.dns", "DEBUG", 'Detail="Sending DNS query" Name="_sips._tcp.dmzlab.call.ciscospark.com" Type="SRV (IPv4 and IPv6)"')
    w.net("network.dns", "DEBUG", "Detail=\"Resolved hostname to:  ['IPv4''TCP''146.20.193.64:5061'] (A/AAAA) "
          "Hostname:'l2sip-cfa-01.wbx2.com ' Port:'5061' Priority:'5' TTL:'300' Weight:'10' (SRV) "
          "Number of relevant records retrieved: 2\"")
    tup = f'Src-ip="{EXPE_OUT}" Src-port="25764" Dst-ip="146.20.193.64" Dst-port="5061"'
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
    w.noise(6)
    w.net("network.tcp", "ERROR", f'{tup} Detail="TCP Connection Failed"')


def fault_port_blocked_out(w: LogWriter) -> None:
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    w.net("network.search", "DEBUG", f"Detail=\"Considering search rule 'Webex Hybrid - to Webex Cloud' towards target "
          f"'Hybrid Call Services DNS' at priority '90' with alias '{alias}'\"")
    w._dns_healthy()
    tup = f'Src-ip="{EXPE_OUT}" Src-port="25026" Dst-ip="146.20.193.70" Dst-port="5062"'
    w.net("network.tcp", "DEBUG", f'{tup} Detail="TCP Connecting"')
    w.noise(8)
    w.net("network.tcp", "ERROR", f'{tup} Detail="TCP Connection Failed"')


def fault_catchall_rule(w: LogWriter) -> None:
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    cid, sid = w._ids()
    invite = _invite(cid, sid, f"sip:{alias}", squared=False, route=False, codecs="0 9 101",
                     contact_host=f"{EXPC}:5061", ua="Cisco-CUCM11.5")
    w.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), invite)
    w.net("network.search", "DEBUG", f"Detail=\"Search rule 'B2B calls to VCS-C' did not match destination alias '{alias}'\"")
    w.net("network.search", "DEBUG", "Detail=\"Search rule 'Webex Hybrid' ignored due to source filtering\"")
    w.net("network.search", "DEBUG", f"Detail=\"Considering search rule 'to DNS' towards target 'DNS' at priority '100' "
          f"with alias '{alias}'\"")
    w.net("network.dns", "DEBUG", 'Detail="Sending DNS query" Name="dmzlab.call.ciscospark.com" Type="NAPTR (IPv4 and IPv6)"')
    w.net("network.dns", "DEBUG", 'Detail="Could not resolve hostname"')
    w.event("Search Completed", f'Reason="Not Found" Service="SIP" Dst-alias-type="SIP" Dst-alias="sip:{alias}" '
            'Detail="found:false, searchtype:INVITE, Info:Policy Response"')
    rej = _response(cid, sid, 404, "Not Found", "INVITE", warning='399 192.168.1.6:7003 "Policy Response"')
    rej = rej.replace("To: <sip:jorobb@rtp.ciscotac.net>", f"To: <sip:{alias}>")
    w.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), rej)


def fault_cpl_reject(w: LogWriter) -> None:
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    cid, sid = w._ids()
    invite = _invite(cid, sid, f"sip:{alias}", squared=False, route=False, codecs="0 9 101",
                     contact_host=f"{EXPC}:5061", ua="Cisco-CUCM11.5")
    w.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), invite)
    remote = 'Remote-ip="192.168.1.5" Remote-port="26404"'
    w.net("network.cpl", "DEBUG", f'{remote} Detail="CPL: <routed> "')
    w.net("network.cpl", "DEBUG", f'{remote} Detail="CPL: <rule-switch> "')
    w.net("network.cpl", "DEBUG", f'{remote} Detail="CPL: <rule unauthenticated-origin=".*" '
          'destination=".*@dmzlab\\.call\\.ciscospark\\.com.*" message-regex=""> matched "')
    w.net("network.cpl", "DEBUG", f'{remote} Detail="CPL: <reject/> "')
    w.event("Search Completed", f'Reason="Forbidden" Service="SIP" Dst-alias-type="SIP" Dst-alias="sip:{alias}" '
            'Detail="found:false, searchtype:INVITE, Info:Policy Response"')
    w.event("Call Rejected", f'Service="SIP" Dst-alias="sip:{alias}" Detail="Forbidden" Protocol="TLS" Response-code="403"')


def fault_g729_only(w: LogWriter) -> None:
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    cid, sid = w._ids()
    webex, sport = "146.20.193.70", 25411
    invite = _invite(cid, sid, f"sip:{alias}", squared=False, route=False, codecs="18 101",
                     contact_host=f"{EXPE_OUT}:5062", egress="HybridCallServicesDNS", ua="Cisco-CUCM11.5")
    w.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), invite)
    w.sip("Sent", (EXPE_OUT, sport), (webex, 5062), invite)
    ok = _response(cid, sid, 200, "OK", "INVITE", sdp_codecs="*", audio_port=0).replace("RTP/SAVP *\r\na=crypto", "RTP/SAVP *\r\na=crypto")
    w.sip("Received", (EXPE_OUT, sport), (webex, 5062), ok)
    w.sip("Sent", (EXPE_IN, 7003), (EXPC, 7003), ok)
    ack = _request("ACK", cid, sid, f"sip:{alias}")
    w.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), ack)
    w.sip("Sent", (EXPE_OUT, sport), (webex, 5062), ack)
    bye = _request("BYE", cid, sid, f"sip:{alias}", extra="Reason: Q.850 ;cause=47").replace(
        "Content-Length: 0", "User-Agent: Cisco-CUCM11.5\r\nContent-Length: 0")
    w.sip("Received", (EXPE_IN, 7003), (EXPC, 7003), bye)
    w.sip("Sent", (EXPE_OUT, sport), (webex, 5062), bye)


def fault_ok_without_ack(w: LogWriter) -> None:
    """On the Expressway-C: Webex's 200 OK goes on to Unified CM, no ACK comes back, Webex sends 603."""
    cid, sid = w._ids()
    alias = "pstojano-test@dmzlab.call.ciscospark.com"
    invite = _invite(cid, sid, f"sip:{alias}", squared=False, route=False, codecs=None,
                     contact_host=f"{UCM}:5065", ua="Cisco-CUCM11.5")
    w.sip("Received", (EXPC, 5060), (UCM, 5065), invite)
    w.sip("Sent", (EXPC, 7003), (EXPE_IN, 7003), invite)
    ok = _response(cid, sid, 200, "OK", "INVITE", sdp_codecs="0 8 9 101")
    w.sip("Received", (EXPC, 7003), (EXPE_IN, 7003), ok)
    w.sip("Sent", (EXPC, 5060), (UCM, 5065), ok)
    w.noise(12)
    w.net("network.tcp", "DEBUG", f'Src-ip="{UCM}" Src-port="5065" Dst-ip="{EXPC}" Dst-port="5060" '
          'Detail="TCP Connection Closed" Reason="Got EOF on socket"')
    decline = _response(cid, sid, 603, "Decline", "INVITE")
    w.sip("Received", (EXPC, 7003), (EXPE_IN, 7003), decline)


# -- other pasted evidence ---------------------------------------------------------------------------------

def sdl_trace(limit: int = 5000, seed: int = 3, lines: int = 300) -> str:
    r = random.Random(seed)
    out = []
    seq = 12_000_000
    fault_at = lines // 2
    for n in range(lines):
        seq += 1
        clock = f"10:{(n // 60) % 60:02d}:{n % 60:02d}.{r.randrange(1000):03d}"
        if n == fault_at:
            out += [f"{seq:08d}.000 |{clock} |AppInfo  |SIPSocketProtocol(5,100,14,707326)::handleReadComplete send SdlReadRsp: size {limit}",
                    f"{seq:08d}.001 |{clock} |AppInfo  |//SIP/Stack/Error/0x0/httpish_cache_header_val: DROPPING unregistered header Locus: c904a3b2",
                    f"{seq:08d}.002 |{clock} |AppInfo  |//SIP/Stack/Info/0x0/httpish_msg_process_network_msg: Content Length 4068, Bytes Remaining 3804",
                    f"{seq:08d}.003 |{clock} |AppInfo  |SIPTcp - Ignoring large message from 192.168.1.5:[5060]. Only allow up to {limit} bytes. Resetting connection."]
            continue
        out.append(f"{seq:08d}.000 |{clock} |{r.choice(['AppInfo  ', 'SdlSig   '])}|"
                   + r.choice(["SIPHandler::processMessage ok", "CcRegisterReq received", "DbMon notify tbl=device",
                               f"SIPTcp - wait_SdlReadRsp: bytes {r.randrange(200, 3000)}", "StationD: keepalive"]))
    return "\n".join(out) + "\n"


def netstat_output(listening_on_interfaces: bool) -> str:
    rows = ["Active Internet connections (servers and established)",
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
            "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN",
            "tcp        0      0 172.16.2.2:5061         0.0.0.0:*               LISTEN",
            "tcp        0      0 127.0.0.1:5062          0.0.0.0:*               LISTEN",
            "tcp6       0      0 ::1:5062                :::*                    LISTEN",
            "tcp        0      0 172.16.2.2:5061         203.0.113.9:51544       ESTABLISHED"]
    if listening_on_interfaces:
        rows.insert(4, "tcp        0      0 172.16.2.2:5062         0.0.0.0:*               LISTEN")
        rows.insert(5, "tcp        0      0 192.168.1.6:5062        0.0.0.0:*               LISTEN")
    return "\n".join(rows) + "\n"


# -- xConfiguration dumps ------------------------------------------------------------------------------------

def xconf_expe(subject: str = "callservice.ciscospark.com", inbound: str = "On", override: str = "On",
               override_name: str = "callservice.ciscospark.com", preloaded: str = "On", preservation: str = "On",
               webex_priority: str = "90", dns_rule_priority: str = "100", cpl: str = "Off") -> str:
    """An Expressway-E dump in the guide's shape: Hybrid DNS zone 6, traversal server zone 7, search rules, policy."""
    lines = [
        '*c xConfiguration SystemUnit Name: "amer-expressway01"',
        '*c xConfiguration SIP Domains Domain 1 Name: "rtp.ciscotac.net"',
        '*c xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: "Off"',
        f'*c xConfiguration Policy AdministratorPolicy Mode: "{cpl}"',
        '*c xConfiguration Zones Zone 1 Name: "DNS"',
        '*c xConfiguration Zones Zone 1 Type: "DNS"',
        '*c xConfiguration Zones Zone 1 DNS SIP TLS Verify Mode: "Off"',
        '*c xConfiguration Zones Zone 1 DNS SIP PreloadedSipRoutes Accept: "Off"',
        '*c xConfiguration Zones Zone 1 DNS SIP ParameterPreservation Mode: "Off"',
        '*c xConfiguration Zones Zone 6 Name: "Hybrid Call Services DNS"',
        '*c xConfiguration Zones Zone 6 Type: "DNS"',
        '*c xConfiguration Zones Zone 6 DNS SIP Default Transport: "TLS"',
        '*c xConfiguration Zones Zone 6 DNS SIP Media Encryption Mode: "On"',
        '*c xConfiguration Zones Zone 6 DNS SIP ParameterPreservation Mode: "Off"',
        '*c xConfiguration Zones Zone 6 DNS SIP PreloadedSipRoutes Accept: "On"',
        f'*c xConfiguration Zones Zone 6 DNS SIP TLS Verify InboundClassification: "{inbound}"',
        '*c xConfiguration Zones Zone 6 DNS SIP TLS Verify Mode: "On"',
        f'*c xConfiguration Zones Zone 6 DNS SIP TLS Verify Subject Name: "{subject}"',
        f'*c xConfiguration Zones Zone 6 DNS SIP DnsOverride Override: "{override}"',
        f'*c xConfiguration Zones Zone 6 DNS SIP DnsOverride Name: "{override_name}"',
        '*c xConfiguration Zones Zone 6 DNS SIP Record Route Address Type: "IP"',
        '*c xConfiguration Zones Zone 6 DNS SIP SearchAutoResponse: "Off"',
        '*c xConfiguration Zones Zone 7 Name: "Hybrid Call Service Traversal"',
        '*c xConfiguration Zones Zone 7 Type: "TraversalServer"',
        '*c xConfiguration Zones Zone 7 TraversalServer SIP Port: "7003"',
        f'*c xConfiguration Zones Zone 7 TraversalServer SIP PreloadedSipRoutes Accept: "{preloaded}"',
        f'*c xConfiguration Zones Zone 7 TraversalServer SIP ParameterPreservation Mode: "{preservation}"',
        '*c xConfiguration Zones Zone 7 TraversalServer SIP TLS Verify Subject Name: "rtp12-tpdmz-118-VCSC.rtp.ciscotac.net"',
        '*c xConfiguration Zones Zone 7 TraversalServer Authentication Password: "{cipher}qeh8eq+Zz1m0="',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Name: "to DNS"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Mode: "AliasPatternMatch"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Pattern Type: "Regex"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Pattern String: "(?!.*@%localdomains%.*$).*"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Pattern Behavior: "Leave"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Pattern Replace: ',
        f'*c xConfiguration Zones Policy SearchRules Rule 1 Priority: "{dns_rule_priority}"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Progress: "Stop"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Protocol: "Any"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Source Mode: "Any"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Source Name: "Please Select"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 State: "Enabled"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Target Name: "DNS"',
        '*c xConfiguration Zones Policy SearchRules Rule 1 Target Type: "Zone"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Name: "Webex Hybrid"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Mode: "AnyAlias"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Priority: "15"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Progress: "Stop"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Protocol: "SIP"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Source Mode: "Named"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Source Name: "Hybrid Call Services DNS"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 State: "Enabled"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Target Name: "Hybrid Call Service Traversal"',
        '*c xConfiguration Zones Policy SearchRules Rule 3 Target Type: "Zone"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Name: "Webex Hybrid - to Webex Cloud"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Mode: "AliasPatternMatch"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Pattern Type: "Regex"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Pattern String: ".*@.*\\.ciscospark\\.com"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Pattern Behavior: "Leave"',
        f'*c xConfiguration Zones Policy SearchRules Rule 6 Priority: "{webex_priority}"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Progress: "Stop"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Protocol: "SIP"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Source Mode: "Named"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Source Name: "Hybrid Call Service Traversal"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 State: "Enabled"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Target Name: "Hybrid Call Services DNS"',
        '*c xConfiguration Zones Policy SearchRules Rule 6 Target Type: "Zone"',
    ]
    return "\n".join(lines) + "\nOK\n"


def xconf_expc(preloaded: str = "On", preservation: str = "On") -> str:
    return "\n".join([
        '*c xConfiguration SystemUnit Name: "rtp12-tpdmz-118-VCSC"',
        '*c xConfiguration Zones Zone 6 Name: "Hybrid Call Service Traversal"',
        '*c xConfiguration Zones Zone 6 Type: "TraversalClient"',
        '*c xConfiguration Zones Zone 6 TraversalClient SIP Port: "7003"',
        f'*c xConfiguration Zones Zone 6 TraversalClient SIP PreloadedSipRoutes Accept: "{preloaded}"',
        f'*c xConfiguration Zones Zone 6 TraversalClient SIP ParameterPreservation Mode: "{preservation}"',
        '*c xConfiguration Zones Zone 8 Name: "CUCM11"',
        '*c xConfiguration Zones Zone 8 Type: "Neighbor"',
        '*c xConfiguration Zones Zone 8 Neighbor SIP PreloadedSipRoutes Accept: "On"',
        '*c xConfiguration Zones Zone 8 Neighbor SIP ParameterPreservation Mode: "On"',
        '*c xConfiguration Policy AdministratorPolicy Mode: "Off"',
    ]) + "\nOK\n"
