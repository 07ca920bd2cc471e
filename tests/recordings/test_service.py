"""The upload service below HTTP: an interrupted upload leaves nothing, a retry works;
the stored blobs are ciphertext on the S3-compatible store too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callvault.access.actor import Actor
from callvault.blobs import S3BlobStore
from callvault.core.db import tenant_session
from callvault.core.errors import Conflict
from callvault.core.runtime import Runtime
from callvault.crypto import open_stream
from callvault.recordings import service
from callvault.recordings.models import Recording
from callvault.recordings.schemas import RecordingCreate
from tests.blobs.conftest import CREDENTIALS, s3_endpoint  # noqa: F401 - the moto_server fixture
from tests.recordings.conftest import World
from tests.recordings.speech import build_speech

pytestmark = pytest.mark.usefixtures("fresh")


class _Cut(Exception):
    pass


def _recorder(world: World) -> Actor:
    return Actor(
        tenant_id=world.tenant_id,
        actor_id="service_account:recorder",
        kind="service_account",
        scopes=frozenset({"recordings:write"}),
    )


def _cut_after(data: bytes, limit: int) -> Iterator[bytes]:
    for offset in range(0, len(data), 10_000):
        if offset >= limit:
            raise _Cut
        yield data[offset : offset + 10_000]


def _rows(runtime: Runtime, world: World, call_id: str) -> list[Recording]:
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        return list(db_session.scalars(select(Recording).where(Recording.call_id == call_id)))


def test_interrupted_upload_leaves_nothing_and_a_retry_works(
    runtime: Runtime, client: TestClient, world: World
) -> None:
    speech = build_speech(["one", "two", "three", "four", "five", "six"])
    call_id, _ = world.new_call(client)
    actor = _recorder(world)
    folder = runtime.settings.resolved_blob_dir / "recordings" / world.tenant_id
    before = {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
    with pytest.raises(_Cut):
        service.upload(
            runtime=runtime,
            actor=actor,
            recording_in=RecordingCreate(call_id=call_id),
            content_type="audio/wav",
            chunks=_cut_after(speech.wav, len(speech.wav) // 2),
        )
    assert {p for p in folder.rglob("*") if p.is_file()} == before
    assert _rows(runtime, world, call_id) == []
    failed = world.events(runtime, action="recording.upload", outcome="failed")
    assert failed and failed[-1].reason == "recording.upload_interrupted"
    done = service.upload(
        runtime=runtime,
        actor=actor,
        recording_in=RecordingCreate(call_id=call_id),
        content_type="audio/wav",
        chunks=iter([speech.wav]),
    )
    assert done.size == len(speech.wav)
    assert [row.id for row in _rows(runtime, world, call_id)] == [done.id]


def test_recordings_on_s3_are_ciphertext(
    runtime: Runtime,
    client: TestClient,
    world: World,
    s3_endpoint: str,  # noqa: F811
) -> None:
    store = S3BlobStore(f"cv-rec-{world.tenant_id}", endpoint_url=s3_endpoint, **CREDENTIALS)
    store.client.create_bucket(Bucket=store.bucket)
    saved = runtime.caches.get("blobs")
    runtime.caches["blobs"] = store
    try:
        speech = build_speech(["alpha", "bravo"])
        call_id, _ = world.new_call(client)
        done = service.upload(
            runtime=runtime,
            actor=_recorder(world),
            recording_in=RecordingCreate(call_id=call_id),
            content_type="audio/wav",
            chunks=iter([speech.wav]),
        )
        keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket)["Contents"]]
        assert sorted(keys) == [
            f"recordings/{world.tenant_id}/{done.id}/original",
            f"recordings/{world.tenant_id}/{done.id}/redacted",
        ]
        sealed = b"".join(store.get(keys[0]))
        assert sealed[:3] == b"CVS" and speech.wav[1000:1032] not in sealed
        world.step_up(client, "qa")
        played = client.get(f"/v1/recordings/{done.id}/audio", headers={**world.headers("qa"), "Range": "bytes=10-19"})
        assert played.status_code == 206 and played.content == speech.wav[10:20]
        assert open_stream  # the same format on every store
    finally:
        if saved is None:
            runtime.caches.pop("blobs", None)
        else:
            runtime.caches["blobs"] = saved
    assert Path(runtime.settings.resolved_blob_dir).exists()


def test_verify_and_retention_hooks(runtime: Runtime, client: TestClient, world: World) -> None:
    speech = build_speech(["alpha", "bravo", "charlie"])
    call_id, _ = world.new_call(client)
    operator = Actor.operator(world.tenant_id)
    done = service.upload(
        runtime=runtime,
        actor=_recorder(world),
        recording_in=RecordingCreate(call_id=call_id),
        content_type="audio/wav",
        chunks=iter([speech.wav]),
    )
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        assert service.verify(db_session=db_session, actor=operator, recording_id=done.id) == {
            "id": str(done.id),
            "original": "ok",
            "redacted": "ok",
        }
    # one flipped byte in the stored original: verify says so
    path = runtime.settings.resolved_blob_dir / "recordings" / world.tenant_id / str(done.id) / "original"
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    path.write_bytes(bytes(damaged))
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        assert service.verify(db_session=db_session, actor=operator, recording_id=done.id)["original"] == "unreadable"
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        held = service.set_retention(db_session=db_session, actor=operator, recording_id=done.id, legal_hold=True)
        assert held.legal_hold is True
    with pytest.raises(Conflict), tenant_session(runtime.sessions, world.tenant_id) as db_session:
        service.delete_recording(db_session=db_session, actor=operator, recording_id=done.id)
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        service.set_retention(db_session=db_session, actor=operator, recording_id=done.id, legal_hold=False)
    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        service.delete_recording(db_session=db_session, actor=operator, recording_id=done.id)
    assert not path.exists()
    assert _rows(runtime, world, call_id) == []
