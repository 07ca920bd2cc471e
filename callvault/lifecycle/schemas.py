"""Lifecycle request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CHANNELS",
    "DATA_CLASSES",
    "PURPOSES",
    "ConsentGive",
    "ConsentHistory",
    "ConsentRead",
    "ConsentWithdraw",
    "DataSchemaRead",
    "DataSchemaUpdate",
    "DeletionCertificate",
    "DsarCreate",
    "DsarRead",
    "ErasureRequestCreate",
    "HoldCreate",
    "HoldRead",
    "MinimizationReport",
    "PurposeCheck",
    "PurposeCheckRead",
    "RetentionRead",
    "RetentionUpdate",
    "SigningKeyRead",
    "SubjectDataReport",
    "SweepReport",
]

Purpose = Literal["marketing_call", "call_recording", "analytics", "partner_sharing", "cross_border"]
PURPOSES: tuple[str, ...] = ("marketing_call", "call_recording", "analytics", "partner_sharing", "cross_border")
Channel = Literal["ivr", "web_form", "agent_script", "signed_paper"]
CHANNELS: tuple[str, ...] = ("ivr", "web_form", "agent_script", "signed_paper")
DataClass = Literal[
    "customer_profile", "call_metadata", "recordings", "transcripts", "audit_log", "consent_evidence", "exports"
]
DATA_CLASSES: tuple[str, ...] = (
    "customer_profile", "call_metadata", "recordings", "transcripts", "audit_log", "consent_evidence", "exports",
)  # fmt: skip
SchemaPurpose = Literal["service", "marketing_call", "call_recording", "analytics", "partner_sharing", "cross_border"]
SchemaField = Literal[
    "name", "mobile", "landline", "id_number", "bank_card", "email", "address", "membership_level", "region"
]  # fmt: skip

_STRICT = ConfigDict(extra="forbid")
_Code = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
_Hash = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lowercase hex.")


class ConsentGive(BaseModel):
    model_config = _STRICT

    purpose: Purpose
    partner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
    channel: Channel
    notice_version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    notice_hash: str = _Hash
    evidence_ref: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
    evidence_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ConsentWithdraw(BaseModel):
    model_config = _STRICT

    purpose: Purpose
    partner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
    channel: Channel
    evidence_ref: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
    evidence_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ConsentRead(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    purpose: str
    partner: str | None
    status: Literal["given", "withdrawn"]
    channel: str
    recorded_at: datetime
    evidence_until: datetime | None
    receipt: dict[str, Any] = Field(description="The signed consent receipt (canonical JSON is what is signed).")
    signature: str = Field(description="Ed25519 signature, base64, of `callvault/consent-receipt/v1\\n` + receipt.")
    changed: bool = Field(default=True, description="False when a withdrawal found the consent already withdrawn.")


class ConsentHistory(BaseModel):
    subject_id: uuid.UUID
    current: dict[str, Literal["given", "withdrawn"]] = Field(description="purpose[:partner] -> state now.")
    history: list[ConsentRead]


class PurposeCheck(BaseModel):
    model_config = _STRICT

    action: Literal["marketing_call", "partner_transfer"]
    partner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


class PurposeCheckRead(BaseModel):
    allowed: bool
    rule: str


class DataSchemaUpdate(BaseModel):
    model_config = _STRICT

    fields: dict[SchemaField, list[SchemaPurpose]] = Field(
        description="Customer fields this tenant may collect, each with the purposes that need it."
    )


class DataSchemaRead(BaseModel):
    version: int | None
    fields: dict[str, list[str]] | None = Field(description="null: no schema, every field may be collected.")


class UnneededField(BaseModel):
    field: str
    stored: int
    purposes: list[str]
    reason: str


class MinimizationReport(BaseModel):
    active_purposes: list[str]
    unneeded: list[UnneededField]


class RetentionRead(BaseModel):
    data_class: str
    days: int
    default: bool


class RetentionUpdate(BaseModel):
    model_config = _STRICT

    days: int = Field(ge=1, le=36_500)


class HoldCreate(BaseModel):
    model_config = _STRICT

    subject_id: uuid.UUID | None = Field(default=None, description="null: a case hold over every subject.")
    case_ref: str = _Code
    data_classes: list[DataClass] = Field(default_factory=list, description="Empty: every data class.")


class HoldRead(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID | None
    case_ref: str
    data_classes: list[str]
    created_at: datetime
    created_by: str
    released_at: datetime | None


class ClassReport(BaseModel):
    data_class: str
    days: int | None
    cutoff: datetime | None
    status: Literal["swept", "dry_run", "suspended", "kept", "no_handler"]
    expired: int = 0
    held: int = 0
    deleted: int = 0
    note: str | None = None


class SweepReport(BaseModel):
    run_id: uuid.UUID | None
    tenant_id: str
    as_of: datetime
    dry_run: bool
    complete: bool
    resumed: bool = False
    classes: list[ClassReport]
    certificate: dict[str, Any] | None = None
    signature: str | None = None


class ErasureRequestCreate(BaseModel):
    model_config = _STRICT

    justification: str = Field(min_length=10, max_length=2000)


class DeletionCertificate(BaseModel):
    certificate: dict[str, Any]
    signature: str
    signing_key_id: str


class SigningKeyRead(BaseModel):
    key_id: str
    public_key: str = Field(description="Raw Ed25519 public key, base64.")
    algorithm: str = "Ed25519"


class DsarCreate(BaseModel):
    model_config = _STRICT

    kind: Literal["access", "erasure"]
    regime: Literal["gdpr", "pipl"]


class DsarRead(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    kind: str
    regime: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    overdue: bool


class SubjectDataReport(BaseModel):
    tenant_id: str
    subject_id: uuid.UUID
    generated_at: datetime
    fields: dict[str, str | None] = Field(description="Personal fields, decrypted (DPO only).")
    attributes: dict[str, Any]
    consents: list[ConsentRead]
    legal_holds: list[HoldRead]
    calls: list[dict[str, Any]]
    recordings: list[uuid.UUID] = Field(default_factory=list, description="Ids of the subject's recordings.")
    accesses: list[dict[str, Any]] = Field(description="Who saw the data, when, why (from the audit log).")
    requests: list[DsarRead]
