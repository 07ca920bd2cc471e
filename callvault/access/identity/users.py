"""People of a tenant: create, read, update, disable, reset a password; offboarding.

Every operation names its actor and goes through ``access.pdp.enforce`` first (actions
``user.create``, ``user.read``, ``user.update``, ``user.disable``), so each decision is in
the audit log before anything is written. Users are only ever looked up inside the
actor's tenant. ``revoke_user_access`` is the one place access ends: it deletes every
session at once and runs the revocation hooks other capabilities register (grants).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callvault.access.actor import ROLES, Actor
from callvault.access.identity.models import RecoveryCode, User, UserSession
from callvault.access.identity.passwords import check_strength, hash_password, hasher_for
from callvault.access.pdp import Resource, enforce
from callvault.core import clock
from callvault.core.errors import Conflict, Invalid, NotFound
from callvault.core.runtime import runtime_of
from callvault.vault.fields.service import time_ordered_uuid

__all__ = [
    "STATUSES",
    "UserChanges",
    "create_user",
    "disable_user",
    "get_all_users",
    "get_user",
    "get_user_by_username",
    "get_user_or_raise",
    "normalise_username",
    "reset_password",
    "revoke_user_access",
    "update_user",
]

STATUSES = ("active", "frozen", "disabled", "deleted")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+\-]{0,149}")


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive (IdPs send e-mail addresses): stored lower case."""
    value = username.strip().lower()
    if not _USERNAME.fullmatch(value):
        raise Invalid("Username must be 1-150 characters: letters, digits and . _ @ + -", code="user.username_invalid")
    return value


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"Unknown role; one of: {', '.join(sorted(ROLES))}", code="user.role_unknown")
    return role


def _resource(actor: Actor, user_id: uuid.UUID | None = None) -> Resource:
    return Resource(type="user", tenant_id=actor.tenant_id, id=str(user_id) if user_id else None)


def get_user(*, db_session: Session, tenant_id: str, user_id: uuid.UUID) -> User | None:
    user = db_session.get(User, (tenant_id, user_id))
    return user if user is not None and user.status != "deleted" else None


def get_user_or_raise(*, db_session: Session, tenant_id: str, user_id: uuid.UUID) -> User:
    user = get_user(db_session=db_session, tenant_id=tenant_id, user_id=user_id)
    if user is None:
        raise NotFound("User not found", code="user.not_found")
    return user


def get_user_by_username(*, db_session: Session, tenant_id: str, username: str) -> User | None:
    query = select(User).where(User.tenant_id == tenant_id, User.username == username.strip().lower())
    user = db_session.scalar(query)
    return user if user is not None and user.status != "deleted" else None


def get_all_users(
    *, db_session: Session, actor: Actor, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[User], int]:
    """One page of the actor's tenant's users (and the total), by username."""
    enforce(db_session, actor, "user.read", _resource(actor))
    query = select(User).where(User.tenant_id == actor.tenant_id, User.status != "deleted")
    if status is not None:
        query = query.where(User.status == status)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(query.order_by(User.username).limit(limit).offset(offset))
    return list(rows), total


def read_user(*, db_session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    enforce(db_session, actor, "user.read", _resource(actor, user_id))
    return get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)


def generate_password() -> str:
    """A random initial password (about 120 bits) that passes ``check_strength``."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(4))


def create_user(
    *,
    db_session: Session,
    actor: Actor,
    username: str,
    role: str,
    display_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    generate: bool = False,
    source: str = "local",
    external_id: str | None = None,
    active: bool = True,
) -> tuple[User, str | None]:
    """New user of the actor's tenant; returns it and the generated password (once) if
    ``generate`` and no password was given."""
    enforce(db_session, actor, "user.create", _resource(actor))
    name = normalise_username(username)
    _check_role(role)
    if password is None and generate:
        password = generate_password()
    if password is not None:
        check_strength(password, username=name)
    if get_user_by_username(db_session=db_session, tenant_id=actor.tenant_id, username=name) is not None:
        raise Conflict("A user with this username exists", code="user.exists")
    deleted = db_session.scalar(select(User).where(User.tenant_id == actor.tenant_id, User.username == name))
    if deleted is not None:  # a deleted user keeps its row for the audit trail, not its name
        deleted.username = f"deleted.{deleted.id.hex}"
        db_session.flush()
    now = clock.now()
    settings = runtime_of(db_session).settings
    user = User(
        tenant_id=actor.tenant_id,
        id=time_ordered_uuid(),
        username=name,
        display_name=display_name,
        email=email,
        role=role,
        status="active" if active else "disabled",
        disabled_by=None if active else source,
        offboarded_at=None if active else now,
        password_hash=hash_password(hasher_for(settings), password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        failed_logins=0,
        source=source,
        external_id=external_id,
        last_seen_in_feed_at=now if source == "csv" else None,
        created_at=now,
        updated_at=now,
    )
    db_session.add(user)
    db_session.flush()
    return user, password if generate else None


@dataclass(frozen=True, slots=True)
class UserChanges:
    """Fields to change; ``None`` leaves a field as it is (``clear_email`` empties it)."""

    role: str | None = None
    display_name: str | None = None
    email: str | None = None
    username: str | None = None
    external_id: str | None = None
    status: str | None = None
    clear_email: bool = False
    clear_display_name: bool = False


def update_user(
    *, db_session: Session, actor: Actor, user_id: uuid.UUID, changes: UserChanges, by: str = "admin"
) -> User:
    """Apply ``changes``; a status other than ``active`` revokes access at once, ``active``
    again clears any lock. The action the policy decides on follows the status change:
    ``user.freeze`` / ``user.unfreeze`` (a security freeze is lifted only by whom the
    policy allows: security officers by default, never the tenant admin who may be the
    reason for it), ``user.disable``, else ``user.update``."""
    if changes.status is not None and changes.status not in ("active", "frozen", "disabled"):
        raise Invalid("Status must be active, frozen or disabled", code="user.status_invalid")
    current = get_user(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)
    action = _status_action(None if current is None else current.status, changes.status)
    if current is None:
        enforce(db_session, actor, action, _resource(actor, user_id), outcome="not_found")
    else:
        enforce(db_session, actor, action, _resource(actor, user_id))
    user = get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)
    if changes.role is not None:
        user.role = _check_role(changes.role)
    if changes.username is not None:
        name = normalise_username(changes.username)
        if name != user.username:
            if get_user_by_username(db_session=db_session, tenant_id=actor.tenant_id, username=name) is not None:
                raise Conflict("A user with this username exists", code="user.exists")
            user.username = name
    if changes.display_name is not None or changes.clear_display_name:
        user.display_name = changes.display_name
    if changes.email is not None or changes.clear_email:
        user.email = changes.email
    if changes.external_id is not None:
        user.external_id = changes.external_id
    now = clock.now()
    user.updated_at = now
    if changes.status is not None and changes.status != user.status:
        _set_status(db_session, user, changes.status, by=by, now=now)
    db_session.flush()
    return user


def _status_action(current: str | None, wanted: str | None) -> str:
    if wanted == "frozen" and current != "frozen":
        return "user.freeze"
    if current == "frozen" and wanted == "active":
        return "user.unfreeze"
    if wanted in ("disabled", "frozen") and wanted != current:
        return "user.disable"
    return "user.update"


def _set_status(db_session: Session, user: User, status: str, *, by: str, now: datetime) -> None:
    user.status = status
    if status == "active":
        user.disabled_by = None
        user.offboarded_at = None
        user.failed_logins = 0
        user.locked_until = None
        return
    user.disabled_by = by
    if status in ("disabled", "deleted"):
        user.offboarded_at = user.offboarded_at or now
    revoke_user_access(db_session, user.tenant_id, user.id, now)


def disable_user(*, db_session: Session, actor: Actor, user_id: uuid.UUID, by: str = "admin") -> User:
    """Offboard: status ``disabled``, every session and grant revoked in this transaction."""
    return update_user(
        db_session=db_session, actor=actor, user_id=user_id, changes=UserChanges(status="disabled"), by=by
    )


def delete_user(*, db_session: Session, actor: Actor, user_id: uuid.UUID, by: str = "scim") -> None:
    """SCIM DELETE: access revoked like a disable, the row kept (hidden) for the audit trail."""
    enforce(db_session, actor, "user.disable", _resource(actor, user_id))
    user = get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)
    now = clock.now()
    user.updated_at = now
    _set_status(db_session, user, "deleted", by=by, now=now)
    user.username = f"deleted.{user.id.hex}"
    db_session.flush()


def reset_password(
    *, db_session: Session, actor: Actor, user_id: uuid.UUID, password: str | None = None
) -> tuple[User, str | None]:
    """Set a new password (or generate one, returned once); ends every session and clears
    the lock, so a stolen session does not outlive the reset."""
    enforce(db_session, actor, "user.update", _resource(actor, user_id))
    user = get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=user_id)
    generated = password is None
    new_password = password if password is not None else generate_password()
    check_strength(new_password, username=user.username)
    now = clock.now()
    set_password_hash(db_session, user, new_password, now=now)
    user.failed_logins = 0
    user.locked_until = None
    db_session.execute(
        delete(UserSession).where(UserSession.tenant_id == user.tenant_id, UserSession.user_id == user.id)
    )
    db_session.flush()
    return user, new_password if generated else None


def set_password_hash(db_session: Session, user: User, password: str, *, now: datetime) -> None:
    user.password_hash = hash_password(hasher_for(runtime_of(db_session).settings), password)
    user.password_changed_at = now
    user.updated_at = now


def revoke_user_access(db_session: Session, tenant_id: str, user_id: uuid.UUID, at: datetime) -> int:
    """End everything a person holds, now: delete their sessions, then run every hook in
    grant and approval request they hold — all in the caller's transaction, writing
    only (no audit events: the offboarding decision is already recorded, and on SQLite
    the audit writer would wait for this transaction's lock). Returns the number of sessions ended. Idempotent;
    the sweep calls it again for every disabled user as a second line."""
    result = db_session.execute(
        delete(UserSession).where(UserSession.tenant_id == tenant_id, UserSession.user_id == user_id)
    )
    from callvault.access.approvals.service import revoke_requests_of
    from callvault.access.grants import revoke_all_for_user

    revoke_all_for_user(db_session, tenant_id=tenant_id, user_id=user_id, at=at)
    revoke_requests_of(db_session, tenant_id, user_id, at)
    return int(getattr(result, "rowcount", 0) or 0)


def reset_totp(db_session: Session, user: User) -> None:
    """Forget the TOTP secret and recovery codes (the user enrols again)."""
    user.totp_secret_ct = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    db_session.execute(
        delete(RecoveryCode).where(RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id)
    )
