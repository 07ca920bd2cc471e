"""Minimization: a per-tenant data schema of collectable customer fields and their purposes.

No schema stored: every field may be collected (the behaviour before this capability).
With one, ``check_collectable`` (called by the customers service on create and update)
refuses a field outside it with 422 naming the field, and ``report`` lists stored fields
that no active purpose needs (``service``, the contract itself, is always active; a
consent purpose is active while any subject of the tenant holds that consent).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.access.pdp import enforce
from callvault.core import clock
from callvault.core.errors import Invalid
from callvault.core.runtime import runtime_of
from callvault.lifecycle.models import Consent, DataSchema
from callvault.lifecycle.schemas import DataSchemaRead, DataSchemaUpdate, MinimizationReport, UnneededField
from callvault.vault.customers.models import ENCRYPTED_FIELDS, Customer

__all__ = ["COLLECTABLE", "check_collectable", "get_schema", "report", "update_schema"]

COLLECTABLE = (*ENCRYPTED_FIELDS, "membership_level", "region")
"""Customer fields a schema governs; references (``external_ref``, ``assigned_agent``) are
operational and always allowed."""

_TTL_SECONDS = 2.0


def _resource(tenant_id: str) -> Resource:
    return Resource(type="data_schema", tenant_id=tenant_id)


def _latest(db_session: Session, tenant_id: str) -> DataSchema | None:
    return db_session.scalars(
        select(DataSchema).where(DataSchema.tenant_id == tenant_id).order_by(DataSchema.version.desc()).limit(1)
    ).first()


def _fields(db_session: Session, tenant_id: str) -> dict[str, list[str]] | None:
    """The tenant's schema fields (cached ``_TTL_SECONDS`` per replica, dropped on update)."""
    cache: dict[str, tuple[float, dict[str, list[str]] | None]] = runtime_of(db_session).caches.setdefault(
        "lifecycle.schema", {}
    )
    now = time.monotonic()
    cached = cache.get(tenant_id)
    if cached is not None and now - cached[0] < _TTL_SECONDS:
        return cached[1]
    latest = _latest(db_session, tenant_id)
    fields = None if latest is None else dict(latest.document.get("fields", {}))
    if len(cache) > 10_000:
        cache.clear()
    cache[tenant_id] = (now, fields)
    return fields


def check_collectable(db_session: Session, tenant_id: str, values: dict[str, Any]) -> None:
    """422 ``schema.field_not_allowed`` naming the first field (with a value) that the
    tenant's schema does not allow; nothing without a schema."""
    allowed = _fields(db_session, tenant_id)
    if allowed is None:
        return
    refused = [f for f in COLLECTABLE if values.get(f) is not None and f not in allowed]
    if refused:
        raise Invalid(
            f"Field not in the tenant's data schema: {refused[0]}",
            code="schema.field_not_allowed",
            errors=[
                {"field": field, "code": "schema.field_not_allowed", "message": "not in the tenant's data schema"}
                for field in refused
            ],
        )


def get_schema(*, db_session: Session, actor: Actor) -> DataSchemaRead:
    enforce(db_session, actor, "schema.read", _resource(actor.tenant_id))
    latest = _latest(db_session, actor.tenant_id)
    return DataSchemaRead(
        version=None if latest is None else latest.version,
        fields=None if latest is None else latest.document.get("fields", {}),
    )


def update_schema(*, db_session: Session, actor: Actor, schema_in: DataSchemaUpdate) -> DataSchemaRead:
    """Store the next version (never edited in place)."""
    latest = _latest(db_session, actor.tenant_id)
    version = 1 if latest is None else latest.version + 1
    enforce(
        db_session, actor, "schema.update", Resource(type="data_schema", tenant_id=actor.tenant_id, id=str(version))
    )
    fields = {str(field): sorted(set(purposes)) for field, purposes in schema_in.fields.items()}
    db_session.add(
        DataSchema(
            tenant_id=actor.tenant_id,
            version=version,
            document={"fields": fields},
            created_at=clock.now(),
            created_by=actor.actor_id,
        )
    )
    db_session.flush()
    runtime_of(db_session).caches.setdefault("lifecycle.schema", {}).pop(actor.tenant_id, None)
    return DataSchemaRead(version=version, fields=fields)


def _active_purposes(db_session: Session, tenant_id: str) -> set[str]:
    """``service`` plus every purpose some subject's newest consent still gives."""
    newest = (
        select(
            Consent.subject_id,
            Consent.purpose,
            Consent.partner,
            func.max(Consent.recorded_at).label("at"),
        )
        .where(Consent.tenant_id == tenant_id)
        .group_by(Consent.subject_id, Consent.purpose, Consent.partner)
        .subquery()
    )
    rows = db_session.execute(
        select(Consent.purpose)
        .join(
            newest,
            (Consent.subject_id == newest.c.subject_id)
            & (Consent.purpose == newest.c.purpose)
            & (Consent.partner == newest.c.partner)
            & (Consent.recorded_at == newest.c.at),
        )
        .where(Consent.tenant_id == tenant_id, Consent.status == "given")
        .distinct()
    )
    return {"service", *(row[0] for row in rows)}


def _stored_counts(db_session: Session, tenant_id: str, fields: Iterable[str]) -> dict[str, int]:
    columns = [
        func.count(getattr(Customer, f"{field}_ct" if field in ENCRYPTED_FIELDS else field)).label(field)
        for field in fields
    ]
    row = db_session.execute(select(*columns).where(Customer.tenant_id == tenant_id)).one()
    return dict(row._mapping)


def report(*, db_session: Session, actor: Actor) -> MinimizationReport:
    """Stored customer fields that no active purpose needs (or that the schema no longer
    allows), with how many customers hold each: candidates for deletion."""
    enforce(db_session, actor, "schema.read", _resource(actor.tenant_id))
    allowed = _fields(db_session, actor.tenant_id)
    active = _active_purposes(db_session, actor.tenant_id)
    counts = _stored_counts(db_session, actor.tenant_id, COLLECTABLE)
    unneeded: list[UnneededField] = []
    for field in COLLECTABLE:
        stored = int(counts.get(field) or 0)
        if not stored or allowed is None:
            continue
        purposes = allowed.get(field)
        if purposes is None:
            unneeded.append(UnneededField(field=field, stored=stored, purposes=[], reason="not in the data schema"))
        elif not set(purposes) & active:
            unneeded.append(
                UnneededField(
                    field=field, stored=stored, purposes=purposes, reason="no purpose that needs it is active"
                )
            )
    return MinimizationReport(active_purposes=sorted(active), unneeded=unneeded)
