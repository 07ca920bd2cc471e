"""Retention and erasure for recordings (and their transcripts), through the recordings
capability's own service: ``delete_recording`` (blobs, transcript, row; refused under a
recording's legal hold; audited) as the lifecycle operator, one recording per transaction.

Expired: a recording older than the ``recordings`` retention, not held (the recording's own
flag or a hold on its subject). Orphaned: its customer was erased (the key is already
destroyed, so the audio was unreadable since; the sweep removes the blobs regardless of age).
"""

from __future__ import annotations

import functools
import importlib.util
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.vault.customers.models import Customer

__all__ = ["available", "count_expired", "delete_expired", "installed"]


@functools.cache
def installed() -> bool:
    """The recordings capability is present, found without importing its service (which
    loads the audio stack): enough to word an erasure's report."""
    try:
        return importlib.util.find_spec("callvault.recordings.service") is not None
    except ImportError:
        return False


def available() -> bool:
    try:
        from callvault.recordings import service

        return hasattr(service, "delete_recording")
    except ImportError:
        return False


def _due(tenant_id: str, cutoff: datetime, held: set[uuid.UUID]) -> Any:
    from sqlalchemy import or_

    from callvault.recordings.models import Recording

    erased = ~select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.id == Recording.customer_id).exists()
    query = select(Recording.id).where(
        Recording.tenant_id == tenant_id,
        Recording.legal_hold.is_(False),
        or_(Recording.created_at < cutoff, erased),
    )
    return query.where(Recording.customer_id.not_in(held)) if held else query


def count_expired(db_session: Session, tenant_id: str, cutoff: datetime, held: set[uuid.UUID]) -> int:
    return int(db_session.scalar(select(func.count()).select_from(_due(tenant_id, cutoff, held).subquery())) or 0)


def delete_expired(runtime: Runtime, tenant_id: str, cutoff: datetime, held: set[uuid.UUID], limit: int) -> int:
    """Delete up to ``limit`` due recordings, each in its own transaction (the recordings
    service audits each delete before it writes)."""
    from callvault.recordings.service import delete_recording

    with tenant_session(runtime.sessions, tenant_id) as db_session:
        ids = list(db_session.scalars(_due(tenant_id, cutoff, held).limit(min(limit, 500))))
    actor = Actor.operator(tenant_id, "lifecycle-sweeper")
    for recording_id in ids:
        with tenant_session(runtime.sessions, tenant_id) as db_session:
            delete_recording(db_session=db_session, actor=actor, recording_id=recording_id)
    return len(ids)
