"""Customers: the whole surface of the capability.

Every function asks the policy decision point first (which audits the decision) and
works inside the caller's tenant. A customer of another tenant is reported as not found,
never as forbidden, so ids cannot be probed across tenants.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, delete, false, or_, select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, FieldMask
from callvault.access.masking import mask_field
from callvault.access.pdp import Resource, enforce, record_failure
from callvault.access.quotas import note_search_miss
from callvault.audit.log import redact_reason
from callvault.calls.service import live_customer_ids
from callvault.core import clock
from callvault.core.errors import Conflict, DecryptionFailed, NotFound
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
    "open_audit_purpose",
    "reveal",
    "sealed_row",
    "search",
    "update",
]

TABLE = "customer"
T = TypeVar("T")
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
    sealed = {field: getattr(customer, f"{field}_ct") for field in fields}
    clear: dict[str, str | None] = dict.fromkeys(sealed)
    clear.update(
        dek.open_many(keys.tenant_id, TABLE, str(customer.id), {f: v for f, v in sealed.items() if v is not None})
    )
    return clear


def _levels(decision: Decision) -> dict[str, FieldMask]:
    """Each personal field's level for this reader: the role × field matrix, else masked."""
    return {field: decision.field_masks.get(field, "masked") for field in ENCRYPTED_FIELDS}


def _masked(db_session: Session, keys: TenantKeys, customer: Customer, decision: Decision) -> CustomerMasked:
    levels = _levels(decision)
    shown = [field for field in ENCRYPTED_FIELDS if levels[field] != "hidden"]
    dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    clear = _open_fields(keys, dek, customer, shown)
    values = {
        field: None
        if field not in clear
        else clear[field]
        if levels[field] == "clear"
        else mask_field(field, clear[field])
        for field in ENCRYPTED_FIELDS
    }
    return CustomerMasked(
        id=customer.id,
        **values,
        **{field: getattr(customer, field) for field in _PLAIN_FIELDS},
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        version=customer.version,
        masked_fields=[field for field in ENCRYPTED_FIELDS if levels[field] == "masked"],
        hidden_fields=[field for field in ENCRYPTED_FIELDS if levels[field] == "hidden"],
    )


def _masked_rows(
    db_session: Session, actor: Actor, action: str, keys: TenantKeys, rows: Iterable[Customer], decision: Decision
) -> list[CustomerMasked]:
    """Masked rows of a page; a row whose ciphertext cannot be opened comes back with its
    plain columns and ``error`` set (the rest of the page is unaffected), and is audited."""
    out: list[CustomerMasked] = []
    for customer in rows:
        try:
            out.append(_masked(db_session, keys, customer, decision))
        except DecryptionFailed as error:
            record_failure(db_session, actor, action, _resource(actor, customer.id), error.code)
            out.append(
                CustomerMasked(
                    id=customer.id,
                    **dict.fromkeys(ENCRYPTED_FIELDS),
                    **{field: getattr(customer, field) for field in _PLAIN_FIELDS},
                    created_at=customer.created_at,
                    updated_at=customer.updated_at,
                    version=customer.version,
                    error=error.code,
                )
            )
    return out


def _load(
    db_session: Session,
    actor: Actor,
    action: str,
    customer_id: uuid.UUID,
    purpose: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[Customer, Decision]:
    """The customer and the PDP's decision on ``action``; a missing one (or one of
    another tenant) is audited as ``not_found`` and raised as ``NotFound``."""
    customer = db_session.get(Customer, (actor.tenant_id, customer_id))
    if customer is None:
        enforce(db_session, actor, action, _resource(actor, customer_id), purpose=purpose, outcome="not_found")
        raise _not_found()
    resource = _resource(actor, customer_id, owner=customer.assigned_agent)
    sealed = None if purpose is None else _sealed_purpose(db_session, actor, customer, purpose)
    decision = enforce(db_session, actor, action, resource, purpose=purpose, sealed_purpose=sealed, context=context)
    return customer, decision


AUDIT_PURPOSE_PREFIX = "sealed:v1:"


def _sealed_purpose(db_session: Session, actor: Actor, customer: Customer, purpose: str) -> str | None:
    """The free-text purpose, redacted then encrypted under the customer's data key, for
    the audit log.

    The log can never be edited, and a reason typed by a person may name the customer
    ("陈英要求核实身份") in a way no recognizer catches. Sealed under the subject's key, it
    stays readable to an auditor while the customer exists and dies with the key when
    the customer is erased (crypto-shredding reaches the immutable log too)."""
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    try:
        dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
    except DecryptionFailed:
        return None  # falls back to the redacted text
    # structured values (numbers, e-mails) are tagged first: an auditor needs the reason,
    # not the number; what the engine misses (a name) still dies with the key
    sealed = dek.seal(redact_reason(purpose) or "", keys.context("audit_event", "purpose", customer.id))
    return AUDIT_PURPOSE_PREFIX + base64.b64encode(sealed).decode("ascii")


def open_audit_purpose(db_session: Session, *, tenant_id: str, subject_id: str, stored: str) -> str | None:
    """The clear purpose of an audit event stored by ``_sealed_purpose``; None once the
    subject is erased (its key destroyed) or if the text does not open."""
    if not stored.startswith(AUDIT_PURPOSE_PREFIX):
        return stored
    try:
        customer_id = uuid.UUID(subject_id)
        sealed = base64.b64decode(stored[len(AUDIT_PURPOSE_PREFIX) :], validate=True)
    except ValueError:
        return None
    customer = db_session.get(Customer, (tenant_id, customer_id))
    if customer is None:
        return None
    keys = tenant_keys(db_session=db_session, tenant_id=tenant_id)
    try:
        dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
        return dek.open(sealed, keys.context("audit_event", "purpose", customer_id))
    except DecryptionFailed:
        return None


def _opened(db_session: Session, actor: Actor, action: str, customer_id: uuid.UUID, build: Callable[[], T]) -> T:
    """Run ``build()`` (which decrypts); a decryption failure is audited as ``failed``."""
    try:
        return build()
    except DecryptionFailed as error:
        record_failure(db_session, actor, action, _resource(actor, customer_id), error.code)
        raise


def _resource(actor: Actor, customer_id: uuid.UUID | None = None, owner: str | None = None) -> Resource:
    ident = None if customer_id is None else str(customer_id)
    return Resource(type="customer", tenant_id=actor.tenant_id, id=ident, subject_id=ident, owner=owner)


def create(*, db_session: Session, actor: Actor, customer_in: CustomerCreate) -> CustomerMasked:
    from callvault.lifecycle.minimization import check_collectable  # the tenant's data schema (422 per field)

    check_collectable(db_session, actor.tenant_id, customer_in.model_dump())
    customer_id = time_ordered_uuid()
    resource = _resource(actor, customer_id, owner=customer_in.assigned_agent)
    decision = enforce(db_session, actor, "customer.create", resource)
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    if customer_in.external_ref is not None and db_session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == actor.tenant_id, Customer.external_ref == customer_in.external_ref
        )
    ):
        error = Conflict("A customer with this external reference exists", code="customer.external_ref_exists")
        record_failure(db_session, actor, "customer.create", resource, error.code)
        raise error
    (dek,) = new_subject_keys(db_session=db_session, keys=keys, count=1)
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
    return _masked(db_session, keys, customer, decision)


def get_or_raise(*, db_session: Session, actor: Actor, customer_id: uuid.UUID) -> CustomerMasked:
    customer, decision = _load(db_session, actor, "customer.read", customer_id)
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    return _opened(
        db_session, actor, "customer.read", customer_id, lambda: _masked(db_session, keys, customer, decision)
    )


def reveal(*, db_session: Session, actor: Actor, customer_id: uuid.UUID, request: CustomerReveal) -> CustomerRevealed:
    """Clear values of chosen fields, as the policy allows (a reason, a live call for
    agents, a step-up, an approval, or break-glass); always audited. Fields the reader's
    role never sees stay hidden (null, listed in ``hidden_fields``)."""
    context = {"break_glass": request.break_glass}
    customer, decision = _load(
        db_session, actor, "customer.reveal", customer_id, purpose=request.reason, context=context
    )
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    levels = _levels(decision)
    wanted = list(dict.fromkeys(request.fields))
    hidden = [field for field in wanted if levels[field] == "hidden"]

    def opened() -> CustomerRevealed:
        dek = open_subject_key(db_session=db_session, keys=keys, key_id=customer.subject_key_id)
        shown = _open_fields(keys, dek, customer, [field for field in wanted if field not in hidden])
        return CustomerRevealed(
            id=customer.id, fields={field: shown.get(field) for field in wanted}, hidden_fields=hidden
        )

    return _opened(db_session, actor, "customer.reveal", customer_id, opened)


def update(*, db_session: Session, actor: Actor, customer_id: uuid.UUID, customer_in: CustomerUpdate) -> CustomerMasked:
    from callvault.lifecycle.minimization import check_collectable  # the tenant's data schema (422 per field)

    check_collectable(db_session, actor.tenant_id, customer_in.model_dump(exclude_unset=True))
    customer, decision = _load(db_session, actor, "customer.update", customer_id)
    changes = customer_in.model_dump(exclude_unset=True)
    expected = changes.pop("expected_version", None)
    conflict = None
    if expected is not None and expected != customer.version:
        conflict = Conflict("The customer changed since it was read", code="customer.version_conflict")
    elif changes.get("external_ref") not in (None, customer.external_ref) and db_session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == actor.tenant_id, Customer.external_ref == changes["external_ref"]
        )
    ):
        conflict = Conflict("A customer with this external reference exists", code="customer.external_ref_exists")
    if conflict is not None:  # checked before any write: the audit append needs no lock we hold
        record_failure(db_session, actor, "customer.update", _resource(actor, customer_id), conflict.code)
        raise conflict
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
    return _masked(db_session, keys, customer, decision)


def delete_customer(*, db_session: Session, actor: Actor, customer_id: uuid.UUID) -> None:
    """Delete the row and crypto-shred its data key (copies in backups die with it)."""
    customer, _ = _load(db_session, actor, "customer.delete", customer_id)
    if customer.legal_hold:
        error = Conflict("The customer is under legal hold", code="customer.legal_hold")
        record_failure(db_session, actor, "customer.delete", _resource(actor, customer_id), error.code)
        raise error
    destroy_subject_key(db_session=db_session, tenant_id=actor.tenant_id, key_id=customer.subject_key_id)
    db_session.execute(delete(Customer).where(Customer.tenant_id == actor.tenant_id, Customer.id == customer_id))


def _visible(db_session: Session, actor: Actor, decision: Decision) -> Select[Customer]:
    """The tenant's customers this reader may list: all, or (``rows: assigned``) those
    assigned to the agent plus those on the agent's live calls."""
    statement = select(Customer).where(Customer.tenant_id == actor.tenant_id)
    if decision.rows == "assigned":
        if actor.username is None:
            return statement.where(false())
        live = live_customer_ids(db_session=db_session, tenant_id=actor.tenant_id, agent=actor.username)
        statement = statement.where(or_(Customer.assigned_agent == actor.username, Customer.id.in_(live)))
    return statement


def search(*, db_session: Session, actor: Actor, query: CustomerSearch) -> list[CustomerMasked]:
    decision = enforce(db_session, actor, "customer.search", _resource(actor))
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    statement = _visible(db_session, actor, decision)
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
    rows = list(db_session.scalars(statement.order_by(Customer.id).limit(query.limit)))
    if not rows:
        note_search_miss(db_session, actor)
    return _masked_rows(db_session, actor, "customer.search", keys, rows, decision)


def get_all(*, db_session: Session, actor: Actor, limit: int = 50, cursor: uuid.UUID | None = None) -> CustomerPage:
    """Keyset pagination in creation order (ids are time-ordered)."""
    decision = enforce(db_session, actor, "customer.list", _resource(actor))
    keys = tenant_keys(db_session=db_session, tenant_id=actor.tenant_id)
    statement = _visible(db_session, actor, decision)
    if cursor is not None:
        statement = statement.where(Customer.id > cursor)
    rows = list(db_session.scalars(statement.order_by(Customer.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return CustomerPage(
        items=_masked_rows(db_session, actor, "customer.list", keys, rows, decision),
        next_cursor=str(rows[-1].id) if more and rows else None,
    )
