"""The vocabulary shared by the policy decision point and the audit log.

``pdp`` decides and records; ``audit.log`` stores what it is given. Both import these
types from here, so the dependency runs one way: ``access.pdp`` → ``audit.log`` →
``access.decision`` (never back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["OUTCOMES", "Decision", "FieldMask", "MaskLevel", "Outcome", "Resource", "RowFilter"]

MaskLevel = Literal["masked", "clear", "none"]
FieldMask = Literal["clear", "masked", "hidden"]
RowFilter = Literal["all", "assigned"]

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
    owner: str | None = None
    """The agent (username) the resource is assigned to, for the ``assigned`` condition."""


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    mask: MaskLevel
    rule: str
    reason: str
    needs_step_up: bool = False
    needs_approval: bool = False
    rows: RowFilter = "all"
    """``assigned``: lists and searches return only the actor's own customers."""
    field_masks: Mapping[str, FieldMask] = field(default_factory=dict)
    """Per-field overrides of ``mask`` from the role × field matrix (``hidden``: never shown)."""
    quota: str | None = None
    critical: bool = False
    """Break-glass and the like: allowed, but an alert for the security officer."""
    approval_kind: str | None = None
