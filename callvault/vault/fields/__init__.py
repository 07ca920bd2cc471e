"""Encrypted columns: per-subject data keys, validation and normalisation of personal fields."""

__all__: list[str] = []
