"""Recordings under erasure and retention: unreadable at once (the key), then their blobs
are deleted by the sweep; expired ones go unless held."""

from __future__ import annotations

import io
import math
import struct
import uuid
import wave

from sqlalchemy import select

from callvault.lifecycle.retention import set_policy, sweep
from callvault.recordings import service as recordings
from callvault.recordings.models import Recording
from callvault.recordings.schemas import RecordingCreate
from tests.lifecycle.conftest import FakeClock, Lc
from tests.lifecycle.test_erasure import _approve, _erase


def _wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
        )
        out.writeframes(frames)
    return buffer.getvalue()


def _record(lc: Lc, customer: uuid.UUID) -> uuid.UUID:
    call_id = lc.call(customer, end=False)
    done = recordings.upload(
        runtime=lc.runtime,
        actor=lc.operator(),
        recording_in=RecordingCreate(call_id=call_id),
        content_type="audio/wav",
        chunks=iter([_wav()]),
    )
    return done.id


def _blobs(lc: Lc, ids: list[uuid.UUID]) -> list[str]:
    with lc.session() as db_session:
        rows = db_session.scalars(select(Recording).where(Recording.tenant_id == lc.id, Recording.id.in_(ids))).all()
        return [blob for row in rows for blob in (row.original_blob, row.redacted_blob) if blob]


def test_erased_customers_recordings_are_deleted_by_the_next_sweep(lc: Lc) -> None:
    erased, _ = lc.customer()
    kept, _ = lc.customer()
    gone, stays = _record(lc, erased), _record(lc, kept)
    blobs = _blobs(lc, [gone])
    assert blobs and all(lc.runtime.blobs.exists(blob) for blob in blobs)
    dpo = lc.person("dpo")
    _approve(lc, dpo, erased)
    certificate = _erase(lc, dpo, erased).certificate
    recording_note = next(e for e in certificate["exceptions"] if e["data_class"] == "recordings")
    assert recording_note["records"] == 1 and "next retention sweep" in recording_note["reason"]
    dry = sweep(lc.runtime, lc.id, dry_run=True)
    assert next(c for c in dry.classes if c.data_class == "recordings").expired == 1
    report = sweep(lc.runtime, lc.id)
    assert next(c for c in report.classes if c.data_class == "recordings").deleted == 1
    assert next(c for c in report.classes if c.data_class == "transcripts").status == "kept"
    assert not any(lc.runtime.blobs.exists(blob) for blob in blobs)
    assert _blobs(lc, [stays])  # the other customer's recording is untouched


def test_expired_recordings_go_unless_held(lc: Lc, fake_clock: FakeClock) -> None:
    customer, _ = lc.customer()
    old, held = _record(lc, customer), _record(lc, customer)
    with lc.session() as db_session:
        set_policy(db_session=db_session, actor=lc.operator(), data_class="recordings", days=90)
    with lc.session() as db_session:
        recordings.set_retention(db_session=db_session, actor=lc.operator(), recording_id=held, legal_hold=True)
    fake_clock.advance(days=91)
    fresh = _record(lc, customer)
    report = sweep(lc.runtime, lc.id)
    assert next(c for c in report.classes if c.data_class == "recordings").deleted == 1
    with lc.session() as db_session:
        left = set(db_session.scalars(select(Recording.id).where(Recording.tenant_id == lc.id)))
    assert left == {held, fresh} and old not in left
