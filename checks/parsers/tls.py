"""A sans-IO reader of one direction of a TLS connection: records, handshake messages, alerts.

Fed the reassembled bytes of one TCP direction in order (``TlsReader.feed``), it returns events:
hellos (SNI, versions, cipher), each Certificate message as sent (DER list), CertificateRequest
(acceptable client-CA names), other handshake steps, ChangeCipherSpec and alerts. Handshake
messages may span records and records may span segments; both are reassembled here with named
caps (``MAX_RECORD_BYTES``, ``MAX_HANDSHAKE_BYTES``).

What is encrypted is said, never guessed: after a ChangeCipherSpec (SSL 3.0 to TLS 1.2) the
direction's handshake messages and alerts are encrypted, and in TLS 1.3 everything after the
ServerHello travels as application-data records, so the Certificate and alerts are not
visible at all. Events carry ``encrypted=True`` for those instead of a made-up meaning.

Detection is by content, not by port (``looks_like_tls``): Expressway mutual TLS on 5062 is not
decoded by Wireshark's port table, and this reader does not care which port carries it.
Bytes that stop looking like TLS end the reader with a ``Desync`` event; nothing is raised, so
a damaged capture still gives what came before.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.certs import name_from_der
from kb.errors import InputError

# TLSCiphertext may carry 2**14 + 2048 bytes; anything longer is not TLS.
MAX_RECORD_BYTES = (1 << 14) + 2048
# One handshake message (a Certificate with a long chain is the largest); the Zeek trace
# tls-fragmented-handshake.pcap holds a 339,629-byte Certificate, so allow a little over 1 MiB.
MAX_HANDSHAKE_BYTES = (1 << 20) + 64 * 1024
# Certificates and client-CA names kept per message.
MAX_CERTS = 32
MAX_CA_NAMES = 256

VERSIONS = {0x0200: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
            0x0304: "TLSv1.3"}
HANDSHAKE_NAMES = {0: "hello request", 1: "client hello", 2: "server hello", 4: "new session ticket",
                   8: "encrypted extensions", 11: "certificate", 12: "server key exchange",
                   13: "certificate request", 14: "server hello done", 15: "certificate verify",
                   16: "client key exchange", 20: "finished"}
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
          22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
          42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
          45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
          49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
          70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
          109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
          113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
          120: "no_application_protocol"}
# ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3).
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA, CT_HEARTBEAT = 20, 21, 22, 23, 24


def version_name(v: int | None) -> str:
    if v is None:
        return "unknown"
    return VERSIONS.get(v, f"0x{v:04x}")


@dataclass(frozen=True)
class ClientHello:
    version: int
    sni: str | None
    supported_versions: tuple[int, ...]
    sslv2: bool = False


@dataclass(frozen=True)
class ServerHello:
    version: int  # negotiated: supported_versions when present, else the legacy field
    cipher: int
    hello_retry: bool


@dataclass(frozen=True)
class Certificate:
    ders: tuple[bytes, ...]


@dataclass(frozen=True)
class CertificateRequest:
    ca_names: tuple[str, ...]


@dataclass(frozen=True)
class Handshake:
    """Any other handshake step; ``encrypted`` after ChangeCipherSpec (its type is then unknown)."""

    msg_type: int | None
    encrypted: bool = False

    @property
    def name(self) -> str:
        if self.encrypted:
            return "encrypted handshake message"
        return HANDSHAKE_NAMES.get(self.msg_type or 0, f"handshake type {self.msg_type}")


@dataclass(frozen=True)
class ChangeCipherSpec:
    pass


@dataclass(frozen=True)
class Alert:
    level: int | None
    description: int | None
    encrypted: bool

    @property
    def name(self) -> str:
        if self.encrypted or self.description is None:
            return "encrypted alert"
        return ALERTS.get(self.description, f"alert {self.description}")

    @property
    def fatal(self) -> bool:
        return self.level == 2


@dataclass(frozen=True)
class ApplicationData:
    """The first application-data record of a direction (later ones are not reported)."""


@dataclass(frozen=True)
class Desync:
    reason: str


TlsEvent = (ClientHello | ServerHello | Certificate | CertificateRequest | Handshake | ChangeCipherSpec | Alert
            | ApplicationData | Desync)


def looks_like_tls(data: bytes) -> bool:
    """Whether a direction's first bytes are a TLS handshake record (or an SSLv2-style ClientHello)."""
    if len(data) >= 5 and data[0] == CT_HANDSHAKE and data[1] == 3 and data[2] <= 4:
        length = (data[3] << 8) | data[4]
        return 0 < length <= MAX_RECORD_BYTES and (len(data) < 6 or data[5] in (1, 2))
    if len(data) >= 3 and data[0] & 0x80 and data[2] == 1:  # SSLv2 record carrying a ClientHello
        return len(data) < 5 or data[3] in (0, 2, 3)
    return False


class TlsReader:
    """One direction of a TLS connection. ``feed`` returns the events the new bytes completed."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._hs = bytearray()
        self.encrypted = False  # after this direction's ChangeCipherSpec
        self.dead = False
        self.version: int | None = None  # negotiated, once this direction's ServerHello is seen
        self._first = True
        self._appdata_seen = False
        self._tls13 = False  # TLS 1.3 offered-and-chosen: ChangeCipherSpec is then only a compatibility record

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete record or handshake message."""
        return len(self._buf) + len(self._hs)

    def tls13_hint(self) -> None:
        """The peer chose TLS 1.3 (or asked to retry a hello): this direction's CCS encrypts nothing."""
        self._tls13 = True

    def feed(self, data: bytes, gap: bool = False) -> list[TlsEvent]:
        if self.dead:
            return []
        if gap:
            return self._die("bytes missing from the capture in the middle of the TLS stream")
        self._buf += data
        events: list[TlsEvent] = []
        while True:
            if self._first and len(self._buf) >= 3 and self._buf[0] & 0x80 and self._buf[2] == 1:
                n = ((self._buf[0] & 0x7F) << 8) | self._buf[1]
                if len(self._buf) < 2 + n:
                    return events
                body = bytes(self._buf[2:2 + n])
                del self._buf[:2 + n]
                self._first = False
                version = int.from_bytes(body[1:3], "big") if len(body) >= 3 else 0x0200
                events.append(ClientHello(version=version, sni=None, supported_versions=(), sslv2=True))
                continue
            if len(self._buf) < 5:
                return events
            ctype, major, minor, length = self._buf[0], self._buf[1], self._buf[2], (self._buf[3] << 8) | self._buf[4]
            if ctype not in (CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA, CT_HEARTBEAT) or major != 3 or minor > 4:
                return events + self._die("bytes that are not a TLS record")
            if length > MAX_RECORD_BYTES:
                return events + self._die(f"a TLS record of {length} bytes, above the protocol's limit")
            if len(self._buf) < 5 + length:
                return events
            body = bytes(self._buf[5:5 + length])
            del self._buf[:5 + length]
            self._first = False
            events.extend(self._record(ctype, body))
            if self.dead:
                return events

    def _die(self, reason: str) -> list[TlsEvent]:
        self.dead = True
        self._buf.clear()
        self._hs.clear()
        return [Desync(reason)]

    def _record(self, ctype: int, body: bytes) -> list[TlsEvent]:
        if ctype == CT_CCS:
            if not self._tls13:
                self.encrypted = True
                self._hs.clear()
            return [ChangeCipherSpec()]
        if ctype == CT_ALERT:
            if self.encrypted or len(body) != 2:
                return [Alert(level=None, description=None, encrypted=True)]
            return [Alert(level=body[0], description=body[1], encrypted=False)]
        if ctype == CT_APPDATA:
            if self._appdata_seen:
                return []
            self._appdata_seen = True
            return [ApplicationData()]
        if ctype == CT_HEARTBEAT:
            return []
        if self.encrypted:
            return [Handshake(msg_type=None, encrypted=True)]
        self._hs += body
        out: list[TlsEvent] = []
        while len(self._hs) >= 4:
            mtype = self._hs[0]
            mlen = int.from_bytes(self._hs[1:4], "big")
            if mlen > MAX_HANDSHAKE_BYTES:
                return out + self._die(f"a handshake message of {mlen} bytes, more than any real one")
            if len(self._hs) < 4 + mlen:
                break
            msg = bytes(self._hs[4:4 + mlen])
            del self._hs[:4 + mlen]
            try:
                out.append(self._message(mtype, msg))
            except (IndexError, InputError, ValueError):
                out.append(Handshake(msg_type=mtype))
        return out

    def _message(self, mtype: int, msg: bytes) -> TlsEvent:
        if mtype == 1:
            return _client_hello(msg)
        if mtype == 2:
            hello = _server_hello(msg)
            self.version = hello.version
            self._tls13 = self._tls13 or hello.version == 0x0304 or hello.hello_retry
            return hello
        if mtype == 11 and self.version != 0x0304:
            return Certificate(ders=_certificates(msg))
        if mtype == 13 and self.version != 0x0304:
            return CertificateRequest(ca_names=_ca_names(msg, self.version))
        return Handshake(msg_type=mtype)


class _Cursor:
    """Bounds-checked reads over one handshake message (IndexError when it runs short)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise IndexError("short handshake message")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, n: int) -> bytes:
        return self.take(self.uint(n))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _extensions(cur: _Cursor) -> dict[int, bytes]:
    exts: dict[int, bytes] = {}
    if cur.left < 2:
        return exts
    block = _Cursor(cur.vector(2))
    while block.left >= 4:
        etype = block.uint(2)
        exts.setdefault(etype, block.vector(2))
    return exts


def _client_hello(msg: bytes) -> ClientHello:
    cur = _Cursor(msg)
    version = cur.uint(2)
    cur.take(32)
    cur.vector(1)
    cur.vector(2)
    cur.vector(1)
    exts = _extensions(cur)
    sni = None
    if 0 in exts:
        names = _Cursor(exts[0])
        lst = _Cursor(names.vector(2))
        while lst.left >= 3:
            kind = lst.uint(1)
            name = lst.vector(2)
            if kind == 0:
                sni = name.decode("ascii", "replace")
                break
    versions: tuple[int, ...] = ()
    if 43 in exts:
        raw = _Cursor(exts[43]).vector(1)
        versions = tuple(int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw) - 1, 2))
    return ClientHello(version=version, sni=sni, supported_versions=versions)


def _server_hello(msg: bytes) -> ServerHello:
    cur = _Cursor(msg)
    version = cur.uint(2)
    random = cur.take(32)
    cur.vector(1)
    cipher = cur.uint(2)
    cur.uint(1)
    exts = _extensions(cur)
    if 43 in exts and len(exts[43]) == 2:
        version = int.from_bytes(exts[43], "big")
    return ServerHello(version=version, cipher=cipher, hello_retry=random == HRR_RANDOM)


def _certificates(msg: bytes) -> tuple[bytes, ...]:
    cur = _Cursor(msg)
    lst = _Cursor(cur.take(cur.uint(3)))
    ders: list[bytes] = []
    while lst.left >= 3 and len(ders) < MAX_CERTS:
        ders.append(lst.take(lst.uint(3)))
    return tuple(ders)


def _ca_names(msg: bytes, version: int | None) -> tuple[str, ...]:
    cur = _Cursor(msg)
    cur.vector(1)  # certificate types
    if version is None or version >= 0x0303:
        cur.vector(2)  # signature algorithms (TLS 1.2)
    names = _Cursor(cur.vector(2))
    out: list[str] = []
    while names.left >= 2 and len(out) < MAX_CA_NAMES:
        der = names.vector(2)
        try:
            out.append(name_from_der(der))
        except InputError:
            out.append("(unreadable name)")
    return tuple(out)
