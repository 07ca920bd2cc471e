"""What the people modules share: bearer tokens stored as digests, and audit events.

Tokens (``cvs_`` sessions, ``cvscim_`` SCIM) are ``<prefix><id>.<secret>`` with a 256-bit
secret, so a fast keyed-by-purpose SHA-256 digest is enough to store them (as for API
keys); the id finds the row, the digest is compared in constant time.

Audit events hold ids and outcomes only: never a password, code, token or username
typed at a login prompt (it may be a password typed in the wrong field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.pdp import Decision, Resource

__all__ = ["audit_event", "digest", "digest_matches", "new_token", "parse_token"]


def digest(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"callvault/{purpose}/v1|".encode() + secret.encode()).digest()


def digest_matches(purpose: str, secret: str, stored: bytes) -> bool:
    return hmac.compare_digest(digest(purpose, secret), stored)


def new_token(prefix: str, purpose: str) -> tuple[str, str, bytes]:
    """``(id, token to hand out once, digest to store)``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{prefix}{token_id}.{secret}", digest(purpose, secret)


def parse_token(prefix: str, token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a presented token, or None if it is not one of this kind."""
    if not token.startswith(prefix):
        return None
    token_id, dot, secret = token[len(prefix) :].partition(".")
    if not dot or len(token_id) != 16 or not secret or len(secret) > 128:
        return None
    try:
        int(token_id, 16)
    except ValueError:
        return None
    return token_id, secret


def audit_event(
    db_session: Session,
    *,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    allow: bool,
    rule: str,
    reason: str,
) -> None:
    """Record one identity event (login, lockout, enrolment, SCIM change, ...).

    Call it before the transaction writes anything: on SQLite the audit writer commits on
    its own connection and would wait for this transaction's write lock.
    """
    from callvault.audit import log

    decision = Decision(allow=allow, mask="none", rule=rule, reason=reason)
    resource = Resource(type=resource_type, tenant_id=actor.tenant_id, id=resource_id)
    log.record(db_session, actor=actor, action=action, resource=resource, decision=decision)
