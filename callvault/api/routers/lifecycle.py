"""Lifecycle over HTTP: consent ledger, data schema, retention and legal holds, sweeps,
DSAR (access report, deadlines) and erasure with its deletion certificate."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from callvault.api.deps import CurrentActor, DbSession, get_runtime
from callvault.api.problem import problem_responses
from callvault.core.runtime import Runtime
from callvault.lifecycle import consent, dsar, flows, minimization, retention
from callvault.lifecycle.schemas import (
    ConsentGive,
    ConsentHistory,
    ConsentRead,
    ConsentWithdraw,
    DataSchemaRead,
    DataSchemaUpdate,
    DeletionCertificate,
    DsarCreate,
    DsarRead,
    ErasureRequestCreate,
    HoldCreate,
    HoldRead,
    MinimizationReport,
    PurposeCheck,
    PurposeCheckRead,
    RetentionRead,
    RetentionUpdate,
    SigningKeyRead,
    SubjectDataReport,
    SweepReport,
)

router = APIRouter(tags=["lifecycle"])
_SUBJECT = "/v1/subjects/{subject_id:id}"


# -- consent ---------------------------------------------------------------------------------
@router.post(f"{_SUBJECT}/consents", status_code=201, responses=problem_responses(404))
def give_consent(
    subject_id: uuid.UUID, consent_in: ConsentGive, actor: CurrentActor, db_session: DbSession
) -> ConsentRead:
    """Record a consent; the answer holds its signed receipt."""
    return consent.give(db_session=db_session, actor=actor, subject_id=subject_id, consent_in=consent_in)


@router.post(f"{_SUBJECT}/consents:withdraw", responses=problem_responses(404))
def withdraw_consent(
    subject_id: uuid.UUID, withdraw_in: ConsentWithdraw, actor: CurrentActor, db_session: DbSession
) -> ConsentRead:
    """Withdraw a consent (again: no change, `changed` false)."""
    return consent.withdraw(db_session=db_session, actor=actor, subject_id=subject_id, withdraw_in=withdraw_in)


@router.get(f"{_SUBJECT}/consents", responses=problem_responses(404))
def consent_history(subject_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> ConsentHistory:
    return consent.history(db_session=db_session, actor=actor, subject_id=subject_id)


@router.post(f"{_SUBJECT}/purpose-checks", responses=problem_responses(404))
def check_purpose(
    subject_id: uuid.UUID, check_in: PurposeCheck, actor: CurrentActor, db_session: DbSession
) -> PurposeCheckRead:
    """May this outbound marketing call / partner transfer happen now? 403 without consent."""
    allowed, rule = consent.check_purpose(
        db_session=db_session, actor=actor, subject_id=subject_id, action=check_in.action, partner=check_in.partner
    )
    return PurposeCheckRead(allowed=allowed, rule=rule)


# -- DSAR and erasure ---------------------------------------------------------------------------
@router.post(f"{_SUBJECT}/requests", status_code=201, responses=problem_responses(404))
def create_dsar(subject_id: uuid.UUID, request_in: DsarCreate, actor: CurrentActor, db_session: DbSession) -> DsarRead:
    """Register a data-subject request; its legal deadline is computed (GDPR, PIPL)."""
    return dsar.create_request(db_session=db_session, actor=actor, subject_id=subject_id, request_in=request_in)


@router.get("/v1/dsar-requests")
def list_dsar(actor: CurrentActor, db_session: DbSession, overdue: bool = False) -> list[DsarRead]:
    return dsar.get_requests(db_session=db_session, actor=actor, overdue=overdue)


@router.get(
    f"{_SUBJECT}/report",
    responses={**problem_responses(404), 200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    response_model=SubjectDataReport,
)
def subject_report(
    subject_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    format: Annotated[Literal["json", "html"], Query()] = "json",
) -> Any:
    """Everything held about the subject, decrypted (DPO after a step-up), with its consents
    and every access from the audit log; `format=html` gives a page in Chinese and English."""
    data = dsar.report(db_session=db_session, actor=actor, subject_id=subject_id)
    if format == "html":
        return HTMLResponse(dsar.render_html(data))
    return data


@router.post(f"{_SUBJECT}/erasure-requests", status_code=201, responses=problem_responses(404))
def request_erasure(
    subject_id: uuid.UUID, request_in: ErasureRequestCreate, actor: CurrentActor, db_session: DbSession
) -> Any:
    """Open the approval an erasure needs (one tenant admin or security officer)."""
    return flows.request_erasure(
        db_session=db_session, actor=actor, subject_id=subject_id, justification=request_in.justification
    )


@router.post(f"{_SUBJECT}/erasure", responses=problem_responses(404, 409))
def erase_subject(subject_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> DeletionCertificate:
    """Crypto-shred and delete the subject; the answer is the signed deletion certificate."""
    return flows.erase(db_session=db_session, actor=actor, subject_id=subject_id)


@router.get("/v1/erasure-certificates/{certificate_id:id}", responses=problem_responses(404))
def get_certificate(certificate_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> DeletionCertificate:
    return flows.get_certificate(db_session=db_session, actor=actor, certificate_id=certificate_id)


@router.get("/v1/lifecycle/signing-key")
def signing_key(actor: CurrentActor, db_session: DbSession) -> SigningKeyRead:
    """The Ed25519 public key that verifies receipts and certificates."""
    return flows.signing_key(db_session=db_session, actor=actor)


# -- minimization ------------------------------------------------------------------------------
@router.get("/v1/data-schema")
def get_data_schema(actor: CurrentActor, db_session: DbSession) -> DataSchemaRead:
    return minimization.get_schema(db_session=db_session, actor=actor)


@router.put("/v1/data-schema")
def put_data_schema(schema_in: DataSchemaUpdate, actor: CurrentActor, db_session: DbSession) -> DataSchemaRead:
    """Store the next version of the tenant's data schema."""
    return minimization.update_schema(db_session=db_session, actor=actor, schema_in=schema_in)


@router.get("/v1/data-schema/report")
def minimization_report(actor: CurrentActor, db_session: DbSession) -> MinimizationReport:
    """Stored fields that no active purpose needs."""
    return minimization.report(db_session=db_session, actor=actor)


# -- retention and legal holds -----------------------------------------------------------------
@router.get("/v1/retention-policies")
def get_retention(actor: CurrentActor, db_session: DbSession) -> list[RetentionRead]:
    return retention.get_policies(db_session=db_session, actor=actor)


@router.put("/v1/retention-policies/{data_class:id}", responses=problem_responses(404))
def put_retention(
    data_class: str, policy_in: RetentionUpdate, actor: CurrentActor, db_session: DbSession
) -> RetentionRead:
    return retention.set_policy(db_session=db_session, actor=actor, data_class=data_class, days=policy_in.days)


@router.get("/v1/legal-holds")
def list_holds(actor: CurrentActor, db_session: DbSession, include_released: bool = False) -> list[HoldRead]:
    return retention.get_holds(db_session=db_session, actor=actor, include_released=include_released)


@router.post("/v1/legal-holds", status_code=201)
def create_hold(hold_in: HoldCreate, actor: CurrentActor, db_session: DbSession) -> HoldRead:
    return retention.create_hold(db_session=db_session, actor=actor, hold_in=hold_in)


@router.post("/v1/legal-holds/{hold_id:id}:release", responses=problem_responses(404))
def release_hold(hold_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> HoldRead:
    return retention.release_hold(db_session=db_session, actor=actor, hold_id=hold_id)


@router.post("/v1/retention/sweeps")
async def run_sweep(
    actor: CurrentActor,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    dry_run: bool = True,
) -> SweepReport:
    """Sweep the tenant now (`dry_run=true`, the default, only reports what would go)."""
    return await run_in_threadpool(retention.sweep, runtime, actor.tenant_id, actor=actor, dry_run=dry_run)
