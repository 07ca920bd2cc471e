"""Transcripts and audio redaction end to end: espeak-ng speech built word by word (true
offsets known), a spoken card number and a verification code become a 1 kHz tone in
the redacted copy, every other sample unchanged; transcripts redacted per role."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from callvault.core.runtime import Runtime
from callvault.crypto import new_tenant_keypair, open_stream, open_tenant_sealed_key
from callvault.recordings.audio import TONE_AMPLITUDE, TONE_HZ
from tests.conftest import CAPTURED_LOGS, auth, remember_pii
from tests.recordings.conftest import World
from tests.recordings.speech import Speech, build_speech, samples_of, sox_stat
from tests.recordings.test_api import upload

pytestmark = pytest.mark.usefixtures("fresh")

CARD = ["4111", "1111", "1111", "1111"]
CODE = ["482913"]
WORDS = ["hello", "my", "card", "number", "is", *CARD, "and", "the", "verification", "code", "is", *CODE, "thanks"]
MARGIN = 0.15  # the default margin_ms


def _segments(speech: Speech) -> list[dict[str, Any]]:
    words = speech.words
    return [
        {
            "speaker": "customer",
            "start": words[0]["start"],
            "end": words[8]["end"],
            "text": " ".join(str(w["word"]) for w in words[:9]),
            "words": words[:9],
        },
        {
            "speaker": "customer",
            "start": words[9]["start"],
            "end": words[-1]["end"],
            "text": " ".join(str(w["word"]) for w in words[9:]),
            "words": words[9:],
        },
    ]


@pytest.fixture(scope="module", params=[(8000, 1), (16000, 2)], ids=["8k-mono", "16k-stereo"])
def redacted(request: pytest.FixtureRequest, client: TestClient, world: World) -> dict[str, Any]:
    rate, channels = request.param
    speech = build_speech(WORDS, rate=rate, channels=channels)
    remember_pii("4111 1111 1111 1111", "4111111111111111")
    call_id, _ = world.new_call(client)
    stored = upload(client, world, call_id, speech.wav)
    assert stored.status_code == 201, stored.text
    recording_id = stored.json()["id"]
    added = client.post(
        f"/v1/recordings/{recording_id}/transcript",
        json={"language": "en", "segments": _segments(speech)},
        headers=auth(world.recorder),
    )
    assert added.status_code == 201, added.text
    return {"speech": speech, "id": recording_id, "meta": added.json()}


def _play(client: TestClient, world: World, recording_id: str, variant: str = "redacted") -> bytes:
    world.step_up(client, "supervisor")
    params = {"variant": variant}
    if variant == "original":
        params["reason"] = "quality review of a disputed call"
    answer = client.get(f"/v1/recordings/{recording_id}/audio", params=params, headers=world.headers("supervisor"))
    assert answer.status_code == 200, answer.text
    return answer.content


def _span(speech: Speech, words: list[str], first_index: int) -> tuple[float, float]:
    start = float(speech.words[first_index]["start"]) - MARGIN
    end = float(speech.words[first_index + len(words) - 1]["end"]) + MARGIN
    return max(0.0, start), end


def test_pii_spans_are_tone_and_the_rest_is_sample_exact(
    client: TestClient, world: World, redacted: dict[str, Any]
) -> None:
    speech: Speech = redacted["speech"]
    meta = redacted["meta"]
    assert meta["redaction"] == "redacted"
    whys = sorted(item["why"] for item in meta["blanked"])
    assert whys == ["pii:BANK_CARD", "pii:VERIFICATION_CODE"]
    audio = _play(client, world, redacted["id"])
    got, rate, channels = samples_of(audio)
    original = speech.samples
    assert got.shape == original.shape and rate == speech.rate and channels == speech.channels
    card = _span(speech, CARD, WORDS.index("4111"))
    code = _span(speech, CODE, WORDS.index("482913"))
    mask = np.zeros(len(original), dtype=bool)
    for start, end in (card, code):
        first, last = int(np.floor(start * rate)), int(np.ceil(end * rate))
        mask[first:last] = True
        frames = np.arange(first, last)
        tone = np.round(np.sin(2 * np.pi * TONE_HZ * frames / rate) * TONE_AMPLITUDE * 32767).astype(np.int16)
        for channel in range(channels):
            assert np.array_equal(got[first:last, channel], tone), "a PII span is not exactly the tone"
    # outside the spans (margins included): every sample unchanged
    assert np.array_equal(got[~mask], original[~mask])
    # the header is untouched too
    assert audio[:44] == speech.wav[:44]
    # and sox hears a ~1 kHz tone where the card number was spoken
    stat = sox_stat(audio, card[0] + 0.01, card[1] - 0.01)
    assert abs(stat["Rough   frequency"] - TONE_HZ) < 60
    speechy = sox_stat(audio, float(speech.words[0]["start"]), float(speech.words[0]["end"]))
    assert speechy["RMS     amplitude"] > 0


def test_the_original_is_unchanged_and_separately_gated(
    client: TestClient, world: World, redacted: dict[str, Any]
) -> None:
    speech: Speech = redacted["speech"]
    world.step_up(client, "qa")
    refused = client.get(
        f"/v1/recordings/{redacted['id']}/audio",
        params={"variant": "original", "reason": "quality review of a disputed call"},
        headers=world.headers("qa"),
    )
    assert refused.status_code == 403
    assert _play(client, world, redacted["id"], "original") == speech.wav


def test_transcripts_by_role(client: TestClient, world: World, redacted: dict[str, Any]) -> None:
    url = f"/v1/recordings/{redacted['id']}/transcript"
    qa = client.get(url, headers=world.headers("qa"))
    assert qa.status_code == 200, qa.text
    body = qa.json()
    assert body["variant"] == "redacted"
    text = " ".join(segment["text"] for segment in body["segments"])
    assert "4111" not in qa.text and "482913" not in qa.text
    assert "<BANK_CARD>" in text and "<VERIFICATION_CODE>" in text
    words = [w["word"] for segment in body["segments"] for w in segment["words"]]
    assert words[WORDS.index("4111")] == "<BANK_CARD>" and words[0] == "hello"
    assert client.get(url, params={"variant": "original"}, headers=world.headers("qa")).status_code == 403
    world.step_up(client, "supervisor")
    original = client.get(
        url,
        params={"variant": "original", "reason": "quality review of a disputed call"},
        headers=world.headers("supervisor"),
    )
    assert original.status_code == 200, original.text
    assert "4111" in original.text
    assert client.get(url, headers=world.headers("other_agent")).status_code == 403
    assert "482913" not in "\n".join(CAPTURED_LOGS)


def test_a_second_transcript_is_refused(client: TestClient, world: World, redacted: dict[str, Any]) -> None:
    again = client.post(
        f"/v1/recordings/{redacted['id']}/transcript",
        json={"segments": _segments(redacted["speech"])},
        headers=auth(world.recorder),
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("words", "index"),
    [
        ([{"word": "a", "start": 0.0, "end": 0.5}, {"word": "b", "start": 0.4, "end": 0.9}], 1),  # overlap
        ([{"word": "a", "start": 0.0, "end": 0.5}, {"word": "b", "start": 0.6, "end": 999.0}], 1),  # past the end
        ([{"word": "a", "start": 0.5, "end": 0.2}], 0),  # backwards
    ],
)
def test_bad_word_timestamps_answer_422_with_the_index(
    client: TestClient, world: World, words: list[dict[str, Any]], index: int
) -> None:
    speech = build_speech(["one", "two"])
    call_id, _ = world.new_call(client)
    stored = upload(client, world, call_id, speech.wav)
    segment = {"speaker": "agent", "start": 0.0, "end": 0.9, "text": "a b", "words": words}
    answer = client.post(
        f"/v1/recordings/{stored.json()['id']}/transcript", json={"segments": [segment]}, headers=auth(world.recorder)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "transcript.bad_timestamps"
    assert f"Word {index}:" in answer.json()["detail"]


def test_redacted_only_policy_discards_the_original(client: TestClient, world: World) -> None:
    world.step_up(client, "tenant_admin")
    changed = client.patch(
        "/v1/recordings-settings",
        json={"keep_original": False, "redaction_fill": "silence"},
        headers=world.headers("tenant_admin"),
    )
    assert changed.status_code == 200, changed.text
    try:
        speech = build_speech(WORDS)
        call_id, _ = world.new_call(client)
        stored = upload(client, world, call_id, speech.wav)
        recording_id = stored.json()["id"]
        added = client.post(
            f"/v1/recordings/{recording_id}/transcript",
            json={"segments": _segments(speech)},
            headers=auth(world.recorder),
        )
        assert added.status_code == 201, added.text
        assert added.json()["original"] == "discarded"
        world.step_up(client, "supervisor")
        gone = client.get(
            f"/v1/recordings/{recording_id}/audio",
            params={"variant": "original", "reason": "quality review of a disputed call"},
            headers=world.headers("supervisor"),
        )
        assert gone.status_code == 409
        audio = _play(client, world, recording_id)
        got, rate, _ = samples_of(audio)
        start, end = _span(speech, CARD, WORDS.index("4111"))
        assert not got[int(np.ceil(start * rate)) : int(np.floor(end * rate))].any()  # silence
        original = client.get(
            f"/v1/recordings/{recording_id}/transcript",
            params={"variant": "original", "reason": "quality review of a disputed call"},
            headers=world.headers("supervisor"),
        )
        assert original.status_code == 404
    finally:
        world.step_up(client, "tenant_admin")
        client.patch(
            "/v1/recordings-settings",
            json={"keep_original": True, "redaction_fill": "tone"},
            headers=world.headers("tenant_admin"),
        )


def test_secure_pause_blanks_the_stored_recording_and_transcript(client: TestClient, world: World) -> None:
    speech = build_speech(WORDS)
    call_id, _ = world.new_call(client)
    call_start = world.clock.moment
    card = _span(speech, CARD, WORDS.index("4111"))
    # the agent presses the button just before the card number, and resumes after it
    world.clock.advance(seconds=card[0])
    paused = client.post(f"/v1/calls/{call_id}/secure-pause", json={"source": "agent"}, headers=world.headers("agent"))
    assert paused.status_code == 201, paused.text
    assert paused.json()["active"] is True
    assert (
        client.post(f"/v1/calls/{call_id}/secure-pause", json={}, headers=world.headers("other_agent")).status_code
        == 403
    )
    world.clock.advance(seconds=card[1] - card[0])
    resumed = client.post(f"/v1/calls/{call_id}/resume", headers=auth(world.cti))
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["active"] is False
    stored = upload(client, world, call_id, speech.wav, started_at=call_start.isoformat())
    assert stored.status_code == 201, stored.text
    meta = stored.json()
    assert [b["why"] for b in meta["blanked"]] == ["secure_pause"]
    assert meta["sha256"] != __import__("hashlib").sha256(speech.wav).hexdigest()  # what is stored was blanked
    original = _play(client, world, meta["id"], "original")
    got, rate, _ = samples_of(original)
    first, last = int(np.ceil(card[0] * rate)) + 1, int(np.floor(card[1] * rate)) - 1
    assert not np.array_equal(got[first:last], speech.samples[first:last])
    before = int(np.floor(card[0] * rate)) - 1
    assert np.array_equal(got[:before], speech.samples[:before])
    # the transcript loses the words said during the pause, in the original too
    segments = _segments(speech)
    added = client.post(
        f"/v1/recordings/{meta['id']}/transcript", json={"segments": segments}, headers=auth(world.recorder)
    )
    assert added.status_code == 201, added.text
    world.step_up(client, "supervisor")
    text = client.get(
        f"/v1/recordings/{meta['id']}/transcript",
        params={"variant": "original", "reason": "quality review of a disputed call"},
        headers=world.headers("supervisor"),
    ).text
    assert "4111" not in text and "hello" in text


def test_tenant_held_key_seals_originals_the_server_cannot_open(
    runtime: Runtime, client: TestClient, world: World
) -> None:
    private, public = new_tenant_keypair()
    world.step_up(client, "tenant_admin")
    bad = client.patch(
        "/v1/recordings-settings", json={"tenant_public_key": "AAAA"}, headers=world.headers("tenant_admin")
    )
    assert bad.status_code == 422
    registered = client.patch(
        "/v1/recordings-settings",
        json={"tenant_public_key": base64.b64encode(public).decode()},
        headers=world.headers("tenant_admin"),
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["tenant_key_id"] is not None
    try:
        speech = build_speech(WORDS)
        call_id, _ = world.new_call(client)
        stored = upload(client, world, call_id, speech.wav)
        assert stored.status_code == 201, stored.text
        meta = stored.json()
        assert meta["original"] == "tenant_sealed"
        folder = runtime.settings.resolved_blob_dir / "recordings" / world.tenant_id / meta["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["original", "redacted", "working"]
        added = client.post(
            f"/v1/recordings/{meta['id']}/transcript",
            json={"segments": _segments(speech)},
            headers=auth(world.recorder),
        )
        assert added.status_code == 201, added.text
        # the working copy is gone: nothing the server holds opens the original now
        assert sorted(p.name for p in folder.iterdir()) == ["original", "redacted"]
        world.step_up(client, "supervisor")
        params = {"variant": "original", "reason": "quality review of a disputed call"}
        refused = client.get(f"/v1/recordings/{meta['id']}/audio", params=params, headers=world.headers("supervisor"))
        assert refused.status_code == 409
        assert refused.json()["code"] == "recording.original_tenant_sealed"
        downloaded = client.get(
            f"/v1/recordings/{meta['id']}/download", params=params, headers=world.headers("supervisor")
        )
        assert downloaded.status_code == 200, downloaded.text
        assert speech.wav[1000:1032] not in downloaded.content
        key = open_tenant_sealed_key(
            private,
            base64.b64decode(downloaded.headers["x-callvault-wrapped-key"]),
            downloaded.headers["x-callvault-key-context"],
        )
        assert b"".join(open_stream(key, [downloaded.content])) == speech.wav
        # the redacted copy stays playable, with the card number a tone
        audio = _play(client, world, meta["id"])
        got, rate, _ = samples_of(audio)
        start, _ = _span(speech, CARD, WORDS.index("4111"))
        first = int(np.ceil(start * rate))
        assert not np.array_equal(got[first : first + 800], speech.samples[first : first + 800])
    finally:
        world.step_up(client, "tenant_admin")
        client.patch("/v1/recordings-settings", json={"tenant_public_key": ""}, headers=world.headers("tenant_admin"))
