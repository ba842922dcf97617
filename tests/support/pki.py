"""Purpose-named certificate fixtures made on the fly with ``cryptography`` (nothing opaque committed).

Webex-like chain: leaf with callservice SANs <- "HydrantID SSL ICA G2" <- "QuoVadis Root CA 2".
Expressway-like chain: leaf <- "Example Issuing CA" <- "Example Root CA", plus a self-signed default
and a temporary-CA leaf. Keys are EC P-256 so generating them is fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)  # issuers, nearest first

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self, include_root: bool = False) -> bytes:
        certs = [self.cert] + (self.chain if include_root else self.chain[:-1] if self.chain else [])
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(cn: str, org: str | None = None, country: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    return x509.Name(attrs)


def make_cert(
    subject: x509.Name,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    issuer_name: x509.Name | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else (issuer_name or subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=30))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    cert = builder.sign(signer_key, hashes.SHA256())
    chain = ([issuer.cert] + issuer.chain) if issuer else []
    return Issued(cert, key, chain)


def webex_pki() -> dict[str, Issued]:
    root = make_cert(_name("QuoVadis Root CA 2", "QuoVadis Limited", "BM"), ca=True)
    ica = make_cert(_name("HydrantID SSL ICA G2", "HydrantID (Avalanche Cloud Corporation)", "US"), root, ca=True)
    leaf = make_cert(
        _name("l2sip-cfa-01.wbx2.com", "Cisco Systems, Inc.", "US"), ica,
        sans=("l2sip-cfa-01.wbx2.com", "callservice.ciscospark.com", "callservice.call.ciscospark.com",
              "callservice.webex.com"),
    )
    return {"root": root, "ica": ica, "leaf": leaf}


def expressway_pki(domain: str = "example.com") -> dict[str, Issued]:
    root = make_cert(_name("Example Root CA", "Example Corp"), ca=True)
    ica = make_cert(_name("Example Issuing CA", "Example Corp"), root, ca=True)
    leaf = make_cert(_name(f"expe.{domain}"), ica, sans=(f"expe.{domain}", domain, f"mtls.{domain}"))
    self_signed = make_cert(_name(f"expe.{domain}"), sans=(f"expe.{domain}",))
    temp_ca = make_cert(_name("Temporary CA 3f2a9c1e-5d4b-4e7a-9b1c-0d2e3f4a5b6c"), ca=True)
    temp_leaf = make_cert(_name(f"expe.{domain}"), temp_ca, sans=(f"expe.{domain}",))
    expired = make_cert(_name(f"expe.{domain}"), ica, sans=(f"expe.{domain}",),
                        not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=5))
    return {"root": root, "ica": ica, "leaf": leaf, "self_signed": self_signed, "temp_ca": temp_ca,
            "temp_leaf": temp_leaf, "expired": expired}
