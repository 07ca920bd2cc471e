"""TOTP (RFC 6238, ``pyotp``) secrets sealed per user, and single-use recovery codes.

The secret is sealed with a data key of its own (a ``subject_key`` row of the tenant,
wrapped by the tenant KEK) and bound to the user row as AAD, exactly as customer fields
are: a copied ciphertext does not open elsewhere, and destroying the key shreds it.
A code is accepted once: the matched time step is remembered and older or equal steps
are refused (RFC 6238 §5.2), so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.identity.common import digest
from callvault.access.identity.models import RecoveryCode, User
from callvault.vault.fields.service import new_subject_keys, open_subject_key, tenant_keys

__all__ = [
    "RECOVERY_CODE_COUNT",
    "TOTP_REQUIRED_ROLES",
    "consume_recovery_code",
    "matching_step",
    "new_recovery_codes",
    "new_secret",
    "open_secret",
    "provisioning_uri",
    "seal_secret",
]

TOTP_REQUIRED_ROLES = frozenset({"qa", "supervisor", "tenant_admin", "security_officer", "dpo"})
"""Roles that cannot use CallVault beyond enrolment without a confirmed TOTP."""

RECOVERY_CODE_COUNT = 10
_TABLE, _COLUMN = "user_account", "totp_secret"


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, username: str, tenant_id: str) -> str:
    """``otpauth://totp/...`` for a QR code; the label names the tenant and user."""
    return pyotp.TOTP(secret).provisioning_uri(name=f"{tenant_id}:{username}", issuer_name="CallVault")


def matching_step(secret: str, code: str, *, now: datetime, after_step: int | None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side for clock drift),
    if it is newer than ``after_step``; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        step = totp.timecode(now) + offset
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def seal_secret(db_session: Session, user: User, secret: str) -> None:
    """Seal ``secret`` onto the user row under a fresh per-user data key."""
    keys = tenant_keys(db_session=db_session, tenant_id=user.tenant_id)
    if user.totp_key_id is None:
        (data_key,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
        user.totp_key_id = data_key.key_id
    else:
        data_key = open_subject_key(db_session=db_session, keys=keys, key_id=user.totp_key_id)
    user.totp_secret_ct = data_key.seal(secret, keys.context(_TABLE, _COLUMN, user.id))


def open_secret(db_session: Session, user: User) -> str | None:
    if user.totp_key_id is None or user.totp_secret_ct is None:
        return None
    keys = tenant_keys(db_session=db_session, tenant_id=user.tenant_id)
    data_key = open_subject_key(db_session=db_session, keys=keys, key_id=user.totp_key_id)
    return data_key.open(user.totp_secret_ct, keys.context(_TABLE, _COLUMN, user.id))


def _normalise_code(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


def new_recovery_codes() -> list[str]:
    """Ten codes of 80 random bits each, shown as ``xxxx-xxxx-xxxx-xxxx``."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_code_rows(user: User, codes: list[str], now: datetime) -> list[RecoveryCode]:
    return [
        RecoveryCode(
            tenant_id=user.tenant_id, user_id=user.id, code_digest=digest("recovery-code", _normalise_code(code)),
            created_at=now,
        )
        for code in codes
    ]  # fmt: skip


def find_recovery_code(db_session: Session, *, tenant_id: str, user_id: uuid.UUID, code: str) -> RecoveryCode | None:
    """The unused recovery code matching ``code`` (lookup by digest), or None."""
    normalised = _normalise_code(code)
    if len(normalised) != 16:
        return None
    row = db_session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.tenant_id == tenant_id,
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest == digest("recovery-code", normalised),
            RecoveryCode.used_at.is_(None),
        )
    )
    return row


def consume_recovery_code(row: RecoveryCode, now: datetime) -> None:
    row.used_at = now
