"""Credentials a replica checked a moment ago: session tokens and API keys, from memory.

Checking a bearer credential costs a few queries and a worker-thread hop; a read-heavy
API presents the same one many times a second. A replica keeps a check for at most
``CHECK_SECONDS`` (and never past the credential's own expiry). Any change this replica
commits to a session, user, service account or tenant row (logout, step-up, offboarding,
freeze, role change, key revocation, suspension), found by SQLAlchemy session events
rather than by call sites, drops every kept check at once; a check that began before such
a commit is not kept (a generation number). Other replicas see the change within
``CHECK_SECONDS``, as they see a policy change within its cache time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from callvault.access.identity.models import ServiceAccount, Tenant, User, UserSession
from callvault.core import clock
from callvault.core.runtime import Runtime

__all__ = ["CHECK_SECONDS", "generation", "recall", "remember"]

CHECK_SECONDS = 1.0

_CHECKED = "identity.checked"
_GENERATION = "identity.generation"
_CHANGED = "identity.changed"
_WATCHED: dict[type, frozenset[str]] = {
    UserSession: frozenset({"last_seen_at"}),
    User: frozenset({"failed_logins", "locked_until", "last_login_at", "updated_at", "last_seen_in_feed_at"}),
    ServiceAccount: frozenset(),
    Tenant: frozenset(),
}
"""Rows whose change can end or alter a credential, and the columns that cannot."""


@dataclass(frozen=True, slots=True)
class _Checked:
    value: Any
    checked_at: float  # time.monotonic()
    valid_until: datetime | None


def generation(runtime: Runtime) -> int:
    """Take before the first query of a check; pass to ``remember``."""
    return int(runtime.caches.get(_GENERATION, 0))


def recall(runtime: Runtime, token: str) -> Any | None:
    """What ``remember`` kept for ``token``, while it is fresh; else ``None``."""
    entry: _Checked | None = runtime.caches.get(_CHECKED, {}).get(token)
    if entry is None or time.monotonic() - entry.checked_at >= CHECK_SECONDS:
        return None
    if entry.valid_until is not None and clock.now() >= entry.valid_until:
        return None
    return entry.value


def remember(runtime: Runtime, since: int, token: str, value: Any, *, valid_until: datetime | None = None) -> None:
    """Keep a check, unless a change was committed since it began (``since``)."""
    if generation(runtime) != since:
        return
    checked: dict[str, _Checked] = runtime.caches.setdefault(_CHECKED, {})
    if len(checked) >= 100_000:
        checked.clear()
    checked[token] = _Checked(value, time.monotonic(), valid_until)


def _changed(db_session: Session) -> None:
    db_session.info[_CHANGED] = True


@event.listens_for(Session, "after_flush")
def _note_flush(db_session: Session, _context: Any) -> None:
    for instance in (*db_session.dirty, *db_session.deleted):
        benign = _WATCHED.get(type(instance))
        if benign is None:
            continue
        changed = {attr.key for attr in inspect(instance).attrs if attr.history.has_changes()}
        if instance in db_session.deleted or changed - benign:
            _changed(db_session)
            return


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ in _WATCHED:
        _changed(state.session)


@event.listens_for(Session, "after_commit")
def _forget(db_session: Session) -> None:
    if db_session.info.pop(_CHANGED, False):
        runtime = db_session.info.get("runtime")
        if runtime is not None:
            runtime.caches[_GENERATION] = generation(runtime) + 1
            runtime.caches.pop(_CHECKED, None)


@event.listens_for(Session, "after_rollback")
def _drop_note(db_session: Session) -> None:
    db_session.info.pop(_CHANGED, None)
