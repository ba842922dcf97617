"""Certificate files of a diagnostic bundle (``ca_<host>_<ts>.pem``, ``server_<host>_<ts>.pem``) -> ``pem.*``.

The trusted-CA file answers "does the Expressway trust a Webex root?" and, together with the
server certificate file, "can it send its chain?" (an Expressway-E only sends the CAs of its
certificate that sit in its own trusted-CA store). Both judgements go through
``checks.certs`` so a certificate read here is described as in a capture or a live check.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field

from checks.certs import CertInfo, checked_info, load_der, webex_roots_in
from checks.model import Evidence, Observation
from kb.errors import InputError

MAX_PEM_BYTES = 8 << 20
MAX_CERTS = 2_000
_BEGIN, _END = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"


def _blocks(data: bytes) -> Iterator[bytes]:
    """The text between each BEGIN and the next END marker, in one pass.

    A regular expression ``BEGIN(.*?)END`` scans to the end of the text from every BEGIN that
    has no END after it, which is quadratic: thousands of unterminated blocks took a minute.
    """
    pos = 0
    while (start := data.find(_BEGIN, pos)) >= 0:
        end = data.find(_END, start + len(_BEGIN))
        if end < 0:
            return
        yield data[start + len(_BEGIN):end]
        pos = end + len(_END)


def pem_ders(data: bytes) -> list[bytes]:
    """The DER certificates of a PEM text (other blocks, such as keys, are ignored)."""
    out = []
    for block in _blocks(data[:MAX_PEM_BYTES]):
        try:
            out.append(base64.b64decode(b"".join(block.split()), validate=True))
        except (binascii.Error, ValueError):
            raise InputError("a PEM certificate block is not valid base64") from None
        if len(out) >= MAX_CERTS:
            break
    if not out:
        raise InputError("no PEM certificate found")
    return out


def role_of(name: str, infos: list[CertInfo]) -> str:
    """``trusted`` for the CA list, ``server`` for the Expressway's own certificate (by bundle file name,
    else by content: a file of CA certificates only is a trust list)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()
    if base.startswith(("ca_", "ca.", "trusted")):
        return "trusted"
    if base.startswith(("server", "client")):
        return "server" if base.startswith("server") else "client"
    return "trusted" if infos and all(i.is_ca for i in infos) else "server"


@dataclass
class PemStore:
    """PEM files of one analysis; judged together at the end because the verdicts need both files."""

    trusted: list[tuple[str, list[CertInfo]]] = field(default_factory=list)
    servers: list[tuple[str, list[CertInfo]]] = field(default_factory=list)

    def add(self, name: str, data: bytes) -> str:
        infos = [checked_info(load_der(d)) for d in pem_ders(data)]
        role = role_of(name, infos)
        if role == "trusted":
            self.trusted.append((name, infos))
        elif role == "server":
            self.servers.append((name, infos))
        return role

    def observe(self) -> list[Observation]:
        out: list[Observation] = []
        trusted_subjects: set[str] = set()
        for name, infos in self.trusted:
            trusted_subjects |= {i.subject for i in infos}
            names = [i.subject for i in infos]
            if not webex_roots_in(names):
                out.append(Observation("pem.trusted_ca.no_webex_root", (
                    Evidence(name, f"{len(infos)} certificates",
                             "trusted CAs: " + "; ".join(i.label for i in infos[:8])
                             + (" ..." if len(infos) > 8 else "")
                             + " (no QuoVadis Root CA 2 or IdenTrust Commercial Root CA 1)"),)))
        for name, infos in self.servers:
            leaf = infos[0]
            where = Evidence(name, "certificate 1", f"subject {leaf.subject}, issuer {leaf.issuer}")
            if leaf.self_signed or leaf.from_temporary_ca:
                out.append(Observation("pem.server_cert.self_signed", (where,),
                                       (("subject", leaf.subject), ("issuer", leaf.issuer))))
            elif self.trusted:
                own = {i.subject for i in infos[1:]}
                if leaf.issuer not in trusted_subjects | own:
                    out.append(Observation("pem.server_cert.leaf_only", (
                        where, Evidence(self.trusted[0][0], "trusted CA list",
                                        f"no certificate with subject {leaf.issuer}")),
                        (("issuer", leaf.issuer),)))
        return out
