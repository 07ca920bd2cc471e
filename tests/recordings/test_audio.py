"""The audio redaction module alone: header parsing, word spans, chunking invariance."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.core.errors import Invalid
from callvault.recordings.audio import (
    Interval,
    check_words,
    merge_intervals,
    parse_wav_header,
    redact_wav,
    word_intervals,
)


def _wav(frames: int, rate: int = 8000, channels: int = 1, extra_chunk: bool = False) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.random.default_rng(1).integers(-3000, 3000, frames * channels).astype("<i2").tobytes())
    data = buffer.getvalue()
    if extra_chunk:  # a LIST chunk between fmt and data, as many recorders write
        extra = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"
        riff_size = struct.unpack_from("<I", data, 4)[0] + len(extra)
        data = data[:4] + struct.pack("<I", riff_size) + data[8:36] + extra + data[36:]
    return data


def test_header_with_extra_chunks() -> None:
    data = _wav(800, extra_chunk=True)
    fmt = parse_wav_header(data[:1000], len(data))
    assert (fmt.sample_rate, fmt.channels, fmt.bits, fmt.frames) == (8000, 1, 16, 800)
    assert fmt.data_offset == 36 + 14 + 8


@pytest.mark.parametrize(
    "head",
    [b"", b"RIFF\x00\x00\x00\x00WAVX", b"ID3\x03" + bytes(100), _wav(10)[:20]],
)
def test_not_a_wav(head: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        parse_wav_header(head, 1000)
    assert caught.value.code == "recording.not_pcm_wav"


def test_8_bit_is_refused() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(100))
    with pytest.raises(Invalid):
        parse_wav_header(buffer.getvalue(), len(buffer.getvalue()))


def test_check_words_names_the_first_bad_index() -> None:
    check_words([(0.0, 0.5), (0.5, 1.0)], 1.0)
    for words, index in (
        ([(0.0, 0.5), (0.4, 1.0)], 1),
        ([(0.0, 0.5), (0.6, 1.2)], 1),
        ([(0.3, 0.2)], 0),
        ([(0.0, 0.1), (0.2, 0.3), (float("nan"), 0.5)], 2),
    ):
        with pytest.raises(Invalid) as caught:
            check_words(words, 1.0)
        assert caught.value.detail.startswith(f"Word {index}:")


def test_word_intervals_cover_touched_words_with_margin() -> None:
    words = [("my", 0.0, 0.2), ("card", 0.3, 0.6), ("4111", 1.0, 1.5), ("1111", 1.6, 2.0), ("ok", 2.5, 2.7)]
    # "my card 4111 1111 ok": the span 8..17 is "4111 1111"
    assert word_intervals(words, [(8, 17, "BANK_CARD")], margin=0.1, duration=3.0) == [
        Interval(0.9, 2.1, "pii:BANK_CARD")
    ]
    # a span inside one word still covers the whole word; the margin is clamped to the audio
    assert word_intervals(words, [(0, 1, "X")], margin=0.5, duration=3.0) == [Interval(0.0, 0.7, "pii:X")]


def test_merge_intervals() -> None:
    merged = merge_intervals([Interval(2, 3, "b"), Interval(0, 1, "a"), Interval(0.5, 2.5, "c"), Interval(5, 5, "d")])
    assert merged == [Interval(0, 3, "a")]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1.2), st.floats(0, 0.5)), max_size=4),
    st.integers(1, 5000),
    st.sampled_from([1, 2]),
    st.sampled_from(["tone", "silence"]),
)
def test_redaction_is_independent_of_chunking(
    spans: list[tuple[float, float]], chunk: int, channels: int, fill: str
) -> None:
    data = _wav(8000, channels=channels)
    fmt = parse_wav_header(data, len(data))
    intervals = [Interval(start, start + length, "x") for start, length in spans]
    whole = b"".join(redact_wav([data], fmt, intervals, fill))  # type: ignore[arg-type]
    pieces = b"".join(
        redact_wav((data[i : i + chunk] for i in range(0, len(data), chunk)), fmt, intervals, fill)  # type: ignore[arg-type]
    )
    assert whole == pieces
    assert len(whole) == len(data) and whole[:44] == data[:44]
    if not intervals:
        assert whole == data
