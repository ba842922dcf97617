"""Webex webhook signatures: hex HMAC-SHA1 of the raw request body, keyed with the webhook secret.

The digest is taken over the bytes exactly as received: re-serialising the JSON
first would change key order or spacing and break the comparison. Pure.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Spark-Signature"


def sign(secret: str, body: bytes) -> str:
    """The header value Webex sends for ``body``; the sandbox uses it to deliver webhooks."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True only for a well-formed signature that matches; an empty secret accepts nothing.

    ``hmac.compare_digest`` keeps the comparison time independent of where the
    strings differ, so the signature cannot be guessed byte by byte.
    """
    if not secret or not header:
        return False
    candidate = header.strip().lower()
    if len(candidate) != 40:
        return False
    return hmac.compare_digest(sign(secret, body), candidate)
