"""Staff feeds (CSV from HR systems without SCIM) and the offboarding sweep.

``sync_staff`` takes the tenant's list of active staff: people in it are created or
updated (and adopted: their ``source`` becomes ``csv``) and marked as seen; people the
feed manages (``source = csv``) who are absent are disabled at once. Users created by
an administrator and never listed (the local admin who runs the feed) are left alone.

``sweep`` is the second line, run by ``callvault users sweep`` and every
``user_sweep_minutes`` inside ``callvault serve``:
- feed-managed users not seen for the tenant's ``feed_max_age_seconds`` are disabled
  (a feed that stops arriving fails closed);
- anyone not active who still has a session loses it (``revoke_user_access`` again);
- expired sessions are deleted.
With ``feed_max_age + user_sweep_minutes <= 24 h`` (enforced when the age is set) a
person absent from the feed loses access within 24 hours of the last sighting at worst.

Each user change is its own transaction: the policy decision is recorded first, then
written, as everywhere in this package.
"""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, or_, select

from callvault.access.actor import ROLES, Actor
from callvault.access.identity import users
from callvault.access.identity.models import Tenant, User, UserSession
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.errors import CallVaultError, Invalid, NotFound
from callvault.core.runtime import Runtime

__all__ = [
    "DEFAULT_FEED_MAX_AGE",
    "OffboardingSweeper",
    "StaffRow",
    "SweepReport",
    "SyncReport",
    "parse_staff_csv",
    "start_sweeper",
    "sweep",
    "sync_staff",
]

_log = structlog.get_logger("callvault.identity")
DEFAULT_FEED_MAX_AGE = timedelta(hours=23)
REVOCATION_DEADLINE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class StaffRow:
    line: int
    username: str
    role: str
    display_name: str | None
    email: str | None


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    disabled: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SweepReport:
    disabled_stale: int = 0
    revoked_inactive: int = 0
    expired_sessions: int = 0


def parse_staff_csv(text: str) -> tuple[list[StaffRow], list[str]]:
    """Rows of ``username,role,display_name[,email]`` (header required); errors name the
    line and field, never the value."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    missing = {"username", "role"} - columns
    if missing:
        raise Invalid(f"CSV header must name: {', '.join(sorted(missing))}", code="feed.header_invalid")
    rows: list[StaffRow] = []
    errors: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(reader, start=2):
        record = {(key or "").strip().lower(): (value or "").strip() for key, value in raw.items()}
        try:
            username = users.normalise_username(record.get("username", ""))
        except Invalid:
            errors.append(f"line {number}: username: invalid")
            continue
        role = record.get("role", "")
        if role not in ROLES:
            errors.append(f"line {number}: role: unknown")
            continue
        if username in seen:
            errors.append(f"line {number}: username: duplicate")
            continue
        email = record.get("email") or None
        if email is not None and ("@" not in email or len(email) > 320):
            errors.append(f"line {number}: email: invalid")
            continue
        seen.add(username)
        display = (record.get("display_name") or "")[:200] or None
        rows.append(StaffRow(number, username, role, display, email))
    return rows, errors


def _feed_actor(tenant_id: str, name: str) -> Actor:
    return Actor.operator(tenant_id, name)


def set_feed_max_age(runtime: Runtime, tenant_id: str, max_age: timedelta) -> None:
    """Set how long a feed-managed user stays without a sighting (bounded so that the
    sweep still revokes within 24 hours)."""
    limit = REVOCATION_DEADLINE - timedelta(minutes=runtime.settings.user_sweep_minutes)
    if max_age <= timedelta(0) or max_age > limit:
        raise Invalid(
            f"Feed max age must be positive and at most {limit} (24 h minus the sweep interval)",
            code="feed.max_age_invalid",
        )
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("Tenant not found", code="tenant.not_found")
        tenant.feed_max_age_seconds = int(max_age.total_seconds())


def sync_staff(runtime: Runtime, tenant_id: str, rows: Iterable[StaffRow], *, actor_name: str = "feed") -> SyncReport:
    """Apply a complete list of active staff to ``tenant_id`` (see the module docstring)."""
    report = SyncReport()
    actor = _feed_actor(tenant_id, actor_name)
    listed: set[str] = set()
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        tenant = db_session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("Tenant not found", code="tenant.not_found")
        if tenant.feed_max_age_seconds is None:
            tenant.feed_max_age_seconds = int(DEFAULT_FEED_MAX_AGE.total_seconds())
    for row in rows:
        listed.add(row.username)
        try:
            _sync_one(runtime, actor, row, report)
        except CallVaultError as error:
            report.errors.append(f"line {row.line}: {error.code}")
    with tenant_session(runtime.sessions, tenant_id) as db_session:
        managed = db_session.execute(
            select(User.id, User.username).where(
                User.tenant_id == tenant_id, User.source == "csv", User.status == "active"
            )
        ).all()
    for user_id, username in managed:
        if username not in listed:
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                users.disable_user(db_session=db_session, actor=actor, user_id=user_id, by="feed")
            report.disabled += 1
    return report


def _sync_one(runtime: Runtime, actor: Actor, row: StaffRow, report: SyncReport) -> None:
    now = clock.now()
    with tenant_session(runtime.sessions, actor.tenant_id) as db_session:
        user = users.get_user_by_username(db_session=db_session, tenant_id=actor.tenant_id, username=row.username)
        if user is None:
            users.create_user(
                db_session=db_session,
                actor=actor,
                username=row.username,
                role=row.role,
                display_name=row.display_name,
                email=row.email,
                source="csv",
            )
            report.created += 1
            return
        reactivate = user.status == "disabled" and user.disabled_by in ("feed", "sweep")
        differs = (
            user.role != row.role
            or user.display_name != row.display_name
            or user.email != row.email
            or user.source != "csv"
            or reactivate
        )
        if differs:
            changes = users.UserChanges(
                role=row.role,
                display_name=row.display_name,
                clear_display_name=row.display_name is None,
                email=row.email,
                clear_email=row.email is None,
                status="active" if reactivate else None,
            )
            user = users.update_user(db_session=db_session, actor=actor, user_id=user.id, changes=changes, by="feed")
            report.updated += 1
        else:
            report.unchanged += 1
        user.source = "csv"
        user.last_seen_in_feed_at = now


def sweep(runtime: Runtime, *, now: datetime | None = None, tenant_ids: Iterable[str] | None = None) -> SweepReport:
    """One pass over every tenant, or over ``tenant_ids`` (see the module docstring)."""
    moment = now or clock.now()
    report = SweepReport()
    idle = timedelta(minutes=runtime.settings.session_idle_minutes)
    query = select(Tenant.id, Tenant.feed_max_age_seconds).order_by(Tenant.id)
    if tenant_ids is not None:
        query = query.where(Tenant.id.in_(list(tenant_ids)))
    with runtime.sessions() as db_session:
        tenants = list(db_session.execute(query).all())
    for tenant_id, max_age in tenants:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            stale: list[uuid.UUID] = []
            if max_age:
                cutoff = moment - timedelta(seconds=max_age)
                stale = list(
                    db_session.scalars(
                        select(User.id).where(
                            User.tenant_id == tenant_id,
                            User.source == "csv",
                            User.status == "active",
                            or_(User.last_seen_in_feed_at.is_(None), User.last_seen_in_feed_at < cutoff),
                        )
                    )
                )
            leftover = list(
                db_session.scalars(
                    select(UserSession.user_id)
                    .join(User, (User.tenant_id == UserSession.tenant_id) & (User.id == UserSession.user_id))
                    .where(UserSession.tenant_id == tenant_id, User.status != "active")
                    .distinct()
                )
            )
        actor = _feed_actor(tenant_id, "sweep")
        for user_id in stale:
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                users.disable_user(db_session=db_session, actor=actor, user_id=user_id, by="sweep")
            report.disabled_stale += 1
        for user_id in leftover:
            with tenant_session(runtime.sessions, tenant_id) as db_session:
                report.revoked_inactive += users.revoke_user_access(db_session, tenant_id, user_id, moment)
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            result = db_session.execute(
                delete(UserSession).where(
                    UserSession.tenant_id == tenant_id,
                    or_(UserSession.expires_at <= moment, UserSession.last_seen_at <= moment - idle),
                )
            )
            report.expired_sessions += int(getattr(result, "rowcount", 0) or 0)
    return report


class OffboardingSweeper:
    """Runs ``sweep`` every ``user_sweep_minutes`` on a daemon thread (``callvault serve``).
    Held in ``runtime.caches`` so ``Runtime.close`` stops it."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._stop = threading.Event()
        self.passes = 0
        self.passed = threading.Event()  # set after each pass (tests and health checks wait on it)
        self._thread = threading.Thread(target=self._run, name="callvault-offboarding-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        interval = self._runtime.settings.user_sweep_minutes * 60
        while not self._stop.is_set():
            try:
                found = sweep(self._runtime)
                _log.info(
                    "identity.sweep",
                    disabled=found.disabled_stale,
                    revoked=found.revoked_inactive,
                    expired=found.expired_sessions,
                )
            except Exception as error:  # keep sweeping: the next pass retries
                _log.error("identity.sweep_failed", error_type=type(error).__name__)
            self.passes += 1
            self.passed.set()
            self._stop.wait(interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def start_sweeper(runtime: Runtime) -> OffboardingSweeper:
    """Start the background sweep once per runtime."""
    existing = runtime.caches.get("identity.sweeper")
    if isinstance(existing, OffboardingSweeper):
        return existing
    sweeper = OffboardingSweeper(runtime)
    runtime.caches["identity.sweeper"] = sweeper
    sweeper.start()
    return sweeper
