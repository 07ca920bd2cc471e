"""Customers: the whole surface of the capability.

Every function asks the policy decision point first (which audits the decision) and
works inside the caller's tenant. A customer of another tenant is reported as not found,
never as forbidden, so ids cannot be probed across tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.masking import mask_field
from callvault.access.pdp import Resource, enforce
from callvault.core import clock
from callvault.core.errors import Conflict, NotFound
from callvault.crypto import DataKey
from callvault.vault.customers.models import ENCRYPTED_FIELDS, Customer
from callvault.vault.customers.schemas import (
    CustomerCreate,
    CustomerMasked,
    CustomerPage,
    CustomerReveal,
    CustomerRevealed,
    CustomerSearch,
    CustomerUpdate,
)
from callvault.vault.fields.service import (
    TenantKeys,
    destroy_subject_key,
    new_subject_keys,
    open_subject_key,
    tenant_keys,
    time_ordered_uuid,
)

__all__ = [
    "create",
    "delete_customer",
    "get_all",
    "get_or_raise",
    "reveal",
    "sealed_row",
    "search",
    "update",
]

TABLE = "customer"
_PLAIN_FIELDS = ("membership_level", "assigned_agent", "region", "external_ref")


def _not_found() -> NotFound:
    return NotFound("Customer not found", code="customer.not_found")


def sealed_row(keys: TenantKeys, dek: DataKey, customer_id: uuid.UUID, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for the personal fields present in ``values``: ciphertext + indexes."""
    present = {field: values[field] for field in ENCRYPTED_FIELDS if field in values}
    sealed = dek.seal_many(keys.tenant_id, TABLE, str(customer_id), {f: v for f, v in present.items() if v is not None})
    row: dict[str, Any] = {f"{field}_ct": sealed.get(field) for field in present}
    if "mobile" in values:
        mobile = values["mobile"]
        row["mobile_bidx"] = None if mobile is None else keys.index("customer.mobile", mobile)
        row["mobile_last4_bidx"] = None if mobile is None else keys.index_suffix("customer.mobile_last4", mobile[-4:])
    for field in ("id_number", "email"):
        if field in values:
            value = values[field]
            row[f"{field}_bidx"] = None if value is None else keys.index(f"customer.{field}", value)
    return row


def _open_fields(keys: TenantKeys, dek: DataKey, customer: Customer, fields: Iterable[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for field in fields:
        sealed = getattr(customer, f"{field}_ct")
        out[field] = None if sealed is None else dek.open(sealed, keys.context(TABLE, field, customer.id))
    return out


def _masked(db_session: Session, keys: TenantKeys, customer: Customer) -> CustomerMasked:
    dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    clear = _open_fields(keys, dek, customer, ENCRYPTED_FIELDS)
    return CustomerMasked(
        id=customer.id,
        **{field: mask_field(field, value) for field, value in clear.items()},
        **{field: getattr(customer, field) for field in _PLAIN_FIELDS},
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
    )


def _load(db_session: Session, actor: Actor, customer_id: uuid.UUID) -> Customer:
    customer = db_session.get(Customer, (actor.tenant_id, customer_id))
    if customer is None:
        raise _not_found()
    return customer


def _resource(actor: Actor, customer_id: uuid.UUID | None = None) -> Resource:
    ident = None if customer_id is None else str(customer_id)
    return Resource(type="customer", tenant_id=actor.tenant_id, id=ident, subject_id=ident)


def create(*, db_session: Session, actor: Actor, customer_in: CustomerCreate) -> CustomerMasked:
    enforce(db_session, actor, "customer.create", _resource(actor))
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    if customer_in.external_ref is not None and db_session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == actor.tenant_id, Customer.external_ref == customer_in.external_ref
        )
    ):
        raise Conflict("A customer with this external reference exists", code="customer.external_ref_exists")
    (dek,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
    customer_id = time_ordered_uuid()
    now = clock.now()
    values = customer_in.model_dump()
    customer = Customer(
        tenant_id=actor.tenant_id,
        id=customer_id,
        subject_key_id=dek.key_id,
        **sealed_row(keys, dek, customer_id, values),
        **{field: values[field] for field in _PLAIN_FIELDS},
        retention_class="standard",
        legal_hold=False,
        created_at=now,
        updated_at=now,
        version=1,
    )
    db_session.add(customer)
    db_session.flush()
    return _masked(db_session, keys, customer)


def get_or_raise(*, db_session: Session, actor: Actor, customer_id: uuid.UUID) -> CustomerMasked:
    enforce(db_session, actor, "customer.read", _resource(actor, customer_id))
    customer = _load(db_session, actor, customer_id)
    return _masked(db_session, tenant_keys(db_session=db_session, tenant_id=actor.tenant_id), customer)


def reveal(*, db_session: Session, actor: Actor, customer_id: uuid.UUID, request: CustomerReveal) -> CustomerRevealed:
    """Clear values of chosen fields: needs the reveal scope and a reason; always audited."""
    customer = _load(db_session, actor, customer_id)
    enforce(db_session, actor, "customer.reveal", _resource(actor, customer_id), purpose=request.reason)
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    return CustomerRevealed(id=customer.id, fields=_open_fields(keys, dek, customer, dict.fromkeys(request.fields)))


def update(*, db_session: Session, actor: Actor, customer_id: uuid.UUID, customer_in: CustomerUpdate) -> CustomerMasked:
    enforce(db_session, actor, "customer.update", _resource(actor, customer_id))
    customer = _load(db_session, actor, customer_id)
    changes = customer_in.model_dump(exclude_unset=True)
    expected = changes.pop("expected_version", None)
    if expected is not None and expected != customer.version:
        raise Conflict("The customer changed since it was read", code="customer.version_conflict")
    if changes.get("external_ref") not in (None, customer.external_ref) and db_session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == actor.tenant_id, Customer.external_ref == changes["external_ref"]
        )
    ):
        raise Conflict("A customer with this external reference exists", code="customer.external_ref_exists")
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    for column, value in sealed_row(keys, dek, customer.id, changes).items():
        setattr(customer, column, value)
    for field in _PLAIN_FIELDS:
        if field in changes:
            setattr(customer, field, changes[field])
    customer.updated_at = clock.now()
    customer.version += 1
    db_session.flush()
    return _masked(db_session, keys, customer)


def delete_customer(*, db_session: Session, actor: Actor, customer_id: uuid.UUID) -> None:
    """Delete the row and crypto-shred its data key (copies in backups die with it)."""
    enforce(db_session, actor, "customer.delete", _resource(actor, customer_id))
    customer = _load(db_session, actor, customer_id)
    if customer.legal_hold:
        raise Conflict("The customer is under legal hold", code="customer.legal_hold")
    destroy_subject_key(db_session=db_session, tenant_id=actor.tenant_id, key_id=customer.subject_key_id)
    db_session.execute(delete(Customer).where(Customer.tenant_id == actor.tenant_id, Customer.id == customer_id))


def search(*, db_session: Session, actor: Actor, query: CustomerSearch) -> list[CustomerMasked]:
    enforce(db_session, actor, "customer.search", _resource(actor))
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    statement = select(Customer).where(Customer.tenant_id == actor.tenant_id)
    if query.mobile is not None:
        statement = statement.where(Customer.mobile_bidx == keys.index("customer.mobile", query.mobile))
    elif query.mobile_last4 is not None:
        statement = statement.where(
            Customer.mobile_last4_bidx == keys.index_suffix("customer.mobile_last4", query.mobile_last4)
        )
    elif query.id_number is not None:
        statement = statement.where(Customer.id_number_bidx == keys.index("customer.id_number", query.id_number))
    elif query.email is not None:
        statement = statement.where(Customer.email_bidx == keys.index("customer.email", query.email))
    else:
        statement = statement.where(Customer.external_ref == query.external_ref)
    rows = db_session.scalars(statement.order_by(Customer.id).limit(query.limit))
    return [_masked(db_session, keys, row) for row in rows]


def get_all(*, db_session: Session, actor: Actor, limit: int = 50, cursor: uuid.UUID | None = None) -> CustomerPage:
    """Keyset pagination in creation order (ids are time-ordered)."""
    enforce(db_session, actor, "customer.list", _resource(actor))
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    statement = select(Customer).where(Customer.tenant_id == actor.tenant_id)
    if cursor is not None:
        statement = statement.where(Customer.id > cursor)
    rows = list(db_session.scalars(statement.order_by(Customer.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return CustomerPage(
        items=[_masked(db_session, keys, row) for row in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )
