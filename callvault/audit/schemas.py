"""Audit API schemas."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "MAX_SEQ",
    "AuditEventRead",
    "AuditPage",
    "AuditQuery",
    "ConsistencyProof",
    "InclusionProof",
    "SignedTreeHead",
    "SubjectReport",
    "UtcInstant",
    "parse_utc_instant",
]

MAX_SEQ = 2**63 - 1
"""Largest sequence number or tree size any backend can store (a signed 64-bit integer):
every integer coming in is bounded by it at the edge, so none reaches a driver that
would overflow."""

_ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)


def parse_utc_instant(value: object) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime.

    A bare date means midnight UTC and a time without an offset is UTC (documented in
    docs/audit.md): the log stores UTC, and a naive value must never reach the database,
    where it either fails (a 500) or compares as some other zone. Numbers are refused
    although Pydantic would read them as Unix times: ``until=0.5`` is a typo, not 1970.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and _ISO_INSTANT.fullmatch(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise PydanticCustomError("datetime.invalid", "not a valid ISO 8601 date or time") from None
    else:
        raise PydanticCustomError("datetime.invalid", "expected an ISO 8601 date or date-time (UTC if no offset)")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime.out_of_range", "date-time out of range") from None


UtcInstant = Annotated[datetime, BeforeValidator(parse_utc_instant)]
"""A query bound in time: ISO 8601 date or date-time, naive values read as UTC."""


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
    outcome: str | None = Field(
        default=None, description="What happened: done, not_found, denied or failed (null on events older than it)."
    )
    leaf_hash: str


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_id: str | None = Field(default=None, max_length=128)
    subject_id: str | None = Field(default=None, max_length=128)
    action: str | None = Field(default=None, max_length=64)
    decision: Literal["allow", "deny"] | None = None
    since: UtcInstant | None = Field(default=None, description="ISO 8601 date or date-time; no offset means UTC.")
    until: UtcInstant | None = Field(default=None, description="ISO 8601 date or date-time; no offset means UTC.")
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ, description="Cursor: return events after this sequence number.")
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
    outcome: str | None = None


class SubjectReport(BaseModel):
    """Who saw this customer's data: the access part of a data-subject access request."""

    tenant_id: str
    subject_id: str
    accesses: list[SubjectAccess]
    total: int
