"""SIP messages -> observations about codecs, declined audio, causes and call outcomes.

Shared by every source that sees clear-text SIP: a capture (``checks.capture``) and the SIP
messages quoted in Expressway diagnostic logs. Each caller parses with
``checks.parsers.sip.parse_message`` and passes the messages *in the order they were seen*,
each with its ``Evidence`` (file, location, text); the same messages then give the same codes
whichever file they came from.

    observe_sip(messages: Iterable[tuple[SipMessage, Evidence]]) -> list[Observation]

Codes emitted (see ``kb/observations.yaml``):
- ``sip.offer_without_supported_audio_codec``: an SDP *offer* whose audio codecs include none of
  G.711 (PCMU/PCMA), G.722 or AAC-LD (mpeg4-generic, MP4A-LATM). telephone-event, CN and other
  helper payloads are not codecs and are ignored; an offer with no codec at all claims nothing.
  An offer is SDP in a request (INVITE, UPDATE, re-INVITE) or in a 2xx/18x to an INVITE that
  carried no SDP (delayed offer).
- ``sip.audio_declined``: any SDP with ``m=audio 0`` (the guide's Webex 200 OK).
- ``sip.bye_cause_47``: a BYE with ``Reason: Q.850 ;cause=47``.
- ``sip.response_488``: a 488 response.
- ``sip.ok_without_ack_then_603``: a Call-ID where a 200 OK to INVITE was seen, no ACK followed,
  and a 603 Decline came later.
- ``sip.preloaded_route_rejected``: an INVITE carrying a Route header answered 404 with a Warning
  of "Policy Response" (the Expressway's answer when no search rule was tried).

The size rule (``sip.oversized_message_reset``) needs TCP behaviour and lives in ``checks.capture``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from checks.model import Evidence, Observation
from checks.parsers.sip import SipMessage

# Audio codec names (rtpmap encoding names, upper-cased) Hybrid Call Service Connect accepts:
# G.711 mu-law/A-law, G.722 and AAC-LD (RFC 3640 mpeg4-generic or RFC 6416 MP4A-LATM).
SUPPORTED_AUDIO = frozenset({"PCMU", "PCMA", "G722", "MPEG4-GENERIC", "MP4A-LATM"})
# rtpmap names that are not voice codecs, so they neither satisfy nor break an offer.
NOT_CODECS = frozenset({"TELEPHONE-EVENT", "CN", "RED", "ULPFEC", "RTX", "FLEXFEC"})
_CAUSE_47 = re.compile(r"Q\.850\s*;.*\bcause\s*=\s*47\b", re.IGNORECASE)
# Calls tracked at once for the no-ACK rule; past this the oldest are forgotten (bounded memory).
MAX_TRACKED_CALLS = 20_000


@dataclass
class _Call:
    invite_had_sdp: bool | None = None
    ok_to_invite: Evidence | None = None
    acked: bool = False
    route_invite: Evidence | None = None


def _obs(code: str, evidence: list[Evidence], **facts: str) -> Observation:
    return Observation(code=code, evidence=tuple(evidence), facts=tuple(sorted(facts.items())))


def audio_codecs(msg: SipMessage) -> tuple[str, ...]:
    """Voice codec names of the first m=audio (helper payloads such as telephone-event dropped)."""
    audio = msg.audio
    if audio is None:
        return ()
    return tuple(c for c in audio.codecs if c.upper() not in NOT_CODECS)


def observe_sip(messages: Iterable[tuple[SipMessage, Evidence]]) -> list[Observation]:
    out: list[Observation] = []
    calls: dict[str, _Call] = {}
    for msg, ev in messages:
        cid = msg.call_id or ""
        call = calls.get(cid)
        if call is None:
            if len(calls) >= MAX_TRACKED_CALLS:
                calls.pop(next(iter(calls)))
            call = calls[cid] = _Call()
        cseq = msg.cseq_method

        if msg.is_request and msg.method == "INVITE":
            call.invite_had_sdp = msg.has_sdp
            if msg.routes:
                call.route_invite = ev
        if msg.is_request and msg.method == "ACK":
            call.acked = True

        is_offer = msg.has_sdp and (
            (msg.is_request and msg.method in ("INVITE", "UPDATE"))
            or (not msg.is_request and cseq == "INVITE" and msg.status is not None and 100 < msg.status < 300
                and call.invite_had_sdp is False)
        )
        audio = msg.audio if msg.has_sdp else None
        if is_offer and audio is not None and audio.port != 0:
            codecs = audio_codecs(msg)
            if codecs and not any(c.upper() in SUPPORTED_AUDIO for c in codecs):
                out.append(_obs("sip.offer_without_supported_audio_codec", [ev], call_id=cid,
                                codecs=", ".join(codecs)))
        if audio is not None and audio.port == 0:
            out.append(_obs("sip.audio_declined", [ev], call_id=cid, message=msg.start_line))

        if msg.is_request and msg.method == "BYE":
            reason = " ".join(msg.header_all("reason"))
            if _CAUSE_47.search(reason):
                out.append(_obs("sip.bye_cause_47", [ev], call_id=cid, reason=reason))

        if not msg.is_request:
            if msg.status == 488:
                out.append(_obs("sip.response_488", [ev], call_id=cid, message=msg.start_line))
            if msg.status == 200 and cseq == "INVITE" and call.ok_to_invite is None:
                call.ok_to_invite = ev
                call.acked = False
            if msg.status == 603 and call.ok_to_invite is not None and not call.acked:
                out.append(_obs("sip.ok_without_ack_then_603", [call.ok_to_invite, ev], call_id=cid))
                call.ok_to_invite = None
            if msg.status == 404 and cseq == "INVITE" and call.route_invite is not None:
                warning = " ".join(msg.header_all("warning"))
                if "policy response" in warning.lower():
                    out.append(_obs("sip.preloaded_route_rejected", [call.route_invite, ev], call_id=cid,
                                    warning=warning))
                    call.route_invite = None
    return out
