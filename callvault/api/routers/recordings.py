"""Recordings: streamed upload, gated playback with HTTP Range, transcripts, secure pause."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio.from_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from callvault.api.deps import CurrentActor, DbSession, get_runtime, in_transaction
from callvault.api.problem import problem_response, problem_responses
from callvault.core.errors import Invalid
from callvault.recordings import service
from callvault.recordings.schemas import (
    AUDIO_TYPES,
    PlaybackLinkCreate,
    PlaybackLinkRead,
    RecordingCreate,
    RecordingRead,
    RecordingSettingsRead,
    RecordingSettingsUpdate,
    SecurePauseRead,
    SecurePauseStart,
    TranscriptCreate,
    TranscriptRead,
)

router = APIRouter(tags=["recordings"])

CallId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[\w.\-:@]+$")]
Variant = Literal["redacted", "original"]


def _from_request(request: Request) -> Iterator[bytes]:
    """The request body as a sync iterator for a worker thread: each chunk fetched on the
    event loop as the thread asks for it (nothing buffered beyond one chunk)."""
    stream: AsyncIterator[bytes] = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while True:
        chunk = anyio.from_thread.run(next_chunk)
        if chunk is None:
            return
        if chunk:
            yield chunk


@router.post(
    "/v1/recordings:upload",
    status_code=201,
    responses=problem_responses(404, 409, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary", "minLength": 1}}
                for media in sorted(AUDIO_TYPES)
            },
        }
    },
)
async def upload_recording(
    request: Request,
    actor: CurrentActor,
    call_id: Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[\w.\-:@/]+$")],
    started_at: datetime | None = None,
    retention_class: Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")] = "recording",
    content_type: Annotated[str, Header()] = "",
) -> RecordingRead:
    """Stream one recording of a call (any size: WAV, MP3, Opus... stored as opaque bytes),
    sealed segment by segment on its way to the blob store. Scope `recordings:write`.
    A 16-bit PCM WAV also gets a redacted copy (secure pauses at once, PII spans once the
    transcript arrives)."""
    if request.headers.get("content-length") == "0":
        raise Invalid("The recording is empty", code="recording.empty")
    recording_in = RecordingCreate(call_id=call_id, started_at=started_at, retention_class=retention_class)
    runtime = get_runtime(request)
    return await run_in_threadpool(
        lambda: service.upload(
            runtime=runtime,
            actor=actor,
            recording_in=recording_in,
            content_type=content_type,
            chunks=_from_request(request),
        )
    )


@router.get("/v1/recordings/{recording_id:id}", responses=problem_responses(404))
async def get_recording(recording_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> RecordingRead:
    """Metadata: times, digest, redaction state, blanked intervals (the timeline's locks)."""
    return await in_transaction(db_session, service.get_or_raise, actor=actor, recording_id=recording_id)


def _audio_response(request: Request, stream: service.AudioStream) -> Response:
    return StreamingResponse(
        stream.body, status_code=stream.status, headers=stream.headers, media_type=stream.media_type
    )


def _range_refused(request: Request, error: service.RangeNotSatisfiable) -> Response:
    response = problem_response(request, status=416, code=error.code, title=error.title, detail=error.detail)
    response.headers["Content-Range"] = f"bytes */{error.size}"
    return response


_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"audio/wav": {}}, "description": "The whole audio"},
    206: {"description": "One byte range (`Range: bytes=a-b`)"},
    **problem_responses(404, 409),
    416: {
        "description": "The range lies outside the audio (`Content-Range: bytes */size`)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


@router.get("/v1/recordings/{recording_id:id}/audio", responses=_AUDIO_RESPONSES, response_class=Response)
async def play_recording(
    request: Request,
    recording_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    variant: Variant = "redacted",
    link: Annotated[str | None, Query(max_length=100)] = None,
    reason: Annotated[str | None, Query(max_length=500)] = None,
    range_header: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """Play (stream) the redacted copy, or the original where the policy allows, with HTTP
    Range: only the 64 KiB segments a range spans are decrypted. Without `link` it needs
    a recent step-up (`recording.play`); with a playback link of this session
    (`POST .../playback`) it needs none while the link lives. Each request is audited."""
    try:
        stream = await in_transaction(
            db_session,
            service.open_audio,
            actor=actor,
            recording_id=recording_id,
            variant=variant,
            range_header=range_header,
            link=link,
            reason=reason,
        )
    except service.RangeNotSatisfiable as error:
        return _range_refused(request, error)
    return _audio_response(request, stream)


@router.get("/v1/recordings/{recording_id:id}/download", responses=_AUDIO_RESPONSES, response_class=Response)
async def download_recording(
    request: Request,
    recording_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    variant: Variant = "redacted",
    reason: Annotated[str | None, Query(max_length=500)] = None,
    range_header: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """Download a copy to keep (`recording.download`, a separate action: interns and
    agents are refused by default)."""
    try:
        stream = await in_transaction(
            db_session,
            service.open_audio,
            actor=actor,
            recording_id=recording_id,
            variant=variant,
            range_header=range_header,
            download=True,
            reason=reason,
        )
    except service.RangeNotSatisfiable as error:
        return _range_refused(request, error)
    return _audio_response(request, stream)


@router.post("/v1/recordings/{recording_id:id}/playback", status_code=201, responses=problem_responses(404, 409))
async def create_playback_link(
    recording_id: uuid.UUID, link_in: PlaybackLinkCreate, actor: CurrentActor, db_session: DbSession
) -> PlaybackLinkRead:
    """After a step-up: a short-lived playback link bound to this session."""
    return await in_transaction(
        db_session, service.create_playback_link, actor=actor, recording_id=recording_id, link_in=link_in
    )


@router.post("/v1/recordings/{recording_id:id}/transcript", status_code=201, responses=problem_responses(404, 409))
async def add_transcript(
    recording_id: uuid.UUID, transcript_in: TranscriptCreate, actor: CurrentActor, db_session: DbSession
) -> RecordingRead:
    """Store the ASR transcript (sealed) and its redacted version; with word timestamps,
    rebuild the redacted audio so PII spans are a tone. Scope `recordings:write`."""
    return await in_transaction(
        db_session, service.add_transcript, actor=actor, recording_id=recording_id, transcript_in=transcript_in
    )


@router.get("/v1/recordings/{recording_id:id}/transcript", responses=problem_responses(404))
async def read_transcript(
    recording_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    variant: Variant = "redacted",
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> TranscriptRead:
    """The redacted transcript; the original only where the policy grants it."""
    return await in_transaction(
        db_session, service.read_transcript, actor=actor, recording_id=recording_id, variant=variant, reason=reason
    )


@router.post("/v1/calls/{call_id}/secure-pause", status_code=201, responses=problem_responses(404))
async def start_secure_pause(
    call_id: CallId, pause_in: SecurePauseStart, actor: CurrentActor, db_session: DbSession
) -> SecurePauseRead:
    """Secure pause (agent button, API or DTMF): what is said until resume, or until
    `max_seconds`, is blanked in the stored recording and transcript."""
    return await in_transaction(db_session, service.start_secure_pause, actor=actor, call_id=call_id, pause_in=pause_in)


@router.post("/v1/calls/{call_id}/resume", responses=problem_responses(404, 409))
async def end_secure_pause(call_id: CallId, actor: CurrentActor, db_session: DbSession) -> SecurePauseRead:
    return await in_transaction(db_session, service.end_secure_pause, actor=actor, call_id=call_id)


@router.get("/v1/recordings-settings")
async def get_recording_settings(actor: CurrentActor, db_session: DbSession) -> RecordingSettingsRead:
    return await in_transaction(db_session, service.get_settings, actor=actor)


@router.patch("/v1/recordings-settings")
async def update_recording_settings(
    settings_in: RecordingSettingsUpdate, actor: CurrentActor, db_session: DbSession
) -> RecordingSettingsRead:
    """Keep originals and redacted copies (default), or redacted copies only."""
    return await in_transaction(db_session, service.update_settings, actor=actor, settings_in=settings_in)
