"""Audit API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "AuditEventRead",
    "AuditPage",
    "AuditQuery",
    "ConsistencyProof",
    "InclusionProof",
    "SignedTreeHead",
    "SubjectReport",
]


class AuditEventRead(BaseModel):
    seq: int
    time: datetime
    tenant_id: str
    actor_id: str
    actor_kind: str
    actor_role: str | None
    session_id: str | None
    action: str
    resource_type: str
    resource_id: str | None
    subject_id: str | None
    purpose: str | None
    decision: str
    mask: str | None
    rule: str | None
    reason: str | None
    request_id: str | None
    client_ip: str | None
    leaf_hash: str


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_id: str | None = Field(default=None, max_length=128)
    subject_id: str | None = Field(default=None, max_length=128)
    action: str | None = Field(default=None, max_length=64)
    decision: Literal["allow", "deny"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = Field(default=0, ge=0, description="Cursor: return events after this sequence number.")
    limit: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> AuditQuery:
        if self.since and self.until and self.until < self.since:
            raise PydanticCustomError("time_range.backwards", "until is before since")
        return self


class AuditPage(BaseModel):
    items: list[AuditEventRead]
    next_after_seq: int | None


class SignedTreeHead(BaseModel):
    size: int
    root: str
    time: str
    key_id: str
    signature: str


class InclusionProof(BaseModel):
    """Everything an offline verifier needs (`callvault audit verify-proof`)."""

    seq: int
    leaf_index: int
    leaf_hash: str
    tree_size: int
    audit_path: list[str]
    tree_head: SignedTreeHead
    public_key: str


class ConsistencyProof(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]
    public_key: str


class SubjectAccess(BaseModel):
    seq: int
    time: datetime
    actor_id: str
    actor_role: str | None
    action: str
    purpose: str | None
    decision: str
    mask: str | None


class SubjectReport(BaseModel):
    """Who saw this customer's data: the access part of a data-subject access request."""

    tenant_id: str
    subject_id: str
    accesses: list[SubjectAccess]
    total: int
