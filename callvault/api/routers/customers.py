"""Customers over HTTP. Search and reveal take POST bodies so values never enter a URL."""

from __future__ import annotations

import tempfile
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from callvault.api.deps import CurrentActor, DbSession, get_runtime, in_transaction
from callvault.api.problem import problem_responses
from callvault.core.errors import CallVaultError, PayloadTooLarge
from callvault.vault.customers import importer, service
from callvault.vault.customers.schemas import (
    CustomerCreate,
    CustomerMasked,
    CustomerPage,
    CustomerReveal,
    CustomerRevealed,
    CustomerSearch,
    CustomerUpdate,
    ImportReport,
)

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class UnsupportedMediaType(CallVaultError):
    status = 415
    code = "request.unsupported_media_type"
    title = "Unsupported media type"


_FORMATS: dict[str, importer.ImportFormat] = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}


@router.post("", status_code=201, responses=problem_responses(409))
async def create_customer(customer_in: CustomerCreate, actor: CurrentActor, db_session: DbSession) -> CustomerMasked:
    return await in_transaction(db_session, service.create, actor=actor, customer_in=customer_in)


@router.get("")
async def list_customers(
    actor: CurrentActor,
    db_session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
) -> CustomerPage:
    return await in_transaction(db_session, service.get_all, actor=actor, limit=limit, cursor=cursor)


@router.post(":search")
async def search_customers(query: CustomerSearch, actor: CurrentActor, db_session: DbSession) -> list[CustomerMasked]:
    return await in_transaction(db_session, service.search, actor=actor, query=query)


@router.post(
    ":import",
    responses=problem_responses(415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string"}} for media in _FORMATS},
        }
    },
)
async def import_customers(request: Request, actor: CurrentActor, strict: bool = False) -> ImportReport:
    """Stream a CSV (`text/csv`) or JSON-lines (`application/x-ndjson`) body.

    The body is spooled to a temporary file as it arrives (never held whole in memory),
    then imported in batches. Each row needs an `external_ref`; re-sending the same file
    skips what is already stored.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _FORMATS.get(media_type)
    if fmt is None:
        raise UnsupportedMediaType("Send text/csv or application/x-ndjson")
    runtime = get_runtime(request)
    limit = runtime.settings.max_request_bytes
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"Import bodies are limited to {limit} bytes", code="request.too_large")
            spool.write(chunk)
        spool.seek(0)
        return await run_in_threadpool(
            importer.import_customers, runtime=runtime, actor=actor, lines=spool, fmt=fmt, strict=strict
        )


@router.get("/{customer_id:id}", responses=problem_responses(404))
async def get_customer(customer_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> CustomerMasked:
    return await in_transaction(db_session, service.get_or_raise, actor=actor, customer_id=customer_id)


@router.post("/{customer_id:id}:reveal", responses=problem_responses(404))
async def reveal_customer(
    customer_id: uuid.UUID, request_in: CustomerReveal, actor: CurrentActor, db_session: DbSession
) -> CustomerRevealed:
    return await in_transaction(db_session, service.reveal, actor=actor, customer_id=customer_id, request=request_in)


@router.patch("/{customer_id:id}", responses=problem_responses(404, 409))
async def update_customer(
    customer_id: uuid.UUID, customer_in: CustomerUpdate, actor: CurrentActor, db_session: DbSession
) -> CustomerMasked:
    return await in_transaction(
        db_session, service.update, actor=actor, customer_id=customer_id, customer_in=customer_in
    )


@router.delete("/{customer_id:id}", status_code=204, responses=problem_responses(404))
async def delete_customer(customer_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> Response:
    await in_transaction(db_session, service.delete_customer, actor=actor, customer_id=customer_id)
    return Response(status_code=204)
