"""Lifecycle: consent, retention, legal hold, erasure."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["lifecycle"])
