"""Webhook signatures: ``X-CallVault-Signature: t=<unix seconds>,v1=<hex>``.

The scheme is Stripe's: ``v1`` is HMAC-SHA256, keyed by the endpoint's secret, over
``"<t>.<body>"``. Binding the timestamp into the MAC lets a receiver refuse replays
older than a tolerance; several ``v1`` values may appear while a secret rotates, and any
one that matches is enough. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["WEBHOOK_SECRET_PREFIX", "new_webhook_secret", "sign_webhook", "verify_webhook"]

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_webhook_secret() -> str:
    """256 random bits, shown once to the tenant admin who registers the endpoint."""
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-CallVault-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_webhook(secret: str, body: bytes, header: str, *, now: int, tolerance: int = 300) -> bool:
    """True if ``header`` carries a ``v1`` MAC of ``body`` under ``secret`` and a timestamp
    within ``tolerance`` seconds of ``now`` (receivers' side; tests use it too)."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            macs.append(value)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in macs)
