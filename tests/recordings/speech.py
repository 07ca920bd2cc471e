"""Speech built word by word with espeak-ng (resampled by sox), so every word's true
offsets are known; the reference the audio redaction tests check against."""

from __future__ import annotations

import io
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAP_SECONDS = 0.12


@dataclass
class Speech:
    wav: bytes
    rate: int
    channels: int
    samples: np.ndarray  # int16, frames x channels
    words: list[dict[str, float | str]]  # [{"word", "start", "end"}]


def _say(word: str, rate: int, folder: Path) -> np.ndarray:
    raw = folder / "raw.wav"
    out = folder / "word.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "190", "-w", str(raw), word], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-b", "16", "-c", "1", str(out)], check=True)
    with wave.open(str(out), "rb") as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").copy()


def build_speech(words: list[str], *, rate: int = 8000, channels: int = 1) -> Speech:
    gap = np.zeros(int(GAP_SECONDS * rate), dtype="<i2")
    parts: list[np.ndarray] = [gap]
    timeline: list[dict[str, float | str]] = []
    position = len(gap)
    with tempfile.TemporaryDirectory() as folder:
        for word in words:
            said = _say(word, rate, Path(folder))
            timeline.append({"word": word, "start": position / rate, "end": (position + len(said)) / rate})
            parts += [said, gap]
            position += len(said) + len(gap)
    mono = np.concatenate(parts)
    frames = mono.reshape(-1, 1) if channels == 1 else np.stack([mono, mono // 2], axis=1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames.astype("<i2").tobytes())
    return Speech(buffer.getvalue(), rate, channels, frames.astype("<i2"), timeline)


def samples_of(wav_bytes: bytes) -> tuple[np.ndarray, int, int]:
    with wave.open(io.BytesIO(wav_bytes), "rb") as reader:
        channels = reader.getnchannels()
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        return data.reshape(-1, channels), reader.getframerate(), channels


def sox_stat(wav_bytes: bytes, start: float, end: float) -> dict[str, float]:
    """``sox ... trim start =end stat``: sox's own measurement of a stretch of audio."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        handle.write(wav_bytes)
        handle.flush()
        result = subprocess.run(
            ["sox", handle.name, "-n", "remix", "1", "trim", f"{start:.4f}", f"={end:.4f}", "stat"],
            capture_output=True,
            text=True,
            check=True,
        )
    out: dict[str, float] = {}
    for line in result.stderr.splitlines():
        name, _, value = line.partition(":")
        try:
            out[name.strip()] = float(value.strip().split()[0])
        except (ValueError, IndexError):
            continue
    return out
