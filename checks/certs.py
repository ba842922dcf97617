"""Certificate chain analysis shared by the pcap path, the live check and bundle PEM files.

Pure over DER bytes and a clock value (the caller passes ``now``), so a chain seen
in a capture and the same chain fetched live give the same verdict and the same
observation codes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kb.errors import InputError

# The roots Webex's L2SIP certificates chain to: QuoVadis (the guide, 2017) and IdenTrust (since 2021-03-31).
WEBEX_ROOT_NAMES = ("QuoVadis Root CA 2", "IdenTrust Commercial Root CA 1")
# Names that mark a certificate as the Webex side's (guide: CN l2sip-cfa-01.ciscospark.com, SANs on wbx2.com,
# callservice.ciscospark.com; rebranded callservice.webex.com / sip.webex.com).
WEBEX_NAME_MARKERS = ("callservice.ciscospark.com", "callservice.webex.com", "sip.webex.com", ".wbx2.com",
                      ".ciscospark.com", ".webex.com")
# Fresh Expressways ship a server certificate issued by a local "temporary CA". Its exact CN is not
# confirmed by any source we read; Expressways seen in the field name it "Temporary CA <uuid>".
TEMPORARY_CA_MARKER = "temporary ca"

Shape = Literal["empty", "self_signed", "leaf_only", "complete"]


@dataclass(frozen=True)
class CertInfo:
    subject: str
    subject_cn: str | None
    issuer: str
    issuer_cn: str | None
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    is_ca: bool | None
    from_temporary_ca: bool
    sha256: str

    @property
    def label(self) -> str:
        """Short name for people: the CN, else the first SAN, else the whole subject."""
        return self.subject_cn or (self.sans[0] if self.sans else self.subject) or "(no subject)"

    @property
    def webex_like(self) -> bool:
        names = [n.lower() for n in (self.subject_cn or "", *self.sans)]
        return any(n == m.lstrip(".") or n.endswith(m) for n in names for m in WEBEX_NAME_MARKERS)

    def validity_problem(self, now: dt.datetime) -> str | None:
        if now < self.not_before:
            return f"not valid before {self.not_before:%Y-%m-%d}"
        if now > self.not_after:
            return f"expired on {self.not_after:%Y-%m-%d}"
        return None


@dataclass(frozen=True)
class ChainAnalysis:
    """A chain as sent (leaf first). ``order_ok`` is None when it cannot be told (one cert)."""

    certs: tuple[CertInfo, ...]
    shape: Shape
    order_ok: bool | None
    validity_problems: tuple[str, ...]

    @property
    def leaf(self) -> CertInfo | None:
        return self.certs[0] if self.certs else None

    def describe(self) -> str:
        if not self.certs:
            return "no certificate"
        n = len(self.certs)
        leaf = self.certs[0]
        text = f"{n} cert{'s' if n != 1 else ''}, CN={leaf.label}, issuer {leaf.issuer_cn or leaf.issuer}"
        if self.shape == "self_signed":
            text += ", self-signed" if leaf.self_signed else ", from the Expressway temporary CA"
        return text


def _cn(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key verifies ``cert``'s signature (RSA, EC, Ed25519/448)."""
    try:
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            key.verify(cert.signature, cert.tbs_certificate_bytes)  # type: ignore[call-arg]
        return True
    except Exception:  # any verification or unsupported-algorithm failure means "not signed by"
        return False


def load_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except Exception as exc:  # cryptography raises ValueError, InvalidVersion and others on hostile DER
        raise InputError(f"certificate cannot be parsed ({exc.__class__.__name__})") from None


def cert_info(cert: x509.Certificate) -> CertInfo:
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(str(v) for v in san_ext.value.get_values_for_type(x509.DNSName))
        sans += tuple(str(v) for v in san_ext.value.get_values_for_type(x509.IPAddress))
    except (x509.ExtensionNotFound, ValueError):
        sans = ()
    try:
        is_ca: bool | None = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = None
    try:
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        subject_cn, issuer_cn = _cn(cert.subject), _cn(cert.issuer)
    except ValueError:  # malformed names: keep what we can say
        subject = issuer = "(unreadable name)"
        subject_cn = issuer_cn = None
    self_signed = cert.subject == cert.issuer and _signed_by(cert, cert)
    return CertInfo(
        subject=subject, subject_cn=subject_cn, issuer=issuer, issuer_cn=issuer_cn, sans=sans,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        self_signed=self_signed, is_ca=is_ca,
        from_temporary_ca=TEMPORARY_CA_MARKER in (issuer_cn or issuer).lower(),
        sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
    )


def checked_info(cert: x509.Certificate) -> CertInfo:
    """``cert_info`` with cryptography's lazy-parsing errors (of many types) as one InputError."""
    try:
        return cert_info(cert)
    except Exception as exc:
        raise InputError(f"certificate cannot be parsed ({exc.__class__.__name__})") from None


def analyze_chain(ders: Sequence[bytes], now: dt.datetime) -> ChainAnalysis:
    """Judge a chain exactly as a peer sent it (leaf first)."""
    certs = [load_der(d) for d in ders]
    infos = tuple(checked_info(c) for c in certs)
    if not infos:
        shape: Shape = "empty"
    elif infos[0].self_signed or infos[0].from_temporary_ca:
        shape = "self_signed"
    elif len(infos) == 1:
        shape = "leaf_only"
    else:
        shape = "complete"
    order_ok = None if len(certs) < 2 else all(_signed_by(a, b) for a, b in zip(certs, certs[1:]))
    problems = tuple(f"{i.label}: {p}" for i in infos if (p := i.validity_problem(now)))
    return ChainAnalysis(certs=infos, shape=shape, order_ok=order_ok, validity_problems=problems)


def webex_roots_in(names: Iterable[str]) -> list[str]:
    """Which Webex roots a list of distinguished names or CNs mentions (client-CA list, trusted-CA file)."""
    found = []
    for name in names:
        for root in WEBEX_ROOT_NAMES:
            if root.lower() in name.lower() and root not in found:
                found.append(root)
    return found


_ATTR_NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST"}
MAX_NAME_BYTES = 4096


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at ``pos``; InputError when it runs past ``buf``."""
    if pos + 2 > len(buf):
        raise InputError("DER name is truncated")
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 3 or pos + n > len(buf):
            raise InputError("DER name has an unusable length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > len(buf):
        raise InputError("DER name is truncated")
    return tag, pos, pos + length


def _oid(raw: bytes) -> str:
    if not raw:
        return ""
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def name_from_der(der: bytes) -> str:
    """A readable ``CN=…, O=…`` string for a DER X.501 Name, as listed in a TLS CertificateRequest.

    cryptography offers no public loader for a bare Name, and these entries are tiny, so a bounded
    walk of SEQUENCE { SET { SEQUENCE { OID, value } } } is all that is needed.
    """
    if len(der) > MAX_NAME_BYTES:
        raise InputError("DER name is too long")
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise InputError("DER name is not a SEQUENCE")
    parts: list[str] = []
    pos = start
    while pos < end:
        _, set_start, set_end = _tlv(der, pos)
        inner = set_start
        while inner < set_end:
            _, seq_start, seq_end = _tlv(der, inner)
            otag, ostart, oend = _tlv(der, seq_start)
            if otag == 0x06 and oend < seq_end:
                _, vstart, vend = _tlv(der, oend)
                oid = _oid(der[ostart:oend])
                value = der[vstart:vend].decode("utf-8", "replace")
                parts.append(f"{_ATTR_NAMES.get(oid, oid)}={value}")
            inner = seq_end
        pos = set_end
    return ", ".join(parts)

