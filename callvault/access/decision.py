"""The vocabulary shared by the policy decision point and the audit log.

``pdp`` decides and records; ``audit.log`` stores what it is given. Both import these
types from here, so the dependency runs one way: ``access.pdp`` → ``audit.log`` →
``access.decision`` (never back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["OUTCOMES", "Decision", "MaskLevel", "Outcome", "Resource"]

MaskLevel = Literal["masked", "clear", "none"]

Outcome = Literal["done", "not_found", "denied", "failed"]
"""What happened, recorded beside what was decided: allowed and done, allowed but the
resource did not exist (for this tenant), denied, or allowed but failed (with the error
code in the event's ``reason``)."""

OUTCOMES: tuple[Outcome, ...] = ("done", "not_found", "denied", "failed")


@dataclass(frozen=True, slots=True)
class Resource:
    type: str
    tenant_id: str
    id: str | None = None
    subject_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    mask: MaskLevel
    rule: str
    reason: str
    needs_step_up: bool = False
    needs_approval: bool = False
