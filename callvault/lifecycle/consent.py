"""Consent ledger: every consent given or withdrawn is a new row with a signed receipt.

History is never overwritten: the state of (subject, purpose, partner) is its newest row.
A withdrawal is as easy as a consent (one call, any channel) and sets ``evidence_until``
on its row (withdrawal + the ``consent_evidence`` retention, three years by default); the
sweeper deletes a withdrawn chain only after that. The PDP's ``consent:<purpose>``
condition asks ``consent_holds``.

Receipt format (``callvault-consent-receipt/1``, after the Kantara Consent Receipt v1.1):
``version, jurisdiction, consentTimestamp, collectionMethod, consentReceiptID,
piiPrincipalId, piiControllers, services[{service, purposes[{purpose, partner,
consentType, status, noticeVersion, noticeHash}]}], evidence{ref, sha256}, signingKeyId``.
It names the subject by its pseudonymous id only.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Resource
from callvault.access.pdp import enforce
from callvault.core import clock
from callvault.core.errors import Invalid, NotFound
from callvault.core.runtime import runtime_of
from callvault.lifecycle.models import Consent
from callvault.lifecycle.schemas import PURPOSES, ConsentGive, ConsentHistory, ConsentRead, ConsentWithdraw
from callvault.lifecycle.signing import canonical, public_key, sign_document
from callvault.vault.customers.models import Customer
from callvault.vault.fields.service import time_ordered_uuid

__all__ = [
    "RECEIPT_KIND",
    "check_purpose",
    "consent_holds",
    "customer_or_raise",
    "give",
    "history",
    "subject_resource",
    "withdraw",
]

RECEIPT_KIND = "consent-receipt"
RECEIPT_FORMAT = "callvault-consent-receipt/1"


def subject_resource(
    tenant_id: str, subject_id: uuid.UUID, owner: str | None = None, type_: str = "customer"
) -> Resource:
    ident = str(subject_id)
    return Resource(type=type_, tenant_id=tenant_id, id=ident, subject_id=ident, owner=owner)


def customer_or_raise(db_session: Session, actor: Actor, action: str, subject_id: uuid.UUID) -> Customer:
    """The subject (a customer of the actor's tenant); a missing one is audited as
    ``not_found`` and raised as 404."""
    customer = db_session.get(Customer, (actor.tenant_id, subject_id))
    if customer is None:
        enforce(db_session, actor, action, subject_resource(actor.tenant_id, subject_id), outcome="not_found")
        raise NotFound("Subject not found", code="subject.not_found")
    return customer


def _check_partner(purpose: str, partner: str | None) -> str:
    if purpose == "partner_sharing" and not partner:
        raise Invalid("partner_sharing names the partner", code="consent.partner_required")
    if purpose != "partner_sharing" and partner:
        raise Invalid("Only partner_sharing names a partner", code="consent.partner_unexpected")
    return partner or ""


def _latest(db_session: Session, tenant_id: str, subject_id: uuid.UUID, purpose: str, partner: str) -> Consent | None:
    return db_session.scalars(
        select(Consent)
        .where(
            Consent.tenant_id == tenant_id,
            Consent.subject_id == subject_id,
            Consent.purpose == purpose,
            Consent.partner == partner,
        )
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
        .limit(1)
    ).first()


def _read(row: Consent, *, changed: bool = True) -> ConsentRead:
    return ConsentRead(
        id=row.id,
        subject_id=row.subject_id,
        purpose=row.purpose,
        partner=row.partner or None,
        status=row.status,
        channel=row.channel,
        recorded_at=row.recorded_at,
        evidence_until=row.evidence_until,
        receipt=json.loads(row.receipt),
        signature=base64.b64encode(row.signature).decode(),
        changed=changed,
    )


def _evidence_days(db_session: Session, tenant_id: str) -> int:
    from callvault.lifecycle.retention import retention_days

    return retention_days(db_session, tenant_id, "consent_evidence")


def _record(
    db_session: Session,
    actor: Actor,
    *,
    subject_id: uuid.UUID,
    purpose: str,
    partner: str,
    status: str,
    channel: str,
    notice_version: str,
    notice_hash: str,
    evidence_ref: str | None,
    evidence_hash: str | None,
    evidence_until: datetime | None,
) -> Consent:
    runtime = runtime_of(db_session)
    now = clock.now()
    consent_id = time_ordered_uuid()
    key_id, _ = public_key(runtime.keyring)
    receipt = {
        "version": RECEIPT_FORMAT,
        "jurisdiction": "CN",
        "consentTimestamp": now.isoformat(),
        "collectionMethod": channel,
        "consentReceiptID": str(consent_id),
        "piiPrincipalId": str(subject_id),
        "piiControllers": [{"piiController": actor.tenant_id}],
        "recordedBy": actor.actor_id,
        "services": [
            {
                "service": "callvault",
                "purposes": [
                    {
                        "purpose": purpose,
                        "partner": partner or None,
                        "consentType": "EXPLICIT",
                        "status": status,
                        "noticeVersion": notice_version,
                        "noticeHash": notice_hash,
                    }
                ],
            }
        ],
        "evidence": {"ref": evidence_ref, "sha256": evidence_hash},
        "evidenceUntil": None if evidence_until is None else evidence_until.isoformat(),
        "signingKeyId": key_id,
    }
    row = Consent(
        tenant_id=actor.tenant_id,
        id=consent_id,
        subject_id=subject_id,
        purpose=purpose,
        partner=partner,
        status=status,
        channel=channel,
        notice_hash=notice_hash,
        notice_version=notice_version,
        evidence_ref=evidence_ref,
        evidence_hash=evidence_hash,
        recorded_at=now,
        recorded_by=actor.actor_id,
        evidence_until=evidence_until,
        receipt=canonical(receipt).decode(),
        signature=sign_document(runtime.keyring, RECEIPT_KIND, receipt),
    )
    db_session.add(row)
    db_session.flush()
    return row


def give(*, db_session: Session, actor: Actor, subject_id: uuid.UUID, consent_in: ConsentGive) -> ConsentRead:
    """Record a consent and return its signed receipt."""
    customer = customer_or_raise(db_session, actor, "consent.give", subject_id)
    partner = _check_partner(consent_in.purpose, consent_in.partner)
    enforce(
        db_session,
        actor,
        "consent.give",
        subject_resource(actor.tenant_id, subject_id, customer.assigned_agent),
        purpose=consent_in.purpose,
    )
    row = _record(
        db_session,
        actor,
        subject_id=subject_id,
        purpose=consent_in.purpose,
        partner=partner,
        status="given",
        channel=consent_in.channel,
        notice_version=consent_in.notice_version,
        notice_hash=consent_in.notice_hash,
        evidence_ref=consent_in.evidence_ref,
        evidence_hash=consent_in.evidence_hash,
        evidence_until=None,
    )
    return _read(row)


def withdraw(*, db_session: Session, actor: Actor, subject_id: uuid.UUID, withdraw_in: ConsentWithdraw) -> ConsentRead:
    """Withdraw a consent; withdrawing again changes nothing and returns the withdrawal
    (``changed`` false). A consent never given: 404 ``consent.not_found``."""
    customer = customer_or_raise(db_session, actor, "consent.withdraw", subject_id)
    partner = _check_partner(withdraw_in.purpose, withdraw_in.partner)
    enforce(
        db_session,
        actor,
        "consent.withdraw",
        subject_resource(actor.tenant_id, subject_id, customer.assigned_agent),
        purpose=withdraw_in.purpose,
    )
    latest = _latest(db_session, actor.tenant_id, subject_id, withdraw_in.purpose, partner)
    if latest is None:
        raise NotFound("No consent to this purpose was given", code="consent.not_found")
    if latest.status == "withdrawn":
        return _read(latest, changed=False)
    until = clock.now() + timedelta(days=_evidence_days(db_session, actor.tenant_id))
    row = _record(
        db_session,
        actor,
        subject_id=subject_id,
        purpose=withdraw_in.purpose,
        partner=partner,
        status="withdrawn",
        channel=withdraw_in.channel,
        notice_version=latest.notice_version,
        notice_hash=latest.notice_hash,
        evidence_ref=withdraw_in.evidence_ref,
        evidence_hash=withdraw_in.evidence_hash,
        evidence_until=until,
    )
    return _read(row)


def history(*, db_session: Session, actor: Actor, subject_id: uuid.UUID) -> ConsentHistory:
    customer = customer_or_raise(db_session, actor, "consent.read", subject_id)
    enforce(db_session, actor, "consent.read", subject_resource(actor.tenant_id, subject_id, customer.assigned_agent))
    return history_of(db_session, actor.tenant_id, subject_id)


def history_of(db_session: Session, tenant_id: str, subject_id: uuid.UUID) -> ConsentHistory:
    rows = list(
        db_session.scalars(
            select(Consent)
            .where(Consent.tenant_id == tenant_id, Consent.subject_id == subject_id)
            .order_by(Consent.recorded_at, Consent.id)
        )
    )
    current: dict[str, str] = {}
    for row in rows:
        current[f"{row.purpose}:{row.partner}" if row.partner else row.purpose] = row.status
    return ConsentHistory(subject_id=subject_id, current=current, history=[_read(row) for row in rows])


def consent_holds(*, db_session: Session, tenant_id: str, resource: Resource, purpose: str) -> bool:
    """True if the resource's subject's newest consent to ``purpose`` is ``given``. For
    ``partner_sharing`` the resource is a ``partner_transfer`` whose id names the partner."""
    if purpose not in PURPOSES or resource.subject_id is None:
        return False
    try:
        subject_id = uuid.UUID(resource.subject_id)
    except ValueError:
        return False
    partner = ""
    if purpose == "partner_sharing":
        if resource.type != "partner_transfer" or not resource.id:
            return False
        partner = resource.id
    latest = _latest(db_session, tenant_id, subject_id, purpose, partner)
    return latest is not None and latest.status == "given"


_ACTIONS = {"marketing_call": "outbound.marketing_call", "partner_transfer": "partner.transfer"}


def check_purpose(
    *, db_session: Session, actor: Actor, subject_id: uuid.UUID, action: str, partner: str | None
) -> tuple[bool, str]:
    """Ask the PDP whether ``action`` (an outbound marketing call, a transfer to a partner)
    may happen for this subject now; a denial raises 403 and is audited."""
    pdp_action = _ACTIONS.get(action)
    if pdp_action is None:
        raise Invalid("Unknown purpose-checked action", code="consent.action_unknown")
    customer = customer_or_raise(db_session, actor, pdp_action, subject_id)
    if action == "partner_transfer":
        if not partner:
            raise Invalid("A partner transfer names the partner", code="consent.partner_required")
        resource = Resource(type="partner_transfer", tenant_id=actor.tenant_id, id=partner, subject_id=str(subject_id))
    else:
        resource = subject_resource(actor.tenant_id, subject_id, customer.assigned_agent)
    decision = enforce(db_session, actor, pdp_action, resource)
    return decision.allow, decision.rule
