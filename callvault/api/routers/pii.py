"""PII scanning and redaction over HTTP, plus a WebSocket for live ASR segments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError
from starlette.concurrency import run_in_threadpool

from callvault.access.actor import Actor
from callvault.access.identity import service as identity
from callvault.access.pdp import Resource, enforce
from callvault.api.deps import CurrentActor, DbSession, get_runtime
from callvault.core import clock
from callvault.core.errors import CallVaultError, Invalid, PayloadTooLarge
from callvault.core.runtime import Runtime
from callvault.pii import service
from callvault.pii.model import ENTITY_TYPES
from callvault.pii.redact import MODES
from callvault.pii.schemas import (
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    MAX_TOTAL_CHARS,
    EntityOut,
    RedactRequest,
    RedactResponse,
    ScanRequest,
    ScanResponse,
)
from callvault.pii.stream import StreamingRedactor

router = APIRouter(prefix="/v1/pii", tags=["pii"])
stream_router = APIRouter(prefix="/v1/pii", tags=["pii"])


class BadEncoding(CallVaultError):
    status = 400
    code = "request.bad_encoding"
    title = "Body is not valid UTF-8"


async def _checked_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_TOTAL_CHARS * 4:
        raise PayloadTooLarge(f"Request bodies are limited to {MAX_TOTAL_CHARS * 4} bytes", code="pii.too_large")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEncoding("The body must be UTF-8 JSON") from None
    return body


def _limits(texts: list[str]) -> None:
    if len(texts) > MAX_TEXTS:
        raise PayloadTooLarge(f"At most {MAX_TEXTS} texts per request", code="pii.too_many_texts")
    longest = max((len(t) for t in texts), default=0)
    if longest > MAX_TEXT_CHARS:
        raise PayloadTooLarge(f"Each text is limited to {MAX_TEXT_CHARS} characters", code="pii.text_too_large")
    if sum(len(t) for t in texts) > MAX_TOTAL_CHARS:
        raise PayloadTooLarge(f"A request is limited to {MAX_TOTAL_CHARS} characters", code="pii.too_large")


T = TypeVar("T", bound=BaseModel)


def _parse(model: type[T], body: bytes) -> T:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "code": e["type"], "message": e["msg"]}
            for e in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise Invalid("The request failed validation", errors=errors) from None


def _body_schema(model: type[BaseModel]) -> dict[str, object]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def _tenant_config(request: Request, actor: Actor) -> Path:
    return get_runtime(request).settings.resolved_pii_dir / f"{actor.tenant_id}.yaml"


@router.post("/scan", openapi_extra=_body_schema(ScanRequest))
async def scan(request: Request, actor: CurrentActor, db_session: DbSession) -> ScanResponse:
    """Find personal data in a batch of texts: type, start, end (Python offsets), score."""
    scan_in = _parse(ScanRequest, await _checked_body(request))
    _limits(scan_in.texts)
    enforce(db_session, actor, "pii.scan", Resource(type="text", tenant_id=actor.tenant_id))
    results = service.scan(scan_in.texts, entities=scan_in.entities, recognizers=_tenant_config(request, actor))
    return ScanResponse(results=[[EntityOut(**e.as_json()) for e in found] for found in results])


@router.post("/redact", openapi_extra=_body_schema(RedactRequest))
async def redact(request: Request, actor: CurrentActor, db_session: DbSession) -> RedactResponse:
    """Redact a batch of texts with one operator, or one per entity type."""
    redact_in = _parse(RedactRequest, await _checked_body(request))
    _limits(redact_in.texts)
    enforce(db_session, actor, "pii.redact", Resource(type="text", tenant_id=actor.tenant_id))
    per_type = redact_in.per_type or {}
    mode = {t: per_type.get(t, redact_in.mode) for t in {*ENTITY_TYPES, *per_type}} if per_type else redact_in.mode
    # Ed25519 signatures are deterministic: signing a fixed label gives a stable tenant secret
    # that only the keyring can produce, so hashes are linkable within a tenant and nowhere else.
    key = get_runtime(request).keyring.sign(f"pii-hash:{actor.tenant_id}", b"callvault/pii-hash/v1")[:32]
    texts = service.redact(
        redact_in.texts,
        mode=mode,
        entities=redact_in.entities,
        hash_key=key,
        recognizers=_tenant_config(request, actor),
    )
    return RedactResponse(texts=texts)


class StreamSegment(BaseModel):
    """One WebSocket message: a piece of transcript, and whether the utterance ends here."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr
    final: StrictBool = False


KEY_RECHECK_SECONDS = 30.0
"""How often an open stream re-checks its API key and tenant (revocation, suspension).
``app.state.pii_key_recheck_seconds`` overrides it (tests)."""

# RFC 6455 close codes
_POLICY_VIOLATION = 1008
_UNSUPPORTED_DATA = 1003


def _authenticate(runtime: Runtime, api_key: str) -> Actor:
    with runtime.sessions() as db_session:
        actor: Actor = identity.authenticate(db_session=db_session, api_key=api_key)
    with runtime.sessions() as db_session, db_session.begin():
        enforce(db_session, actor, "pii.redact", Resource(type="text", tenant_id=actor.tenant_id))
    return actor


def _segment(raw: str) -> StreamSegment | None:
    try:
        return StreamSegment.model_validate_json(raw)
    except ValidationError:
        return None


@stream_router.websocket("/stream")
async def stream(websocket: WebSocket, mode: str = "mask") -> None:
    """Send `{"text": "...", "final": false}` text frames; receive `{"text": safe redacted text}`.

    Authenticate with `Authorization: Bearer <key>` on the upgrade request. The key and its
    tenant are checked again at least every 30 s: a revoked key or a suspended tenant
    closes the stream with 1008. A binary frame closes it with 1003; a message that is not
    `{"text": <string>, "final": <bool>}` is answered with `{"error": "request.invalid"}`."""
    runtime = websocket.app.state.runtime
    api_key = websocket.headers.get("authorization", "").removeprefix("Bearer ").strip()
    try:
        actor = await run_in_threadpool(_authenticate, runtime, api_key)  # database I/O off the event loop
    except CallVaultError as error:
        await websocket.close(code=_POLICY_VIOLATION, reason=error.code)
        return
    if mode not in MODES or mode == "token":
        await websocket.close(code=_UNSUPPORTED_DATA, reason="pii.mode_invalid")
        return
    await websocket.accept()
    interval = float(getattr(websocket.app.state, "pii_key_recheck_seconds", KEY_RECHECK_SECONDS))
    checked_at = clock.now()
    config = runtime.settings.resolved_pii_dir / f"{actor.tenant_id}.yaml"
    redactor = StreamingRedactor(service.engine_for(recognizers=config), mode)
    while True:
        waited = (clock.now() - checked_at).total_seconds()
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=max(0.0, interval - waited))
        except TimeoutError:
            message = None
        if message is not None and message["type"] == "websocket.disconnect":
            return
        if (clock.now() - checked_at).total_seconds() >= interval or message is None:
            try:
                await run_in_threadpool(_authenticate, runtime, api_key)
            except CallVaultError as error:
                await websocket.close(code=_POLICY_VIOLATION, reason=error.code)
                return
            checked_at = clock.now()
        if message is None:
            continue
        if message.get("text") is None:  # a binary frame: this protocol is JSON text only
            await websocket.send_json({"error": "request.binary_frame"})
            await websocket.close(code=_UNSUPPORTED_DATA, reason="request.binary_frame")
            return
        segment = _segment(message["text"])
        if segment is None:
            await websocket.send_json({"error": "request.invalid"})
            continue
        if len(segment.text) > MAX_TEXT_CHARS:
            await websocket.send_json({"error": "pii.text_too_large", "limit": MAX_TEXT_CHARS})
            continue
        out = redactor.feed(segment.text)
        if segment.final:
            out += redactor.flush()
        await websocket.send_json({"text": out, "final": segment.final})


__all__ = ["router", "stream_router"]
