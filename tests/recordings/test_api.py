"""Recordings over HTTP: stored sealed, played by the call's agent and QA after a step-up,
refused to others, ranges, downloads, playback links, bad input, erasure."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.core.db import tenant_session
from callvault.core.runtime import Runtime
from callvault.vault.fields.service import destroy_subject_key
from tests.conftest import auth
from tests.recordings.conftest import World
from tests.recordings.speech import Speech, build_speech

pytestmark = pytest.mark.usefixtures("fresh")

WORDS = ["hello", "my", "card", "number", "is", "4111", "1111", "1111", "1111", "thank", "you"]


@pytest.fixture(scope="module")
def speech() -> Speech:
    return build_speech(WORDS)


def upload(client: TestClient, world: World, call_id: str, body: bytes, media: str = "audio/wav", **params: Any):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/recordings:upload",
        params={"call_id": call_id, **params},
        content=body,
        headers={**auth(world.recorder), "Content-Type": media},
    )


@pytest.fixture(scope="module")
def recorded(client: TestClient, world: World, speech: Speech) -> dict[str, Any]:
    call_id, customer_id = world.new_call(client)
    response = upload(client, world, call_id, speech.wav)
    assert response.status_code == 201, response.text
    return {**response.json(), "customer_id": customer_id}


def _blob_files(runtime: Runtime, tenant_id: str, recording_id: str) -> list[Path]:
    folder = runtime.settings.resolved_blob_dir / "recordings" / tenant_id / recording_id
    return sorted(p for p in folder.iterdir() if p.is_file())


def test_upload_is_stored_sealed(runtime: Runtime, world: World, recorded: dict[str, Any], speech: Speech) -> None:
    import hashlib

    assert recorded["sha256"] == hashlib.sha256(speech.wav).hexdigest()
    assert recorded["size"] == len(speech.wav)
    assert recorded["original"] == "sealed"
    assert recorded["redaction"] == "pending_transcript"
    assert recorded["sample_rate"] == 8000
    files = _blob_files(runtime, world.tenant_id, recorded["id"])
    assert [f.name for f in files] == ["original", "redacted"]
    for stored in files:
        sealed = stored.read_bytes()
        assert sealed[:3] == b"CVS"
        assert b"RIFF" not in sealed and b"WAVE" not in sealed
        # no stretch of the audio is in the clear
        for offset in range(44, len(speech.wav) - 64, 4096):
            assert speech.wav[offset : offset + 32] not in sealed


def test_qa_plays_a_range_after_step_up(
    client: TestClient, world: World, recorded: dict[str, Any], speech: Speech
) -> None:
    url = f"/v1/recordings/{recorded['id']}/audio"
    world.clock.advance(minutes=10)  # any earlier step-up is stale
    refused = client.get(url, headers={**world.headers("qa"), "Range": "bytes=0-99"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "auth.step_up_required"
    world.step_up(client, "qa")
    played = client.get(url, headers={**world.headers("qa"), "Range": "bytes=70000-70099"})
    assert played.status_code == 206, played.text
    assert played.headers["content-range"] == f"bytes 70000-70099/{len(speech.wav)}"
    # before the transcript the redacted copy differs from the original only in secure pauses (none)
    assert played.content == speech.wav[70000:70100]
    whole = client.get(url, headers=world.headers("qa"))
    assert whole.status_code == 200
    assert whole.content == speech.wav
    assert whole.headers["accept-ranges"] == "bytes"


def test_agent_of_the_call_plays_and_an_agent_of_another_call_is_refused(
    client: TestClient, world: World, recorded: dict[str, Any]
) -> None:
    url = f"/v1/recordings/{recorded['id']}/audio"
    for role in ("agent", "other_agent"):
        world.step_up(client, role)
    assert client.get(url, headers={**world.headers("agent"), "Range": "bytes=0-9"}).status_code == 206
    other = client.get(url, headers={**world.headers("other_agent"), "Range": "bytes=0-9"})
    assert other.status_code == 403
    assert other.json()["code"] == "access.denied"
    intern = client.get(url, headers=world.headers("intern"))
    assert intern.status_code == 403


def test_every_range_request_is_audited(
    runtime: Runtime, client: TestClient, world: World, recorded: dict[str, Any]
) -> None:
    url = f"/v1/recordings/{recorded['id']}/audio"
    world.step_up(client, "qa")
    before = len(world.events(runtime, action="recording.play", resource_id=recorded["id"]))
    for start in (0, 1000, 2000):
        answer = client.get(url, headers={**world.headers("qa"), "Range": f"bytes={start}-{start + 9}"})
        assert answer.status_code == 206
    after = world.events(runtime, action="recording.play", resource_id=recorded["id"])
    assert len(after) == before + 3
    assert all(event.outcome == "done" and event.subject_id == recorded["customer_id"] for event in after[-3:])


@pytest.mark.parametrize(
    "header", ["bytes=999999999-", "bytes=5-2", "bytes=-0", "items=0-1", "bytes=0-1,5-6", "bytes=x-"]
)
def test_ranges_out_of_bounds_answer_416(
    client: TestClient, world: World, recorded: dict[str, Any], speech: Speech, header: str
) -> None:
    world.step_up(client, "qa")
    answer = client.get(f"/v1/recordings/{recorded['id']}/audio", headers={**world.headers("qa"), "Range": header})
    assert answer.status_code == 416, answer.text
    assert answer.headers["content-range"] == f"bytes */{len(speech.wav)}"
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_suffix_and_open_ranges(client: TestClient, world: World, recorded: dict[str, Any], speech: Speech) -> None:
    world.step_up(client, "qa")
    url = f"/v1/recordings/{recorded['id']}/audio"
    tail = client.get(url, headers={**world.headers("qa"), "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == speech.wav[-100:]
    rest = client.get(url, headers={**world.headers("qa"), "Range": f"bytes={len(speech.wav) - 70000}-"})
    assert rest.status_code == 206 and rest.content == speech.wav[-70000:]


def test_download_is_a_separate_action(client: TestClient, world: World, recorded: dict[str, Any]) -> None:
    url = f"/v1/recordings/{recorded['id']}/download"
    for role in ("agent", "intern"):
        world.step_up(client, role)
        refused = client.get(url, headers=world.headers(role))
        assert refused.status_code == 403, role
    world.step_up(client, "qa")
    got = client.get(url, headers=world.headers("qa"))
    assert got.status_code == 200
    assert got.headers["content-disposition"].startswith("attachment;")


def test_playback_link_is_short_lived_and_bound_to_the_session(
    client: TestClient, world: World, recorded: dict[str, Any], speech: Speech
) -> None:
    url = f"/v1/recordings/{recorded['id']}/playback"
    world.clock.advance(minutes=10)
    assert client.post(url, json={}, headers=world.headers("qa")).status_code == 401
    world.step_up(client, "qa")
    created = client.post(url, json={}, headers=world.headers("qa"))
    assert created.status_code == 201, created.text
    link = created.json()
    world.clock.advance(minutes=8)  # the step-up is stale, the link is not
    played = client.get(link["url"], headers={**world.headers("qa"), "Range": "bytes=100-199"})
    assert played.status_code == 206, played.text
    assert played.content == speech.wav[100:200]
    # another session (the supervisor's) cannot use it
    world.relogin(client, "supervisor")
    stolen = client.get(link["url"], headers=world.headers("supervisor"))
    assert stolen.status_code == 403
    world.clock.advance(minutes=8)  # past the link's life
    world.relogin(client, "qa")
    expired = client.get(link["url"], headers=world.headers("qa"))
    assert expired.status_code == 403
    assert expired.json()["code"] == "recording.link_invalid"


def test_metadata_reads_follow_the_policy(client: TestClient, world: World, recorded: dict[str, Any]) -> None:
    url = f"/v1/recordings/{recorded['id']}"
    assert client.get(url, headers=world.headers("agent")).status_code == 200
    assert client.get(url, headers=world.headers("qa")).status_code == 200
    assert client.get(url, headers=world.headers("other_agent")).status_code == 403
    missing = client.get(f"/v1/recordings/{uuid.uuid4()}", headers=world.headers("qa"))
    assert missing.status_code == 404


def test_bad_uploads(client: TestClient, world: World, speech: Speech) -> None:
    call_id, _ = world.new_call(client)
    wrong = upload(client, world, call_id, speech.wav, media="application/json")
    assert wrong.status_code == 415, wrong.text
    empty = upload(client, world, call_id, b"")
    assert empty.status_code == 422
    assert empty.json()["code"] == "recording.empty"
    no_call = upload(client, world, "call-nope", speech.wav)
    assert no_call.status_code == 404
    people = client.post(
        "/v1/recordings:upload",
        params={"call_id": call_id},
        content=speech.wav,
        headers={**world.headers("agent"), "Content-Type": "audio/wav"},
    )
    assert people.status_code == 403


def test_large_upload_is_not_capped_by_the_json_limit(client: TestClient, world: World) -> None:
    call_id, _ = world.new_call(client)
    body = bytes(range(256)) * (3 * 4096 + 7)  # 3 MiB+ of opaque audio (not a WAV)
    stored = upload(
        client, world, call_id, iter([body[i : i + 100_000] for i in range(0, len(body), 100_000)]), media="audio/ogg"
    )  # type: ignore[arg-type]
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(body)
    assert stored.json()["redaction"] == "unsupported"


def test_erasing_the_customer_makes_the_recording_unreadable(
    runtime: Runtime, client: TestClient, world: World, speech: Speech
) -> None:
    call_id, customer_id = world.new_call(client)
    stored = upload(client, world, call_id, speech.wav)
    assert stored.status_code == 201
    recording_id = stored.json()["id"]
    world.step_up(client, "qa")
    url = f"/v1/recordings/{recording_id}/audio"
    assert client.get(url, headers={**world.headers("qa"), "Range": "bytes=0-9"}).status_code == 206
    from callvault.vault.customers.models import Customer

    with tenant_session(runtime.sessions, world.tenant_id) as db_session:
        key_id = db_session.get(Customer, (world.tenant_id, uuid.UUID(customer_id))).subject_key_id  # type: ignore[union-attr]
        destroy_subject_key(db_session=db_session, tenant_id=world.tenant_id, key_id=key_id)
    gone = client.get(url, headers={**world.headers("qa"), "Range": "bytes=0-9"})
    assert gone.status_code == 422
    assert gone.json()["code"] == "crypto.key_destroyed"
    # the sealed blobs are still there, and useless
    assert all(path.stat().st_size > 0 for path in _blob_files(runtime, world.tenant_id, recording_id))
