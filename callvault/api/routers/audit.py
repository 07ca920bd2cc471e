"""The audit log over HTTP: auditor queries, subject reports, proofs, SIEM stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from callvault.api.deps import CurrentActor, DbSession, get_runtime
from callvault.api.problem import problem_responses
from callvault.audit import service, siem
from callvault.audit.schemas import (
    MAX_SEQ,
    AuditPage,
    AuditQuery,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    SubjectReport,
    UtcInstant,
)
from callvault.core.db import tenant_session

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/events")
def list_events(query: Annotated[AuditQuery, Query()], actor: CurrentActor, db_session: DbSession) -> AuditPage:
    """Filter by actor, subject, action, decision and time; page with `after_seq`."""
    return service.get_all(db_session=db_session, actor=actor, query=query)


@router.get("/events/{seq}/proof", responses=problem_responses(404))
def event_proof(
    seq: Annotated[int, Path(ge=1, le=MAX_SEQ)], actor: CurrentActor, db_session: DbSession
) -> InclusionProof:
    """Inclusion proof of one event against the latest signed tree head."""
    return service.inclusion_proof(db_session=db_session, actor=actor, seq=seq)


@router.get("/tree-heads")
def tree_heads(actor: CurrentActor, db_session: DbSession) -> list[SignedTreeHead]:
    service.get_all(db_session=db_session, actor=actor, query=AuditQuery(limit=1))  # authorizes + audits
    return service.heads(db_session=db_session)


@router.get("/tree-heads/consistency", responses=problem_responses(404))
def tree_head_consistency(
    first: Annotated[int, Query(ge=1, le=MAX_SEQ)],
    second: Annotated[int, Query(ge=1, le=MAX_SEQ)],
    actor: CurrentActor,
    db_session: DbSession,
) -> ConsistencyProof:
    return service.consistency_proof(db_session=db_session, actor=actor, first=first, second=second)


@router.get("/subjects/{subject_id}/report")
def subject_report(
    subject_id: Annotated[str, Path(max_length=128)], actor: CurrentActor, db_session: DbSession
) -> SubjectReport:
    """Every recorded access to one customer's data: who, when, what, why."""
    return service.subject_report(db_session=db_session, actor=actor, subject_id=subject_id)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One event per line: JSON lines (`jsonl`, `ocsf`) or RFC 5424 syslog",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
def export(
    request: Request,
    actor: CurrentActor,
    db_session: DbSession,
    format: Literal["jsonl", "ocsf", "syslog"] = "jsonl",
    since: Annotated[UtcInstant | None, Query(description="ISO 8601 date or date-time; no offset means UTC.")] = None,
) -> StreamingResponse:
    """Stream the tenant's events for a SIEM (JSON lines, OCSF JSON lines, or RFC 5424 syslog).

    Everything that can fail is checked before the first byte: once the stream has
    started, an error could only truncate it under a 200."""
    service.get_all(db_session=db_session, actor=actor, query=AuditQuery(limit=1))
    runtime = get_runtime(request)

    def lines() -> Iterator[str]:
        # Its own session: the stream outlives the request's transaction.
        with tenant_session(runtime.sessions, actor.tenant_id) as stream_session:
            for event in service.iter_events(db_session=stream_session, tenant_id=actor.tenant_id, since=since):
                yield siem.render(event, format) + "\n"

    media = "text/plain" if format == "syslog" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media)
