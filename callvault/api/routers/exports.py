"""Exports: request a masked, fingerprinted file of customers; approvers decide level by
level; the requester downloads it after a step-up; security officers trace leaked files.

Every route calls one service function, which asks the policy decision point
(`export.request`, `export.read`, `export.download`, `export.trace`, `export.configure`,
`export.settings`) and audits the decision.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from callvault.api.deps import CurrentActor, DbSession, in_transaction
from callvault.api.problem import problem_responses
from callvault.core.errors import PayloadTooLarge
from callvault.exports import service
from callvault.exports.schemas import (
    ExportCreate,
    ExportDecision,
    ExportManifest,
    ExportPage,
    ExportRead,
    ExportSettingsRead,
    ExportSettingsUpdate,
    TraceRead,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/exports", tags=["exports"])

Format = Literal["csv", "xlsx"]


@router.post("", response_model=ExportRead, status_code=201)
def create_export(body: ExportCreate, actor: CurrentActor, db_session: DbSession) -> ExportRead:
    """Ask for customers (filters), a field list and a purpose. Supervisors and above;
    approvers (by default a security officer, then a DPO, then a tenant admin for clear
    fields or more than 10,000 rows) are notified and decide in that order."""
    return service.create(db_session=db_session, actor=actor, export_in=body)


@router.get("", response_model=ExportPage)
def list_exports(
    actor: CurrentActor,
    db_session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ExportPage:
    """Your exports (admins, security officers, DPOs and auditors: every export of the tenant)."""
    return service.get_all(db_session=db_session, actor=actor, limit=limit, offset=offset)


@router.get("/settings", response_model=ExportSettingsRead)
def get_settings(actor: CurrentActor, db_session: DbSession) -> ExportSettingsRead:
    """The tenant's approval chain and delivery limits."""
    return service.get_settings(db_session=db_session, actor=actor)


@router.put("/settings", response_model=ExportSettingsRead)
def put_settings(body: ExportSettingsUpdate, actor: CurrentActor, db_session: DbSession) -> ExportSettingsRead:
    """Replace the chain (tenant admin, after a step-up): levels in order, the extra level
    for clear fields or more than `rows_threshold` rows, downloads per file, file and
    request lifetimes in hours."""
    return service.update_settings(db_session=db_session, actor=actor, settings_in=body)


async def _body(request: Request) -> bytes:
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > service.TRACE_MAX_BYTES:
            raise PayloadTooLarge(
                f"Trace uploads are limited to {service.TRACE_MAX_BYTES} bytes", code="request.too_large"
            )
    return bytes(received)


@router.post(
    ":trace",
    response_model=TraceRead,
    responses=problem_responses(400),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in (
                    "text/plain",
                    "text/csv",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "application/octet-stream",
                )
            },
        }
    },
)
async def trace_export(request: Request, actor: CurrentActor, db_session: DbSession) -> TraceRead:
    """Send a leaked file as the body (CSV, XLSX, or text pasted from one; part of it, in any
    order): the answer names the export, its requester and approvers with a confidence, or
    says it matches none (security officers)."""
    data = await _body(request)
    return await in_transaction(db_session, service.trace, actor=actor, data=data)


@router.get("/{export_id:id}", response_model=ExportRead, responses=problem_responses(404))
def get_export(export_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> ExportRead:
    """One export: its chain (`waiting_for`), progress, files and downloads."""
    return service.get_or_raise(db_session=db_session, actor=actor, export_id=export_id)


@router.post("/{export_id:id}:approve", response_model=ExportRead, responses=problem_responses(404, 409))
def approve_export(
    export_id: uuid.UUID, body: ExportDecision, actor: CurrentActor, db_session: DbSession
) -> ExportRead:
    """Approve as the level whose turn it is (after a step-up); the last level starts generation."""
    return service.decide(db_session=db_session, actor=actor, export_id=export_id, approve=True, comment=body.comment)


@router.post("/{export_id:id}:deny", response_model=ExportRead, responses=problem_responses(404, 409))
def deny_export(export_id: uuid.UUID, body: ExportDecision, actor: CurrentActor, db_session: DbSession) -> ExportRead:
    """Deny: one "no" closes the request."""
    return service.decide(db_session=db_session, actor=actor, export_id=export_id, approve=False, comment=body.comment)


@router.get(
    "/{export_id:id}/download",
    responses={**problem_responses(404, 409), 200: {"content": {"text/csv": {}, "application/octet-stream": {}}}},
    response_class=StreamingResponse,
)
async def download_export(
    export_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    format: Annotated[Format, Query()] = "xlsx",
) -> StreamingResponse:
    """The file, decrypted as it is sent: only the requester, after a step-up, while the
    export is unexpired and downloads remain. Check it against `GET .../manifest`."""
    found = await in_transaction(db_session, service.download, actor=actor, export_id=export_id, fmt=format)
    return StreamingResponse(
        found.chunks,
        media_type=found.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "Cache-Control": "no-store",
        },
    )


@router.get("/{export_id:id}/manifest", response_model=ExportManifest, responses=problem_responses(404, 409))
def get_manifest(
    export_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    format: Annotated[Format, Query()] = "xlsx",
) -> ExportManifest:
    """The signed manifest (Ed25519 over export id, tenant, format, rows, SHA-256, size, time)."""
    return service.manifest(db_session=db_session, actor=actor, export_id=export_id, fmt=format)
