"""Audio redaction: PCM WAV in, the same WAV out with chosen intervals replaced by a tone
or silence, streamed (memory independent of the recording's length).

Inputs:
- word timestamps, ``[{"word": str, "start": seconds, "end": seconds}]`` in spoken
  order, not overlapping, inside the audio (``check_words``: 422 naming the first bad
  index);
- PII spans over the words joined by single spaces (``callvault.pii`` offsets);
  ``word_intervals`` maps each span to the time of the words it touches.

Only 16-bit PCM WAV (any rate, mono or stereo; ``WAVE_FORMAT_PCM`` or
``WAVE_FORMAT_EXTENSIBLE`` with the PCM subformat) is redacted; other formats are
converted first (docs/recordings.md: ``sox in.mp3 -b 16 -e signed out.wav``). Every byte
outside the replaced sample ranges is copied unchanged, header included.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from callvault.core.errors import Invalid

__all__ = [
    "Fill",
    "Interval",
    "WavFormat",
    "check_words",
    "joined_text",
    "merge_intervals",
    "parse_wav_header",
    "redact_wav",
    "word_intervals",
]

Fill = Literal["tone", "silence"]
TONE_HZ = 1000.0
TONE_AMPLITUDE = 0.3  # of full scale: clearly audible, never clipping
_PCM = 1
_EXTENSIBLE = 0xFFFE
_HEADER_PROBE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)`` in seconds, and why it is blanked (``pii:BANK_CARD``, ``secure_pause``)."""

    start: float
    end: float
    why: str


@dataclass(frozen=True, slots=True)
class WavFormat:
    sample_rate: int
    channels: int
    bits: int
    data_offset: int  # byte offset of the first sample
    data_size: int  # bytes of samples (clamped to what the file holds)

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int:
        return self.data_size // self.block_align

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _not_wav(detail: str) -> Invalid:
    return Invalid(f"Not a redactable PCM WAV: {detail}", code="recording.not_pcm_wav")


def parse_wav_header(head: bytes, total_size: int) -> WavFormat:
    """The format and sample region of a WAV whose first bytes are ``head`` (at least the
    header; 64 KiB is plenty) and whose size is ``total_size``."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise _not_wav("no RIFF/WAVE header")
    position = 12
    fmt: tuple[int, int, int] | None = None
    while position + 8 <= len(head):
        chunk_id = head[position : position + 4]
        (chunk_size,) = struct.unpack_from("<I", head, position + 4)
        body = position + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16 or body + 16 > len(head):
                raise _not_wav("short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == _EXTENSIBLE and chunk_size >= 40 and body + 40 <= len(head):
                (tag,) = struct.unpack_from("<H", head, body + 24)
            if tag != _PCM or bits != 16 or channels not in (1, 2) or not 1000 <= rate <= 192_000:
                raise _not_wav("only 16-bit PCM, mono or stereo")
            fmt = (rate, channels, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise _not_wav("data before fmt")
            rate, channels, bits = fmt
            available = max(0, total_size - body)
            size = available if chunk_size in (0, 0xFFFFFFFF) else min(chunk_size, available)
            block = channels * bits // 8
            return WavFormat(rate, channels, bits, body, size - size % block)
        position = body + chunk_size + (chunk_size & 1)
    raise _not_wav("no data chunk in the first 64 KiB")


def check_words(words: Sequence[tuple[float, float]], duration: float | None) -> None:
    """Refuse word timestamps that run backwards, overlap the previous word, or run past
    the end of the audio: 422 ``transcript.bad_timestamps`` naming the first bad index."""
    previous_end = 0.0
    for index, (start, end) in enumerate(words):
        problem = None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            problem = "start must be >= 0 and <= end"
        elif start < previous_end - 1e-6:
            problem = "overlaps the previous word"
        elif duration is not None and end > duration + 1e-3:
            problem = "runs past the end of the audio"
        if problem is not None:
            raise Invalid(f"Word {index}: {problem}", code="transcript.bad_timestamps")
        previous_end = end


def joined_text(words: Sequence[str]) -> tuple[str, list[int]]:
    """The words joined by single spaces, and each word's start offset in that text."""
    offsets: list[int] = []
    position = 0
    for word in words:
        offsets.append(position)
        position += len(word) + 1
    return " ".join(words), offsets


def word_intervals(
    words: Sequence[tuple[str, float, float]],
    spans: Iterable[tuple[int, int, str]],
    *,
    margin: float,
    duration: float | None,
) -> list[Interval]:
    """Time intervals covering every word a span ``(start, end, type)`` over the joined
    text touches, widened by ``margin`` seconds and clamped to the audio."""
    _, offsets = joined_text([word for word, _, _ in words])
    out: list[Interval] = []
    for span_start, span_end, kind in spans:
        touched = [
            index
            for index, (word, _, _) in enumerate(words)
            if offsets[index] < span_end and span_start < offsets[index] + max(len(word), 1)
        ]
        if not touched:
            continue
        start = max(0.0, words[touched[0]][1] - margin)
        end = words[touched[-1]][2] + margin
        if duration is not None:
            end = min(end, duration)
        out.append(Interval(start, end, f"pii:{kind}"))
    return out


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, overlapping intervals merged (the first reason kept)."""
    merged: list[Interval] = []
    for item in sorted(intervals, key=lambda i: (i.start, i.end)):
        if item.end <= item.start:
            continue
        if merged and item.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, item.end), last.why)
        else:
            merged.append(item)
    return merged


def _fill_frames(first_frame: int, count: int, fmt: WavFormat, fill: Fill) -> bytes:
    if fill == "silence":
        return bytes(count * fmt.block_align)
    frames = np.arange(first_frame, first_frame + count, dtype=np.float64)
    wave = np.sin(2.0 * np.pi * TONE_HZ * frames / fmt.sample_rate) * (TONE_AMPLITUDE * 32767.0)
    samples = np.round(wave).astype("<i2")
    if fmt.channels == 2:
        samples = np.repeat(samples, 2)
    return samples.tobytes()


def frame_ranges(fmt: WavFormat, intervals: Iterable[Interval]) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of the file that the intervals cover (whole frames)."""
    out: list[tuple[int, int]] = []
    for item in merge_intervals(intervals):
        first = max(0, math.floor(item.start * fmt.sample_rate))
        last = min(fmt.frames, math.ceil(item.end * fmt.sample_rate))
        if last > first:
            out.append((fmt.data_offset + first * fmt.block_align, fmt.data_offset + last * fmt.block_align))
    return out


def redact_wav(
    chunks: Iterable[bytes], fmt: WavFormat, intervals: Iterable[Interval], fill: Fill = "tone"
) -> Iterator[bytes]:
    """The WAV given as ``chunks`` with the intervals' samples replaced by ``fill``; every
    other byte unchanged. The tone's phase follows the absolute sample index, so a span
    split across chunks is one continuous tone."""
    ranges = frame_ranges(fmt, intervals)
    position = 0
    current = 0
    for chunk in chunks:
        end = position + len(chunk)
        while current < len(ranges) and ranges[current][1] <= position:
            current += 1
        if current >= len(ranges) or ranges[current][0] >= end:
            yield chunk
            position = end
            continue
        out = bytearray(chunk)
        index = current
        while index < len(ranges) and ranges[index][0] < end:
            lo = max(ranges[index][0], position)
            hi = min(ranges[index][1], end)
            # whole frames only: a range edge inside a chunk stays frame-aligned because
            # ranges are; a frame split across chunks is filled in both halves alike
            first_byte = lo - fmt.data_offset
            first_frame, skew = divmod(first_byte, fmt.block_align)
            count = -(-(hi - lo + skew) // fmt.block_align)
            filled = _fill_frames(first_frame, count, fmt, fill)
            out[lo - position : hi - position] = filled[skew : skew + hi - lo]
            index += 1
        yield bytes(out)
        position = end
