"""Recordings and transcripts: sealed audio in the blob store, gated playback, redaction."""

__all__: list[str] = []
