"""Recordings and transcripts: the whole surface of the capability.

Audio is sealed as it streams in (``crypto.stream``, 64 KiB segments) under a key derived
from the customer's data key and the recording id, so erasing the customer (destroying
that key) leaves every copy unreadable. The redacted copy (PII spans and secure pauses
replaced by a tone or silence) is what playback serves by default; the original is a
separate action. Every decision goes through the PDP and into the audit log: each
playback, each range request, each transcript read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.pdp import Resource, enforce, record_failure
from callvault.calls.models import LiveCall
from callvault.core import clock
from callvault.core.db import tenant_session
from callvault.core.errors import CallVaultError, Conflict, DecryptionFailed, Forbidden, Invalid, NotFound
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import (
    DataKey,
    StreamKey,
    check_tenant_public_key,
    derive_stream_key,
    new_tenant_sealed_key,
    open_stream,
    open_stream_range,
    seal_stream,
    stream_plain_size,
    tenant_key_id,
)
from callvault.pii import service as pii
from callvault.recordings.audio import (
    Fill,
    Interval,
    WavFormat,
    check_words,
    joined_text,
    merge_intervals,
    parse_wav_header,
    redact_wav,
    word_intervals,
)
from callvault.recordings.models import PlaybackLink, Recording, RecordingSettings, SecurePause, Transcript
from callvault.recordings.schemas import (
    AUDIO_TYPES,
    WAV_TYPES,
    BlankedInterval,
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
    TranscriptSegment,
    Word,
)
from callvault.vault.fields.service import open_subject_key, tenant_keys, time_ordered_uuid

__all__ = [
    "PLAYBACK_LINK_SECONDS",
    "AudioStream",
    "RangeNotSatisfiable",
    "UnsupportedAudio",
    "add_transcript",
    "create_playback_link",
    "delete_recording",
    "end_secure_pause",
    "get_or_raise",
    "get_settings",
    "open_audio",
    "read_transcript",
    "recordings_of_customer",
    "set_retention",
    "start_secure_pause",
    "update_settings",
    "upload",
    "verify",
]

PLAYBACK_LINK_SECONDS = 15 * 60
"""A playback link lives this long (and no longer than the session that asked for it)."""
LINK_PREFIX = "cvp_"
_HEADER_PROBE = 64 * 1024
_PAUSE = "secure_pause"


class UnsupportedAudio(CallVaultError):
    status = 415
    code = "recording.unsupported_type"
    title = "Unsupported media type"


class RangeNotSatisfiable(CallVaultError):
    """The Range header asks for bytes outside the audio; ``size`` goes in Content-Range."""

    status = 416
    code = "recording.range_not_satisfiable"
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The audio has {size} bytes")
        self.size = size


@dataclass
class AudioStream:
    """What a playback answers: status (200 or 206), headers and the plaintext bytes."""

    status: int
    headers: dict[str, str]
    body: Iterator[bytes]
    media_type: str
    extra: dict[str, Any] = field(default_factory=dict)


# -- helpers ----------------------------------------------------------------------------------
def _not_found() -> NotFound:
    return NotFound("Recording not found", code="recording.not_found")


def _resource(actor: Actor, recording_id: uuid.UUID | str | None, rec: Recording | None = None) -> Resource:
    ident = None if recording_id is None else str(recording_id)
    if rec is None:
        return Resource(type="recording", tenant_id=actor.tenant_id, id=ident)
    return Resource(
        type="recording", tenant_id=actor.tenant_id, id=ident, subject_id=str(rec.customer_id), owner=rec.agent
    )


def _blob_key(tenant_id: str, recording_id: uuid.UUID, variant: str) -> str:
    """Opaque ids only: no name, number or call id in the key."""
    return f"recordings/{tenant_id}/{recording_id}/{variant}"


def _stream_key(dek: DataKey, tenant_id: str, recording_id: uuid.UUID, variant: str) -> StreamKey:
    return derive_stream_key(dek, f"recording/{tenant_id}/{recording_id}/{variant}")


def _dek(db_session: Session, tenant_id: str, key_id: uuid.UUID) -> DataKey:
    keys = tenant_keys(db_session=db_session, tenant_id=tenant_id)
    return open_subject_key(db_session=db_session, keys=keys, key_id=key_id)


def _customer_key_id(db_session: Session, tenant_id: str, customer_id: uuid.UUID) -> uuid.UUID | None:
    # the vault exposes no lookup of a customer's key id without a PDP decision on the
    # customer; the recording's own decision covers this read of one id
    from callvault.vault.customers.models import Customer

    return db_session.scalar(
        select(Customer.subject_key_id).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
    )


def _call(db_session: Session, tenant_id: str, call_id: str) -> LiveCall | None:
    # the agent and customer of the call (calls.service decides call.read for people, not
    # the recorder's binding lookup)
    return db_session.get(LiveCall, (tenant_id, call_id))


def _settings(db_session: Session, tenant_id: str) -> RecordingSettings:
    row = db_session.get(RecordingSettings, tenant_id)
    if row is None:
        return RecordingSettings(
            tenant_id=tenant_id, keep_original=True, redaction_fill="tone", margin_ms=150, updated_by="default"
        )
    return row


def _blanked(rec: Recording) -> list[BlankedInterval]:
    return [BlankedInterval(**item) for item in rec.blanked or []]


def _read(rec: Recording, has_transcript: bool) -> RecordingRead:
    redaction = rec.redaction_state
    return RecordingRead(
        id=rec.id,
        call_id=rec.call_id,
        customer_id=rec.customer_id,
        agent=rec.agent,
        content_type=rec.content_type,
        started_at=rec.started_at,
        duration_seconds=None if rec.duration_ms is None else rec.duration_ms / 1000,
        sample_rate=rec.sample_rate,
        channels=rec.channels,
        size=rec.size,
        sha256=rec.sha256,
        original=cast(Any, rec.original_state),
        redaction=cast(Any, redaction),
        redacted_size=rec.redacted_size,
        blanked=_blanked(rec),
        has_transcript=has_transcript,
        retention_class=rec.retention_class,
        legal_hold=rec.legal_hold,
        created_at=rec.created_at,
    )


def _has_transcript(db_session: Session, rec: Recording) -> bool:
    return db_session.get(Transcript, (rec.tenant_id, rec.id)) is not None


def _pause_intervals(db_session: Session, tenant_id: str, call_id: str, started_at: datetime) -> list[Interval]:
    """The call's secure pauses as seconds from ``started_at`` (an open pause runs to its
    maximum duration, or now if that comes first)."""
    now = clock.now()
    out = []
    for pause in db_session.scalars(
        select(SecurePause).where(SecurePause.tenant_id == tenant_id, SecurePause.call_id == call_id)
    ):
        limit = pause.started_at + timedelta(seconds=pause.max_seconds)
        end = pause.ended_at or min(limit, max(now, pause.started_at))
        end = min(end, limit)
        start_s = (pause.started_at - started_at).total_seconds()
        end_s = (end - started_at).total_seconds()
        if end_s > 0 and end_s > start_s:
            out.append(Interval(max(0.0, start_s), end_s, _PAUSE))
    return merge_intervals(out)


class _Digest:
    """SHA-256 and size of the plaintext as it streams through."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def watch(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if chunk:
                self.hash.update(chunk)
                self.size += len(chunk)
                yield chunk


def _probe_header(chunks: Iterable[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The first 64 KiB (or all, if shorter) and an iterator over everything, unchanged."""
    source = iter(chunks)
    head = bytearray()
    for chunk in source:
        head += chunk
        if len(head) >= _HEADER_PROBE:
            break
    first = bytes(head)

    def everything() -> Iterator[bytes]:
        if first:
            yield first
        yield from source

    return first, everything()


def _blank_while_streaming(
    chunks: Iterable[bytes], intervals: list[Interval], fill: Fill
) -> tuple[WavFormat | None, Iterator[bytes]]:
    """Parse the WAV header from the stream; blank ``intervals`` (secure pauses) before
    anything is stored. Not a PCM WAV: the bytes pass unchanged and the format is None."""
    head, stream = _probe_header(chunks)
    try:
        fmt = parse_wav_header(head, 2**62)
    except Invalid:
        return None, stream
    if intervals:
        return fmt, redact_wav(stream, fmt, intervals, fill)
    return fmt, stream


# -- upload -----------------------------------------------------------------------------------
def upload(
    *, runtime: Runtime, actor: Actor, recording_in: RecordingCreate, content_type: str, chunks: Iterable[bytes]
) -> RecordingRead:
    """Store one recording of a call, streamed: sealed segment by segment on its way to the
    blob store (never whole in memory, never in the clear on disk). The blob appears
    whole or not at all; an interrupted upload leaves nothing and may be retried.

    Secure pauses of the call are blanked in what is stored. A 16-bit PCM WAV also gets
    its redacted copy at once (pauses only, until the transcript names PII spans)."""
    media = content_type.split(";")[0].strip().lower()
    recording_id = time_ordered_uuid()
    with tenant_session(runtime.sessions, actor.tenant_id) as db_session:
        call = _call(db_session, actor.tenant_id, recording_in.call_id)
        if call is None:
            enforce(db_session, actor, "recording.upload", _resource(actor, recording_id), outcome="not_found")
            raise NotFound("Call not found", code="call.not_found")
        resource = Resource(
            type="recording",
            tenant_id=actor.tenant_id,
            id=str(recording_id),
            subject_id=str(call.customer_id),
            owner=call.agent,
        )
        enforce(db_session, actor, "recording.upload", resource)
        if media not in AUDIO_TYPES:
            record_failure(db_session, actor, "recording.upload", resource, UnsupportedAudio.code)
            raise UnsupportedAudio("Send audio/wav, audio/mpeg, audio/ogg, audio/opus, audio/webm, audio/flac")
        key_id = _customer_key_id(db_session, actor.tenant_id, call.customer_id)
        if key_id is None:
            record_failure(db_session, actor, "recording.upload", resource, "customer.not_found")
            raise NotFound("Customer not found", code="customer.not_found")
        dek = _dek(db_session, actor.tenant_id, key_id)
        settings = _settings(db_session, actor.tenant_id)
        fill = cast(Fill, settings.redaction_fill)
        tenant_public = settings.tenant_public_key
        started_at = recording_in.started_at or call.started_at
        pauses = _pause_intervals(db_session, actor.tenant_id, call.id, started_at)
        call_facts = (call.id, call.customer_id, call.agent)
    store = runtime.blobs
    # tenant-held keys: what arrives is kept under the customer's key as a working copy
    # (redaction needs to read it) and sealed to the tenant below
    first_variant = "original" if tenant_public is None else "working"
    blob = _blob_key(actor.tenant_id, recording_id, first_variant)
    digest = _Digest()
    try:
        fmt: WavFormat | None = None
        plain: Iterable[bytes] = chunks
        if media in WAV_TYPES:
            fmt, plain = _blank_while_streaming(plain, pauses, fill)
        # the digest of what is stored (secure pauses blanked): what an integrity check can verify
        sealed = seal_stream(_stream_key(dek, actor.tenant_id, recording_id, first_variant), digest.watch(plain))
        store.put(blob, sealed)
        if digest.size == 0:
            store.delete(blob)
            raise Invalid("The recording is empty", code="recording.empty")
    except BaseException as error:
        code = error.code if isinstance(error, CallVaultError) else "recording.upload_interrupted"
        with tenant_session(runtime.sessions, actor.tenant_id) as db_session:
            record_failure(db_session, actor, "recording.upload", resource, code)
        raise
    if fmt is not None:
        fmt = WavFormat(
            fmt.sample_rate, fmt.channels, fmt.bits, fmt.data_offset, min(fmt.data_size, digest.size - fmt.data_offset)
        )
    now = clock.now()
    try:
        with tenant_session(runtime.sessions, actor.tenant_id) as db_session:
            rec = Recording(
                tenant_id=actor.tenant_id,
                id=recording_id,
                call_id=call_facts[0],
                customer_id=call_facts[1],
                agent=call_facts[2],
                subject_key_id=key_id,
                content_type=media,
                started_at=started_at,
                duration_ms=None if fmt is None else round(fmt.duration * 1000),
                sample_rate=None if fmt is None else fmt.sample_rate,
                channels=None if fmt is None else fmt.channels,
                size=digest.size,
                sha256=digest.hash.hexdigest(),
                original_blob=blob if tenant_public is None else None,
                working_blob=None if tenant_public is None else blob,
                original_state="sealed",
                redaction_state="unsupported" if fmt is None else "pending_transcript",
                blanked=[{"start": i.start, "end": i.end, "why": i.why} for i in pauses],
                retention_class=recording_in.retention_class,
                legal_hold=False,
                uploaded_by=actor.actor_id,
                created_at=now,
            )
            if tenant_public is not None:
                _seal_to_tenant(runtime, rec, dek, tenant_public)
            db_session.add(rec)
            db_session.flush()
            if fmt is not None:
                _build_redacted(runtime, rec, dek, fmt, pauses, fill)
            if fmt is None and rec.working_blob is not None:  # nothing to redact: no reason to keep it
                store.delete(rec.working_blob)
                rec.working_blob = None
            return _read(rec, has_transcript=False)
    except BaseException:
        for variant in ("original", "working", "redacted"):
            store.delete(_blob_key(actor.tenant_id, recording_id, variant))
        raise


def _source(rec: Recording) -> tuple[str, str] | None:
    """The copy the server can read: ``(blob, variant)``, the working copy first."""
    if rec.working_blob is not None:
        return rec.working_blob, "working"
    if rec.original_blob is not None and rec.original_state == "sealed":
        return rec.original_blob, "original"
    return None


def _seal_to_tenant(runtime: Runtime, rec: Recording, dek: DataKey, public_key: bytes) -> None:
    """Copy the working copy into an original sealed to the tenant's public key."""
    store = runtime.blobs
    assert rec.working_blob is not None
    context = f"recording/{rec.tenant_id}/{rec.id}/original"
    key, wrapped = new_tenant_sealed_key(public_key, context)
    plain = open_stream(_stream_key(dek, rec.tenant_id, rec.id, "working"), store.get(rec.working_blob))
    blob = _blob_key(rec.tenant_id, rec.id, "original")
    store.put(blob, seal_stream(key, plain))
    rec.original_blob = blob
    rec.original_state = "tenant_sealed"
    rec.original_wrapped_key = wrapped


def _format_of(runtime: Runtime, rec: Recording, dek: DataKey) -> WavFormat | None:
    source = _source(rec)
    if source is None:
        return None
    blob, variant = source
    store = runtime.blobs
    sealed_size = store.size(blob)
    key = _stream_key(dek, rec.tenant_id, rec.id, variant)
    head = b"".join(open_stream_range(key, lambda a, b: store.get(blob, a, b), sealed_size, 0, _HEADER_PROBE))
    try:
        return parse_wav_header(head, stream_plain_size(sealed_size))
    except Invalid:
        return None


def _build_redacted(
    runtime: Runtime, rec: Recording, dek: DataKey, fmt: WavFormat, intervals: list[Interval], fill: Fill
) -> None:
    """(Re)build the redacted copy from the sealed original, streamed, and note it on the row."""
    store = runtime.blobs
    readable = _source(rec)
    assert readable is not None
    blob_name, variant = readable
    source = open_stream(_stream_key(dek, rec.tenant_id, rec.id, variant), store.get(blob_name))
    digest = _Digest()
    redacted = digest.watch(redact_wav(source, fmt, intervals, fill))
    blob = _blob_key(rec.tenant_id, rec.id, "redacted")
    store.put(blob, seal_stream(_stream_key(dek, rec.tenant_id, rec.id, "redacted"), redacted))
    rec.redacted_blob = blob
    rec.redacted_size = digest.size
    rec.redacted_sha256 = digest.hash.hexdigest()


# -- reads --------------------------------------------------------------------------------------
def _load(
    db_session: Session, actor: Actor, action: str, recording_id: uuid.UUID, purpose: str | None = None
) -> Recording:
    rec = db_session.get(Recording, (actor.tenant_id, recording_id))
    if rec is None:
        enforce(db_session, actor, action, _resource(actor, recording_id), purpose=purpose, outcome="not_found")
        raise _not_found()
    enforce(db_session, actor, action, _resource(actor, recording_id, rec), purpose=purpose)
    return rec


def get_or_raise(*, db_session: Session, actor: Actor, recording_id: uuid.UUID) -> RecordingRead:
    rec = _load(db_session, actor, "recording.read", recording_id)
    return _read(rec, _has_transcript(db_session, rec))


# -- transcripts --------------------------------------------------------------------------------
def _field_context(db_session: Session, rec: Recording, column: str) -> Any:
    keys = tenant_keys(db_session=db_session, tenant_id=rec.tenant_id)
    return keys.context("transcript", column, rec.id)


def _inside(start: float, end: float, intervals: list[Interval]) -> bool:
    return any(start < i.end and i.start < end for i in intervals)


def _blank_pauses(segments: list[TranscriptSegment], pauses: list[Interval]) -> list[TranscriptSegment]:
    """Segments with everything said during a secure pause removed: words inside a pause
    dropped (the text rebuilt from the rest), a segment without words dropped whole."""
    if not pauses:
        return segments
    out = []
    for segment in segments:
        if not _inside(segment.start, segment.end, pauses):
            out.append(segment)
            continue
        if not segment.words:
            out.append(segment.model_copy(update={"text": "", "words": None}))
            continue
        kept = [w for w in segment.words if not _inside(w.start, w.end, pauses)]
        out.append(segment.model_copy(update={"text": " ".join(w.word for w in kept), "words": kept}))
    return out


def _redacted_segments(segments: list[TranscriptSegment], spans: list[tuple[int, int, str]]) -> list[TranscriptSegment]:
    """The PII engine's tagged text per segment; words touched by a span over the joined
    words become the span's tag (``<BANK_CARD>``), with their times kept."""
    texts = pii.redact([segment.text for segment in segments], mode="tag")
    all_words = [w for segment in segments for w in (segment.words or [])]
    _, offsets = joined_text([w.word for w in all_words])
    tags: dict[int, str] = {}
    for start, end, kind in spans:
        for index, word in enumerate(all_words):
            if offsets[index] < end and start < offsets[index] + len(word.word):
                tags[index] = f"<{kind}>"
    out = []
    position = 0
    for segment, text in zip(segments, texts, strict=True):
        words = None
        if segment.words is not None:
            words = [
                Word(word=tags.get(position + i, w.word), start=w.start, end=w.end) for i, w in enumerate(segment.words)
            ]
            position += len(segment.words)
        out.append(
            TranscriptSegment(speaker=segment.speaker, start=segment.start, end=segment.end, text=text, words=words)
        )
    return out


def add_transcript(
    *, db_session: Session, actor: Actor, recording_id: uuid.UUID, transcript_in: TranscriptCreate
) -> RecordingRead:
    """Store the ASR transcript sealed, with its redacted version made by the PII engine at
    once; blank secure pauses in both; with word timestamps, rebuild the redacted audio
    so every PII span (a spoken card number, a code) is a tone. Redacted-only tenants
    lose the original audio and transcript here."""
    runtime = runtime_of(db_session)
    rec = _load(db_session, actor, "transcript.upload", recording_id)
    resource = _resource(actor, recording_id, rec)
    duration = None if rec.duration_ms is None else rec.duration_ms / 1000
    segments = transcript_in.segments
    for index, segment in enumerate(segments):
        if segment.end < segment.start or (duration is not None and segment.end > duration + 1e-3):
            bad = Invalid(f"Segment {index}: start/end outside the audio", code="transcript.bad_timestamps")
            record_failure(db_session, actor, "transcript.upload", resource, bad.code)
            raise bad
    words = [w for segment in segments for w in (segment.words or [])]
    try:
        check_words([(w.start, w.end) for w in words], duration)
    except Invalid as invalid:
        record_failure(db_session, actor, "transcript.upload", resource, invalid.code)
        raise
    if _has_transcript(db_session, rec):
        exists = Conflict("The recording has a transcript", code="transcript.exists")
        record_failure(db_session, actor, "transcript.upload", resource, exists.code)
        raise exists
    settings = _settings(db_session, actor.tenant_id)
    pauses = _pause_intervals(db_session, actor.tenant_id, rec.call_id, rec.started_at)
    kept = _blank_pauses(list(segments), pauses)
    kept_words = [w for segment in kept for w in (segment.words or [])]
    joined, _ = joined_text([w.word for w in kept_words])
    found = pii.scan([joined])[0] if joined else []
    spans = [(e.start, e.end, e.type) for e in found]
    redacted = _redacted_segments(kept, spans)
    try:
        dek = _dek(db_session, actor.tenant_id, rec.subject_key_id)
    except DecryptionFailed as error:
        record_failure(db_session, actor, "transcript.upload", resource, error.code)
        raise
    intervals = merge_intervals(
        [
            *pauses,
            *word_intervals(
                [(w.word, w.start, w.end) for w in kept_words],
                spans,
                margin=settings.margin_ms / 1000,
                duration=duration,
            ),
        ]
    )
    original_json = json.dumps([s.model_dump() for s in kept], ensure_ascii=False)
    redacted_json = json.dumps([s.model_dump() for s in redacted], ensure_ascii=False)
    db_session.add(
        Transcript(
            tenant_id=actor.tenant_id,
            recording_id=rec.id,
            subject_key_id=rec.subject_key_id,
            language=transcript_in.language,
            segment_count=len(kept),
            original_ct=dek.seal(original_json, _field_context(db_session, rec, "original"))
            if settings.keep_original
            else None,
            redacted_ct=dek.seal(redacted_json, _field_context(db_session, rec, "redacted")),
            entities=len(spans),
            retention_class=rec.retention_class,
            legal_hold=rec.legal_hold,
            created_at=clock.now(),
        )
    )
    if rec.redaction_state in ("pending_transcript", "redacted") and _source(rec) is not None:
        fmt = _format_of(runtime, rec, dek)
        if fmt is not None:
            _build_redacted(runtime, rec, dek, fmt, intervals, cast(Fill, settings.redaction_fill))
            rec.redaction_state = "redacted"
            rec.blanked = [{"start": i.start, "end": i.end, "why": i.why} for i in intervals]
    if rec.working_blob is not None and rec.redaction_state == "redacted":
        runtime.blobs.delete(rec.working_blob)  # tenant-held keys: the server's readable copy ends here
        rec.working_blob = None
    if not settings.keep_original and rec.redacted_blob is not None and rec.original_blob is not None:
        runtime.blobs.delete(rec.original_blob)
        rec.original_blob = None
        rec.original_state = "discarded"
        rec.original_wrapped_key = None
    db_session.flush()
    return _read(rec, has_transcript=True)


def read_transcript(
    *, db_session: Session, actor: Actor, recording_id: uuid.UUID, variant: str = "redacted", reason: str | None = None
) -> TranscriptRead:
    """The redacted transcript (``transcript.read``), or the original
    (``transcript.read_original``, which the default policy gives only with a reason
    after a step-up)."""
    action = "transcript.read_original" if variant == "original" else "transcript.read"
    rec = _load(db_session, actor, action, recording_id, purpose=reason)
    resource = _resource(actor, recording_id, rec)
    row = db_session.get(Transcript, (actor.tenant_id, recording_id))
    sealed = None if row is None else (row.original_ct if variant == "original" else row.redacted_ct)
    if row is None or sealed is None:
        record_failure(db_session, actor, action, resource, "transcript.not_found")
        raise NotFound("No such transcript", code="transcript.not_found")
    try:
        dek = _dek(db_session, actor.tenant_id, row.subject_key_id)
        text = dek.open(sealed, _field_context(db_session, rec, "original" if variant == "original" else "redacted"))
    except DecryptionFailed as error:
        record_failure(db_session, actor, action, resource, error.code)
        raise
    segments = [TranscriptSegment.model_validate(item) for item in json.loads(text)]
    return TranscriptRead(
        recording_id=rec.id, variant=cast(Any, variant), language=row.language, segments=segments, blanked=_blanked(rec)
    )


# -- playback -----------------------------------------------------------------------------------
def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_playback_link(
    *, db_session: Session, actor: Actor, recording_id: uuid.UUID, link_in: PlaybackLinkCreate
) -> PlaybackLinkRead:
    """After the PDP allows ``recording.play`` (or ``recording.play_original``), which asks
    for a recent step-up: a link for this session only, valid ``PLAYBACK_LINK_SECONDS``,
    so a long review needs no step-up per range request."""
    action = "recording.play_original" if link_in.variant == "original" else "recording.play"
    rec = _load(db_session, actor, action, recording_id, purpose=link_in.reason)
    resource = _resource(actor, recording_id, rec)
    if actor.session_id is None:
        error = Forbidden("Playback links belong to a person's session", code="recording.session_required")
        record_failure(db_session, actor, action, resource, error.code)
        raise error
    _playable(db_session, actor, action, rec, link_in.variant)
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    expires = now + timedelta(seconds=PLAYBACK_LINK_SECONDS)
    db_session.add(
        PlaybackLink(
            tenant_id=actor.tenant_id,
            token_hash=_token_hash(token),
            recording_id=rec.id,
            variant=link_in.variant,
            session_id=actor.session_id,
            actor_id=actor.actor_id,
            created_at=now,
            expires_at=expires,
        )
    )
    db_session.flush()
    return PlaybackLinkRead(
        url=f"/v1/recordings/{rec.id}/audio?link={token}",
        token=token,
        variant=link_in.variant,
        expires_at=expires,
        duration_seconds=None if rec.duration_ms is None else rec.duration_ms / 1000,
        blanked=_blanked(rec),
    )


def _playable(db_session: Session, actor: Actor, action: str, rec: Recording, variant: str) -> str:
    """The blob of the variant, or a recorded failure."""
    blob = rec.original_blob if variant == "original" else rec.redacted_blob
    if blob is None:
        if variant == "original":
            error: CallVaultError = Conflict("The original is not kept", code="recording.original_not_kept")
        else:
            error = Conflict(
                "No redacted copy (not a 16-bit PCM WAV); the original is a separate action",
                code="recording.not_redacted",
            )
        record_failure(db_session, actor, action, _resource(actor, rec.id, rec), error.code)
        raise error
    return blob


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range, None for no header;
    RangeNotSatisfiable for anything out of bounds, malformed or multiple."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise RangeNotSatisfiable(size)
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                raise ValueError
            return max(0, size - suffix), size
        start = int(first)
        end = size - 1 if last == "" else min(int(last), size - 1)
        if start < 0 or start >= size or end < start:
            raise ValueError
        return start, end + 1
    except ValueError:
        raise RangeNotSatisfiable(size) from None


def _valid_link(db_session: Session, actor: Actor, recording_id: uuid.UUID, token: str) -> PlaybackLink | None:
    link = db_session.get(PlaybackLink, (actor.tenant_id, _token_hash(token)))
    if link is None or link.recording_id != recording_id or link.session_id != actor.session_id:
        return None
    if link.expires_at <= clock.now():
        return None
    return link


def open_audio(
    *,
    db_session: Session,
    actor: Actor,
    recording_id: uuid.UUID,
    variant: str = "redacted",
    range_header: str | None = None,
    link: str | None = None,
    download: bool = False,
    reason: str | None = None,
) -> AudioStream:
    """Plaintext audio, whole or one byte range, decrypting only the segments it spans.

    - ``download``: ``recording.download`` (a file to keep; interns and agents never);
    - ``link``: a playback link of this session (``recording.stream``, no new step-up);
    - else ``recording.play`` / ``recording.play_original`` (a recent step-up).
    Every request, each range included, is one audited decision."""
    runtime = runtime_of(db_session)
    found_link = None
    if link is not None:
        found_link = _valid_link(db_session, actor, recording_id, link)
        if found_link is not None:
            variant = found_link.variant
        action = "recording.stream"
    elif download:
        action = "recording.download"
    else:
        action = "recording.play_original" if variant == "original" else "recording.play"
    described = range_header.strip()[:60] if range_header else "whole"
    rec = _load(db_session, actor, action, recording_id, purpose=reason or f"{variant} audio, range {described}")
    if link is not None and found_link is None:
        # allowed to stream with a link, but this one is expired, of another session or recording
        invalid = Forbidden("The playback link is not valid for this session", code="recording.link_invalid")
        record_failure(db_session, actor, action, _resource(actor, recording_id, rec), invalid.code)
        raise invalid
    blob = _playable(db_session, actor, action, rec, variant)
    resource = _resource(actor, recording_id, rec)
    store = runtime.blobs
    if variant == "original" and rec.original_state == "tenant_sealed":
        if not download:
            error = Conflict(
                "The original is sealed to the tenant's key: download it and open it with the private key",
                code="recording.original_tenant_sealed",
            )
            record_failure(db_session, actor, action, resource, error.code)
            raise error
        # the sealed bytes as stored, and the key sealed to the tenant (the whole object: a
        # Range header is ignored, as RFC 9110 allows)
        wrapped = base64.b64encode(rec.original_wrapped_key or b"").decode("ascii")
        return AudioStream(
            200,
            {
                "Cache-Control": "no-store",
                "Content-Length": str(store.size(blob)),
                "Content-Disposition": f'attachment; filename="recording-{rec.id}-original.cvs"',
                "X-CallVault-Wrapped-Key": wrapped,
                "X-CallVault-Key-Context": f"recording/{rec.tenant_id}/{rec.id}/original",
            },
            store.get(blob),
            "application/octet-stream",
        )
    try:
        dek = _dek(db_session, actor.tenant_id, rec.subject_key_id)
        sealed_size = store.size(blob)
        size = stream_plain_size(sealed_size)
    except DecryptionFailed as error:
        record_failure(db_session, actor, action, resource, error.code)
        raise
    try:
        span = _parse_range(range_header, size)
    except RangeNotSatisfiable as error:
        record_failure(db_session, actor, action, resource, error.code)
        raise
    key = _stream_key(dek, rec.tenant_id, rec.id, variant)
    start, end = span if span is not None else (0, size)
    body = open_stream_range(key, lambda a, b: store.get(blob, a, b), sealed_size, start, end)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store", "Content-Length": str(end - start)}
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if download:
        suffix = "wav" if rec.content_type in WAV_TYPES else "bin"
        headers["Content-Disposition"] = f'attachment; filename="recording-{rec.id}-{variant}.{suffix}"'
    else:
        headers["Content-Disposition"] = "inline"
    return AudioStream(206 if span is not None else 200, headers, body, rec.content_type)


# -- secure pause -------------------------------------------------------------------------------
def _pause_read(pause: SecurePause) -> SecurePauseRead:
    limit = pause.started_at + timedelta(seconds=pause.max_seconds)
    return SecurePauseRead(
        id=pause.id,
        call_id=pause.call_id,
        started_at=pause.started_at,
        ended_at=pause.ended_at,
        max_seconds=pause.max_seconds,
        source=pause.source,
        active=pause.ended_at is None and clock.now() < limit,
    )


def _call_resource(actor: Actor, call_id: str, call: LiveCall | None) -> Resource:
    if call is None:
        return Resource(type="call", tenant_id=actor.tenant_id, id=call_id)
    return Resource(
        type="call", tenant_id=actor.tenant_id, id=call_id, subject_id=str(call.customer_id), owner=call.agent
    )


def start_secure_pause(
    *, db_session: Session, actor: Actor, call_id: str, pause_in: SecurePauseStart
) -> SecurePauseRead:
    """Nothing said from now until ``resume`` (or ``max_seconds``) is kept: blanked in the
    recording and transcript even if the recorder keeps running."""
    call = _call(db_session, actor.tenant_id, call_id)
    if call is None:
        enforce(db_session, actor, "call.secure_pause", _call_resource(actor, call_id, None), outcome="not_found")
        raise NotFound("Call not found", code="call.not_found")
    enforce(db_session, actor, "call.secure_pause", _call_resource(actor, call_id, call))
    now = clock.now()
    open_pause = _open_pause(db_session, actor.tenant_id, call_id, now)
    if open_pause is not None:
        return _pause_read(open_pause)  # pressing the button twice is one pause
    pause = SecurePause(
        tenant_id=actor.tenant_id,
        id=time_ordered_uuid(),
        call_id=call_id,
        started_at=now,
        max_seconds=pause_in.max_seconds,
        source=pause_in.source,
        started_by=actor.actor_id,
    )
    db_session.add(pause)
    db_session.flush()
    return _pause_read(pause)


def _open_pause(db_session: Session, tenant_id: str, call_id: str, now: datetime) -> SecurePause | None:
    for pause in db_session.scalars(
        select(SecurePause).where(
            SecurePause.tenant_id == tenant_id, SecurePause.call_id == call_id, SecurePause.ended_at.is_(None)
        )
    ):
        if now < pause.started_at + timedelta(seconds=pause.max_seconds):
            return pause
    return None


def end_secure_pause(*, db_session: Session, actor: Actor, call_id: str) -> SecurePauseRead:
    call = _call(db_session, actor.tenant_id, call_id)
    if call is None:
        enforce(db_session, actor, "call.secure_pause", _call_resource(actor, call_id, None), outcome="not_found")
        raise NotFound("Call not found", code="call.not_found")
    enforce(db_session, actor, "call.secure_pause", _call_resource(actor, call_id, call))
    now = clock.now()
    pause = _open_pause(db_session, actor.tenant_id, call_id, now)
    if pause is None:
        raise Conflict("No secure pause is running on this call", code="call.no_secure_pause")
    pause.ended_at = now
    db_session.flush()
    return _pause_read(pause)


# -- tenant settings ----------------------------------------------------------------------------
def _settings_read(row: RecordingSettings) -> RecordingSettingsRead:
    public = row.tenant_public_key
    return RecordingSettingsRead(
        keep_original=row.keep_original,
        redaction_fill=cast(Any, row.redaction_fill),
        margin_ms=row.margin_ms,
        tenant_key_id=None if public is None else str(tenant_key_id(public)),
    )


def get_settings(*, db_session: Session, actor: Actor) -> RecordingSettingsRead:
    enforce(
        db_session, actor, "recording.settings.read", Resource(type="recording_settings", tenant_id=actor.tenant_id)
    )
    return _settings_read(_settings(db_session, actor.tenant_id))


def update_settings(
    *, db_session: Session, actor: Actor, settings_in: RecordingSettingsUpdate
) -> RecordingSettingsRead:
    """Keep originals and redacted copies (default), or redacted copies only."""
    enforce(
        db_session, actor, "recording.settings.update", Resource(type="recording_settings", tenant_id=actor.tenant_id)
    )
    row = db_session.get(RecordingSettings, actor.tenant_id)
    if row is None:
        row = _settings(db_session, actor.tenant_id)
        db_session.add(row)
    changes = settings_in.model_dump(exclude_unset=True)
    encoded = changes.pop("tenant_public_key", None)
    if encoded is not None:
        try:
            raw = base64.b64decode(encoded, validate=True) if encoded else b""
        except ValueError:
            raise Invalid("tenant_public_key is not base64", code="crypto.bad_public_key") from None
        row.tenant_public_key = check_tenant_public_key(raw) if raw else None
    for name, value in changes.items():
        if value is not None:
            setattr(row, name, value)
    row.updated_by = actor.actor_id
    row.updated_at = clock.now()
    db_session.flush()
    return _settings_read(row)


# -- integrity and retention hooks ------------------------------------------------------------
def verify(*, db_session: Session, actor: Actor, recording_id: uuid.UUID) -> dict[str, Any]:
    """Open every stored copy whole (each segment's tag checked, the end of the stream
    too) and compare the SHA-256 of the plaintext with the one recorded at upload."""
    rec = _load(db_session, actor, "recording.verify", recording_id)
    runtime = runtime_of(db_session)
    result: dict[str, Any] = {"id": str(rec.id)}
    try:
        dek = _dek(db_session, actor.tenant_id, rec.subject_key_id)
    except DecryptionFailed as error:
        record_failure(db_session, actor, "recording.verify", _resource(actor, recording_id, rec), error.code)
        raise
    for variant, blob, expected in (
        ("original", rec.original_blob, rec.sha256),
        ("redacted", rec.redacted_blob, rec.redacted_sha256),
    ):
        if blob is None:
            result[variant] = "absent"
            continue
        if variant == "original" and rec.original_state == "tenant_sealed":
            # only the tenant can open it: present is all the server can say
            result[variant] = "tenant_sealed" if runtime.blobs.exists(blob) else "unreadable"
            continue
        digest = _Digest()
        try:
            for _ in digest.watch(
                open_stream(_stream_key(dek, rec.tenant_id, rec.id, variant), runtime.blobs.get(blob))
            ):
                pass
        except (DecryptionFailed, NotFound):
            result[variant] = "unreadable"
            continue
        result[variant] = "ok" if digest.hash.hexdigest() == expected else "digest_mismatch"
    if any(result[v] not in ("ok", "absent", "tenant_sealed") for v in ("original", "redacted")):
        record_failure(
            db_session, actor, "recording.verify", _resource(actor, recording_id, rec), "recording.integrity"
        )
    return result


def set_retention(
    *,
    db_session: Session,
    actor: Actor,
    recording_id: uuid.UUID,
    retention_class: str | None = None,
    legal_hold: bool | None = None,
) -> RecordingRead:
    """The lifecycle hook: a recording's (and its transcript's) retention class and legal hold."""
    rec = _load(db_session, actor, "recording.retention", recording_id)
    transcript = db_session.get(Transcript, (actor.tenant_id, recording_id))
    for row in (rec, transcript):
        if row is None:
            continue
        if retention_class is not None:
            row.retention_class = retention_class
        if legal_hold is not None:
            row.legal_hold = legal_hold
    db_session.flush()
    return _read(rec, transcript is not None)


def delete_recording(*, db_session: Session, actor: Actor, recording_id: uuid.UUID) -> None:
    """Delete a recording's blobs, transcript and row (a retention sweep); refused under
    legal hold. Erasing the customer does not need this: the key's destruction suffices."""
    rec = _load(db_session, actor, "recording.delete", recording_id)
    if rec.legal_hold:
        error = Conflict("The recording is under legal hold", code="recording.legal_hold")
        record_failure(db_session, actor, "recording.delete", _resource(actor, recording_id, rec), error.code)
        raise error
    for blob in (rec.original_blob, rec.redacted_blob):
        if blob is not None:
            runtime_of(db_session).blobs.delete(blob)
    transcript = db_session.get(Transcript, (actor.tenant_id, recording_id))
    if transcript is not None:
        db_session.delete(transcript)
        db_session.flush()
    db_session.delete(rec)
    db_session.flush()


def recordings_of_customer(*, db_session: Session, tenant_id: str, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of a customer's recordings (for DSAR reports and retention sweeps; no decision:
    the caller's own action covers it)."""
    return list(
        db_session.scalars(
            select(Recording.id).where(Recording.tenant_id == tenant_id, Recording.customer_id == customer_id)
        )
    )
