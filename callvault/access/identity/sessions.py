"""Login, sessions, lockout, TOTP enrolment and step-up.

- A login returns an opaque token ``cvs_<id>.<secret>``; the row holds the secret's
  digest, ``last_seen_at`` (idle expiry, ``session_idle_minutes``) and ``expires_at``
  (absolute expiry, ``session_absolute_hours``). ``last_seen_at`` is written at most once
  a minute, so the idle limit holds to within that minute and reads stay read-only.
- Failures answer one thing, ``auth.login_failed``, whether the tenant or user exists,
  the password or code is wrong, or the account is locked; an unknown user costs the same
  argon2id verification as a known one. The user row is the source of truth for lockout
  (``failed_logins``, ``locked_until``, doubling from ``login_lockout_seconds`` up to
  ``login_lockout_max_seconds`` once ``login_lockout_after`` failures are reached); the
  shared counters (``runtime.counters``) rate-limit attempts per username and per client
  address across replicas (429 ``auth.rate_limited``; ``login_rate_per_username`` /
  ``login_rate_per_address`` a minute: a call center behind one NAT address logs in at
  shift start, so the address limit is generous).
- Roles in ``TOTP_REQUIRED_ROLES`` without a confirmed TOTP get a session that can only
  enrol. A login with a TOTP code, and ``step_up``, record ``step_up_at`` on the session;
  the policy decides which actions need it within how many minutes (``require_step_up``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity import checked, totp
from callvault.access.identity.common import audit_event, digest_matches, new_token, parse_token
from callvault.access.identity.models import RecoveryCode, Tenant, User, UserSession
from callvault.access.identity.passwords import hasher_for, needs_rehash, verify_password
from callvault.access.identity.users import get_user_by_username, normalise_username, set_password_hash
from callvault.core import clock
from callvault.core.config import Settings
from callvault.core.db import set_lookup_key, set_tenant
from callvault.core.errors import Conflict, Invalid, QuotaExceeded, StepUpRequired, Unauthenticated
from callvault.core.runtime import Runtime, runtime_of

__all__ = [
    "SESSION_PREFIX",
    "LoginResult",
    "SessionActor",
    "authenticate_session",
    "authenticate_session_cached",
    "begin_totp_enrolment",
    "confirm_totp_enrolment",
    "login",
    "logout",
    "require_step_up",
    "step_up",
]

SESSION_PREFIX = "cvs_"
_TOUCH_EVERY = timedelta(seconds=60)


def _login_failed() -> Unauthenticated:
    return Unauthenticated(
        "Login failed: unknown tenant or user, wrong password or code, or the account is locked",
        code="auth.login_failed",
    )


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    session: UserSession
    user: User
    enrol_only: bool


@dataclass(frozen=True, slots=True)
class SessionActor:
    """The actor of a session token, and whether it may only enrol TOTP."""

    actor: Actor
    enrol_only: bool


def _name_key(tenant_id: str, username: str) -> str:
    return hashlib.sha256(f"{tenant_id}|{username.strip().lower()}".encode()).hexdigest()[:24]


def _rate_limit(db_session: Session, tenant_id: str, username: str, client_ip: str | None, now: datetime) -> None:
    """Shared per-username and per-address windows; hit before this transaction writes."""
    from callvault.core.counters import check_limit

    runtime = runtime_of(db_session)
    counters = runtime.counters
    limits = [(f"login:name:{_name_key(tenant_id, username)}", runtime.settings.login_rate_per_username)]
    if client_ip:
        address = hashlib.sha256(client_ip.encode()).hexdigest()[:24]
        limits.append((f"login:addr:{address}", runtime.settings.login_rate_per_address))
    for key, limit in limits:
        try:
            check_limit(counters, key, limit=limit, window_seconds=60, now=now)
        except QuotaExceeded as error:
            raise QuotaExceeded(
                "Too many login attempts; retry later", code="auth.rate_limited", retry_after=error.retry_after
            ) from None


def _dummy_hash(db_session: Session) -> str:
    """A hash with the current parameters, verified for unknown users (equal cost)."""
    runtime = runtime_of(db_session)
    settings = runtime.settings
    cache_key = ("identity.dummy_hash", settings.password_time_cost, settings.password_memory_kib)
    cached: str | None = runtime.caches.get(str(cache_key))
    if cached is None:
        cached = hasher_for(settings).hash("callvault-dummy-password-for-timing")
        runtime.caches[str(cache_key)] = cached
    return cached


def _lock_seconds(settings: Settings, failures: int) -> int:
    over = failures - settings.login_lockout_after
    return min(settings.login_lockout_max_seconds, settings.login_lockout_seconds << max(0, min(over, 30)))


def _user_actor(user: User, *, request_id: str | None, client_ip: str | None, session_id: str | None = None) -> Actor:
    return Actor(
        tenant_id=user.tenant_id,
        actor_id=f"user:{user.id}",
        kind="user",
        scopes=frozenset(),  # people act by role: the policy decides from Actor.role
        role=user.role,
        session_id=session_id,
        request_id=request_id,
        client_ip=client_ip,
        user_id=str(user.id),
        username=user.username,
    )


def _record_failure(db_session: Session, user: User, actor: Actor, now: datetime) -> None:
    """Count a failed password or code; lock with back-off once over the threshold.

    Written and committed in a transaction of its own, because the caller is about to
    raise (and so roll back); the increment is one atomic UPDATE, so concurrent failures
    all count. The caller's transaction must not have written anything yet."""
    runtime = runtime_of(db_session)
    settings = runtime.settings
    where = (User.tenant_id == user.tenant_id, User.id == user.id)
    with runtime.sessions() as side, side.begin():
        set_tenant(side, user.tenant_id)
        failures = int(
            side.execute(
                update(User).where(*where).values(failed_logins=User.failed_logins + 1).returning(User.failed_logins)
            ).scalar_one()
        )
        locks = failures >= settings.login_lockout_after
        if locks:
            lock_until = now + timedelta(seconds=_lock_seconds(settings, failures))
            side.execute(update(User).where(*where).values(locked_until=lock_until))
    if locks:
        audit_event(
            db_session, actor=actor, action="auth.lockout", resource_type="user", resource_id=str(user.id),
            allow=False, rule="auth.lockout", reason=f"locked after {failures} failures",
        )  # fmt: skip


def login(
    *,
    db_session: Session,
    tenant_id: str,
    username: str,
    password: str,
    totp_code: str | None = None,
    client_ip: str | None = None,
    request_id: str | None = None,
) -> LoginResult:
    """A new session for valid credentials; ``auth.login_failed`` for anything else.

    Only ``auth.totp_required`` (password right, the account has TOTP, no code given)
    says more, because only the password's owner can get there."""
    now = clock.now()
    settings = runtime_of(db_session).settings
    _rate_limit(db_session, tenant_id, username, client_ip, now)
    hasher = hasher_for(settings)
    tenant = db_session.get(Tenant, tenant_id)
    user: User | None = None
    if tenant is not None:
        set_tenant(db_session, tenant_id)
        try:
            user = get_user_by_username(
                db_session=db_session, tenant_id=tenant_id, username=normalise_username(username)
            )
        except Invalid:
            user = None
    if user is None or tenant is None:
        verify_password(hasher, _dummy_hash(db_session), password)
        anonymous = Actor(
            tenant_id=tenant_id, actor_id="user:unknown", kind="user", request_id=request_id, client_ip=client_ip
        )
        audit_event(
            db_session, actor=anonymous, action="auth.login", resource_type="session", resource_id=None,
            allow=False, rule="auth.unknown", reason="unknown tenant or user",
        )  # fmt: skip
        raise _login_failed()
    actor = _user_actor(user, request_id=request_id, client_ip=client_ip)
    password_ok = verify_password(hasher, user.password_hash, password)

    def deny(rule: str, reason: str) -> Unauthenticated:
        audit_event(
            db_session, actor=actor, action="auth.login", resource_type="session", resource_id=None,
            allow=False, rule=rule, reason=reason,
        )  # fmt: skip
        return _login_failed()

    if tenant.status != "active":
        raise deny("auth.tenant_suspended", "tenant suspended")
    if user.status != "active":
        raise deny("auth.inactive", f"account {user.status}")
    if user.locked_until is not None and user.locked_until > now:
        raise deny("auth.locked", "account locked")
    if not password_ok:
        error = deny("auth.password", "wrong password")
        _record_failure(db_session, user, actor, now)
        raise error
    step_up_at: datetime | None = None
    recovery: RecoveryCode | None = None
    matched_step: int | None = None
    if user.totp_confirmed_at is not None:
        if not totp_code:
            audit_event(
                db_session, actor=actor, action="auth.login", resource_type="session", resource_id=None,
                allow=False, rule="auth.totp_required", reason="TOTP code required",
            )  # fmt: skip
            raise Unauthenticated("A TOTP or recovery code is required", code="auth.totp_required")
        secret = totp.open_secret(db_session, user)
        if secret is not None:
            matched_step = totp.matching_step(secret, totp_code, now=now, after_step=user.totp_last_step)
        if matched_step is None:
            recovery = totp.find_recovery_code(db_session, tenant_id=user.tenant_id, user_id=user.id, code=totp_code)
        if matched_step is None and recovery is None:
            error = deny("auth.totp", "wrong TOTP code")
            _record_failure(db_session, user, actor, now)
            raise error
        step_up_at = now
    enrol_only = user.role in totp.TOTP_REQUIRED_ROLES and user.totp_confirmed_at is None
    session_id, token, token_digest = new_token(SESSION_PREFIX, "session")
    audit_event(
        db_session, actor=dataclasses.replace(actor, session_id=session_id), action="auth.login",
        resource_type="session", resource_id=session_id, allow=True,
        rule="auth.recovery_code" if recovery is not None else "auth.totp" if step_up_at else "auth.password",
        reason="enrolment only: TOTP required for this role" if enrol_only else "logged in",
    )  # fmt: skip
    if recovery is not None:
        totp.consume_recovery_code(recovery, now)
    if matched_step is not None:
        user.totp_last_step = matched_step
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if user.password_hash and needs_rehash(hasher, user.password_hash):
        set_password_hash(db_session, user, password, now=now)
    session = UserSession(
        id=session_id,
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_digest=token_digest,
        enrol_only=enrol_only,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        step_up_at=step_up_at,
    )
    db_session.add(session)
    db_session.flush()
    return LoginResult(token=token, session=session, user=user, enrol_only=enrol_only)


def authenticate_session(
    *, db_session: Session, token: str, request_id: str | None = None, client_ip: str | None = None
) -> SessionActor:
    """The actor behind a session token. One error, ``auth.session_invalid``, for unknown,
    expired or revoked sessions; ``auth.account_inactive`` / ``auth.tenant_suspended``
    when the session is good but its user or tenant may no longer act."""
    failure = Unauthenticated("Session unknown, expired or ended; log in again", code="auth.session_invalid")
    parsed = parse_token(SESSION_PREFIX, token)
    if parsed is None:
        raise failure
    session_id, secret = parsed
    since = checked.generation(runtime_of(db_session))  # before the first read
    set_lookup_key(db_session, session_id)
    row = db_session.get(UserSession, session_id)
    if row is None or not digest_matches("session", secret, row.token_digest):
        raise failure
    now = clock.now()
    settings = runtime_of(db_session).settings
    if row.expires_at <= now or row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now:
        raise failure  # the sweep deletes expired rows
    set_tenant(db_session, row.tenant_id)
    tenant = db_session.get(Tenant, row.tenant_id)
    user = db_session.get(User, (row.tenant_id, row.user_id))
    if tenant is None or tenant.status != "active":
        raise Unauthenticated("Tenant is suspended", code="auth.tenant_suspended")
    if user is None or user.status != "active":
        raise Unauthenticated("This account may not act (disabled or frozen)", code="auth.account_inactive")
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    actor = _user_actor(user, request_id=request_id, client_ip=client_ip, session_id=row.id)
    found = SessionActor(dataclasses.replace(actor, step_up_at=row.step_up_at), row.enrol_only)
    idle_until = row.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    touch_due = row.last_seen_at + _TOUCH_EVERY  # the idle clock is only pushed by a database check
    checked.remember(
        runtime_of(db_session), since, token, found, valid_until=min(row.expires_at, idle_until, touch_due)
    )
    return found


def authenticate_session_cached(
    runtime: Runtime, *, token: str, request_id: str | None = None, client_ip: str | None = None
) -> SessionActor | None:
    """``authenticate_session``'s answer for a token this replica checked less than
    ``checked.CHECK_SECONDS`` ago, with this request's id and address; ``None`` when it
    must be checked against the database (no database access here, so no thread hop)."""
    found: SessionActor | None = checked.recall(runtime, token)
    if found is None:
        return None
    return SessionActor(dataclasses.replace(found.actor, request_id=request_id, client_ip=client_ip), found.enrol_only)


def _session_of(db_session: Session, actor: Actor) -> UserSession:
    row = db_session.get(UserSession, actor.session_id) if actor.session_id else None
    if actor.kind != "user" or row is None or row.tenant_id != actor.tenant_id:
        raise Unauthenticated("This needs a person's session (log in)", code="auth.session_required")
    return row


def _user_of(db_session: Session, actor: Actor, row: UserSession) -> User:
    user = db_session.get(User, (actor.tenant_id, row.user_id))
    if user is None or user.status != "active":
        raise Unauthenticated("This account may not act (disabled or frozen)", code="auth.account_inactive")
    return user


def logout(*, db_session: Session, actor: Actor) -> None:
    """End the actor's session (the token stops working at once)."""
    row = _session_of(db_session, actor)
    audit_event(
        db_session, actor=actor, action="auth.logout", resource_type="session", resource_id=row.id,
        allow=True, rule="auth.session", reason="logged out",
    )  # fmt: skip
    db_session.execute(delete(UserSession).where(UserSession.id == row.id))


def begin_totp_enrolment(*, db_session: Session, actor: Actor) -> tuple[str, str]:
    """A fresh secret sealed onto the user (unconfirmed): ``(secret, provisioning URI)``.
    Shown once; confirmed by ``confirm_totp_enrolment`` with a first code."""
    row = _session_of(db_session, actor)
    user = _user_of(db_session, actor, row)
    if user.totp_confirmed_at is not None:
        raise Conflict("TOTP is already enrolled; an administrator can reset it", code="totp.already_enrolled")
    audit_event(
        db_session, actor=actor, action="auth.totp_enrol", resource_type="user", resource_id=str(user.id),
        allow=True, rule="auth.totp", reason="enrolment started",
    )  # fmt: skip
    secret = totp.new_secret()
    totp.seal_secret(db_session, user, secret)
    user.updated_at = clock.now()
    db_session.flush()
    return secret, totp.provisioning_uri(secret, username=user.username, tenant_id=user.tenant_id)


def confirm_totp_enrolment(*, db_session: Session, actor: Actor, code: str) -> list[str]:
    """Confirm with a first code; returns ten recovery codes (shown once). The session is
    no longer enrolment-only and counts as stepped up now."""
    row = _session_of(db_session, actor)
    user = _user_of(db_session, actor, row)
    if user.totp_confirmed_at is not None:
        raise Conflict("TOTP is already enrolled", code="totp.already_enrolled")
    secret = totp.open_secret(db_session, user)
    if secret is None:
        raise Conflict("Start the enrolment first", code="totp.not_started")
    now = clock.now()
    step = totp.matching_step(secret, code, now=now, after_step=None)
    audit_event(
        db_session, actor=actor, action="auth.totp_confirm", resource_type="user", resource_id=str(user.id),
        allow=step is not None, rule="auth.totp", reason="enrolled" if step is not None else "wrong TOTP code",
    )  # fmt: skip
    if step is None:
        raise Invalid("The code does not match; check the device clock", code="totp.code_invalid")
    user.totp_confirmed_at = now
    user.totp_last_step = step
    user.updated_at = now
    codes = totp.new_recovery_codes()
    db_session.execute(
        delete(RecoveryCode).where(RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id)
    )
    db_session.add_all(totp.recovery_code_rows(user, codes, now))
    row.enrol_only = False
    row.step_up_at = now
    db_session.flush()
    return codes


def step_up(*, db_session: Session, actor: Actor, code: str) -> datetime:
    """Confirm a TOTP code now; recorded as the session's ``step_up_at``. Wrong codes
    count towards the lockout like wrong passwords."""
    row = _session_of(db_session, actor)
    user = _user_of(db_session, actor, row)
    now = clock.now()
    if user.totp_confirmed_at is None:
        raise Conflict("Enrol TOTP first (POST /v1/auth/totp)", code="totp.not_enrolled")

    def refuse(rule: str, reason: str) -> None:
        audit_event(
            db_session, actor=actor, action="auth.step_up", resource_type="session", resource_id=row.id,
            allow=False, rule=rule, reason=reason,
        )  # fmt: skip

    if user.locked_until is not None and user.locked_until > now:
        refuse("auth.locked", "account locked")
        raise Unauthenticated("Too many wrong codes; the account is locked for a while", code="auth.locked")
    secret = totp.open_secret(db_session, user)
    step = totp.matching_step(secret, code, now=now, after_step=user.totp_last_step) if secret else None
    if step is None:
        refuse("auth.totp", "wrong TOTP code")
        _record_failure(db_session, user, actor, now)
        raise Invalid("The code does not match", code="totp.code_invalid")
    audit_event(
        db_session, actor=actor, action="auth.step_up", resource_type="session", resource_id=row.id,
        allow=True, rule="auth.totp", reason="stepped up",
    )  # fmt: skip
    user.totp_last_step = step
    user.failed_logins = 0
    row.step_up_at = now
    db_session.flush()
    return now


def require_step_up(actor: Actor, *, within: timedelta, now: datetime | None = None) -> None:
    """Raise ``StepUpRequired`` (401 ``auth.step_up_required``) unless the actor confirmed
    a TOTP code within ``within``. For the policy decision point (``needs_step_up``)."""
    moment = now or clock.now()
    if actor.step_up_at is None or moment - actor.step_up_at > within:
        minutes = int(within.total_seconds() // 60)
        raise StepUpRequired(f"Confirm a TOTP code first (POST /v1/auth/step-up); valid for {minutes} minutes")


def sessions_of(db_session: Session, *, tenant_id: str, user_id: object) -> list[UserSession]:
    query = select(UserSession).where(UserSession.tenant_id == tenant_id, UserSession.user_id == user_id)
    return list(db_session.scalars(query))
