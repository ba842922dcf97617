"""Real TLS and TCP endpoints on loopback for the live-check tests.

``TlsServer`` is a pyOpenSSL server in a thread that sends a chosen chain, may ask for a
client certificate and may name acceptable client CAs: the knobs an Expressway-E's
mutual TLS port turns. ``closed_port`` answers SYNs with a RST, ``silent_port`` never
answers (its accept queue is full, so the kernel drops the SYNs) and ``mute_port``
accepts TCP but never speaks TLS.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL

SERVER_IO_TIMEOUT = 3.0


def loopback_host() -> str:
    """A random 127.x.y.z, so fixed ports such as 5062 rarely collide between tests."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def bind_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 16) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


class TlsServer:
    """``with TlsServer(chain, key, ...) as srv: check(f"{srv.host}:{srv.port}")``."""

    def __init__(
        self,
        chain: Sequence[x509.Certificate],
        key: PrivateKeyTypes,
        *,
        request_client_cert: bool = True,
        client_cas: Sequence[x509.Certificate] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        max_version: int | None = None,
    ) -> None:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.use_certificate(chain[0])
        ctx.use_privatekey(key)
        for extra in chain[1:]:
            ctx.add_extra_chain_cert(extra)
        if max_version:
            ctx.set_max_proto_version(max_version)
        if request_client_cert:
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
            for ca in client_cas:
                ctx.add_client_ca(ca)
        self.ctx = ctx
        self.listener = bind_listener(host, port)
        self.host, self.port = self.listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        # OpenSSL uses the descriptor directly, so it must stay blocking; kernel timeouts bound it instead
        sock.setblocking(True)
        limit = struct.pack("ll", int(SERVER_IO_TIMEOUT), 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        conn = SSL.Connection(self.ctx, sock)
        conn.set_accept_state()
        try:
            conn.do_handshake()
        except (SSL.Error, OSError):
            pass  # a probe without a client certificate, or a bare TCP connect: expected
        finally:
            sock.close()

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.listener.close()


class closed_port:
    """A bound TCP port with no listener: the kernel answers every SYN with a RST."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.host, self.port = self.sock.getsockname()

    def __enter__(self) -> closed_port:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()


class silent_port:
    """A listener that never accepts, its queue filled so the kernel silently drops further SYNs.

    Linux drops a SYN when the accept queue is full (``tcp_abort_on_overflow`` 0, the
    default), so a connect just waits. The constructor proves it on this kernel: it keeps
    adding connections until one stays unanswered.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = bind_listener(host, port, backlog=0)
        self.host, self.port = self.listener.getsockname()[:2]
        self.fillers: list[socket.socket] = []
        for _ in range(16):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(0.3)
            self.fillers.append(sock)
            try:
                sock.connect((self.host, self.port))
            except (TimeoutError, socket.timeout):
                return  # this one was dropped: the queue is full
        self.close()
        raise RuntimeError("could not fill the accept queue: SYNs are not dropped on this kernel")

    def close(self) -> None:
        for sock in self.fillers:
            sock.close()
        self.listener.close()

    def __enter__(self) -> silent_port:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class mute_port:
    """A listener that accepts TCP and then says nothing (a TLS handshake waits forever)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.listener = bind_listener(host)
        self.host, self.port = self.listener.getsockname()[:2]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self.accepted.append(self.listener.accept()[0])
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return

    def __enter__(self) -> mute_port:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self.accepted:
            sock.close()
        self.listener.close()

