"""Exports: export requests and their files."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["exports"])
