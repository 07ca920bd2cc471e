"""Pydantic schemas of exports: requests, their state, manifests, tracing, the chain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CUSTOMER_FIELDS",
    "ApproverRead",
    "ExportCreate",
    "ExportDecision",
    "ExportFileRead",
    "ExportFilters",
    "ExportManifest",
    "ExportPage",
    "ExportRead",
    "ExportSettingsRead",
    "ExportSettingsUpdate",
    "TraceCandidate",
    "TraceRead",
]

CUSTOMER_FIELDS = (
    "id",
    "name",
    "mobile",
    "landline",
    "id_number",
    "bank_card",
    "email",
    "address",
    "membership_level",
    "assigned_agent",
    "region",
    "external_ref",
    "created_at",
)
"""Columns a customer export may hold (the personal ones are masked unless approved clear)."""

_STRICT = ConfigDict(extra="forbid")
_Code = Field(default=None, min_length=1, max_length=64, pattern=r"^[^\x00]+$")
Role = Literal["supervisor", "tenant_admin", "security_officer", "dpo", "qa"]
"""Roles that may approve an export (auditors read, they never approve)."""


class ExportFilters(BaseModel):
    """Which customers: every filter given must hold (none: every customer the requester may see)."""

    model_config = _STRICT

    region: str | None = _Code
    membership_level: str | None = _Code
    assigned_agent: str | None = _Code
    created_from: datetime | None = None
    created_to: datetime | None = None


class ExportCreate(BaseModel):
    model_config = _STRICT

    subject: Literal["customers"] = "customers"
    fields: list[str] = Field(min_length=1, max_length=len(CUSTOMER_FIELDS))
    unmasked_fields: list[str] = Field(default_factory=list, max_length=7)
    filters: ExportFilters = Field(default_factory=ExportFilters)
    purpose: str = Field(min_length=10, max_length=2000, description="Why (sealed with the approval request)")


class ExportDecision(BaseModel):
    model_config = _STRICT

    comment: str | None = Field(default=None, max_length=1000)


class ExportFileRead(BaseModel):
    format: str
    size: int
    sha256: str
    downloads: int


class ExportRead(BaseModel):
    id: uuid.UUID
    subject: str
    status: str
    requester_id: str
    fields: list[str]
    unmasked_fields: list[str]
    filters: dict[str, object]
    estimated_rows: int
    max_rows: int | None
    levels: list[str]
    approval_id: uuid.UUID
    approvals: int
    waiting_for: str | None = Field(description="The role whose approval is due next")
    progress_rows: int
    row_count: int | None
    skipped_rows: int
    progress: float = Field(description="0-1, rows written of rows expected")
    files: list[ExportFileRead]
    max_downloads: int
    error: str | None
    created_at: datetime
    approved_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None


class ExportPage(BaseModel):
    items: list[ExportRead]
    total: int
    limit: int
    offset: int


class ExportManifest(BaseModel):
    """Signed by the keyring's ``export`` Ed25519 key over ``message`` (UTF-8); check it with
    ``callvault exports verify-manifest`` or any Ed25519 library."""

    export_id: uuid.UUID
    tenant_id: str
    format: str
    rows: int
    sha256: str
    size: int
    generated_at: datetime
    message: str
    public_key: str
    signature: str


class ApproverRead(BaseModel):
    approver_id: str
    role: str
    decided_at: datetime


class TraceCandidate(BaseModel):
    export_id: uuid.UUID
    units: int
    matches: int


class TraceRead(BaseModel):
    matched: bool
    export_id: uuid.UUID | None = None
    requester_id: str | None = None
    requester_username: str | None = None
    approvers: list[ApproverRead] = Field(default_factory=list)
    created_at: datetime | None = None
    generated_at: datetime | None = None
    confidence: float = Field(description="1 - the chance that an export unrelated to the file matches as well")
    units: int = Field(description="Distinct fingerprint units read from the file")
    matches: int
    exports_compared: int
    claimed_export_id: str | None = Field(
        default=None, description="An export id the visible watermark names (not trusted: it can be edited)"
    )
    candidates: list[TraceCandidate] = Field(default_factory=list)


class ExportSettingsRead(BaseModel):
    levels: list[str]
    extra_level: str
    rows_threshold: int
    max_downloads: int
    file_hours: int
    request_hours: int


class ExportSettingsUpdate(BaseModel):
    model_config = _STRICT

    levels: list[Role] = Field(min_length=1, max_length=4)
    extra_level: Role
    rows_threshold: int = Field(ge=0, le=100_000_000)
    max_downloads: int = Field(ge=1, le=10)
    file_hours: int = Field(ge=1, le=168)
    request_hours: int = Field(ge=1, le=720)
