"""Monitoring: anomaly rules, alerts and incidents."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["monitoring"])
