"""Pydantic schemas of approvals and webhooks.

A request's ``target`` is a small JSON document of ids that says what is asked for; it
is checked by ``check_target`` (ids, booleans, numbers, short codes; nothing that reads
as personal data), because targets travel in webhook payloads and audit-adjacent places.
Webhook secrets appear once, in ``WebhookCreatedRead``.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callvault.core.errors import Invalid

__all__ = [
    "API_KINDS",
    "ApprovalCreate",
    "ApprovalDecision",
    "ApprovalPage",
    "ApprovalRead",
    "ApprovalStatus",
    "DeliveryPage",
    "DeliveryRead",
    "VoteRead",
    "WebhookCreate",
    "WebhookCreatedRead",
    "WebhookRead",
    "check_comment",
    "check_justification",
    "check_kind",
    "check_target",
    "check_webhook_url",
]

ApprovalStatus = Literal["pending", "approved", "denied", "expired", "revoked"]

API_KINDS = ("full_data", "bulk_read", "break_glass_review")
"""Kinds a person may request through ``POST /v1/approvals``; exports and erasure create
their own requests through the service, with the chain their policy sets."""

_KIND = re.compile(r"[a-z][a-z0-9_]{1,31}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_MAX_KEYS = 20
_MAX_ITEMS = 1000
_MAX_TARGET_CHARS = 64 * 1024
JUSTIFICATION_MIN, JUSTIFICATION_MAX = 10, 2000
COMMENT_MAX = 1000


def check_kind(kind: str) -> str:
    if not _KIND.fullmatch(kind):
        raise Invalid("Kind must be 2-32 characters: a-z, 0-9, _", code="approval.kind_invalid")
    return kind


def _scalar_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def check_target(target: Any) -> dict[str, Any]:
    """The target if it holds only ids and codes: an object of at most 20 keys
    (``snake_case``), each a boolean, a number, a short code (``[A-Za-z0-9._:-]``, at most
    64 characters) or a list of at most 1,000 of those; and no string the PII engine
    recognises (a phone number is not an id)."""
    if not isinstance(target, dict) or not target:
        raise Invalid("Target must be a non-empty JSON object of ids", code="approval.target_invalid")
    if len(target) > _MAX_KEYS:
        raise Invalid(f"Target holds at most {_MAX_KEYS} keys", code="approval.target_invalid")
    strings: list[str] = []
    total = 0
    for key, value in target.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise Invalid("Target keys are snake_case names", code="approval.target_invalid")
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > _MAX_ITEMS:
            raise Invalid(f"A target list holds at most {_MAX_ITEMS} items", code="approval.target_invalid")
        for item in values:
            if not _scalar_ok(item):
                raise Invalid(
                    f"Target value of {key!r} must be ids, booleans, numbers or short codes",
                    code="approval.target_invalid",
                )
            if isinstance(item, str):
                strings.append(item)
                total += len(item)
    if total > _MAX_TARGET_CHARS:
        raise Invalid("Target is too large", code="approval.target_invalid")
    if strings and _holds_personal_data(strings):
        raise Invalid("Target must name ids, not personal data", code="approval.target_personal_data")
    return target


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _holds_personal_data(values: list[str]) -> bool:
    """Any value the PII engine recognises; canonical UUIDs are ids by construction (and
    their digit groups would otherwise read as phone numbers now and then)."""
    from callvault.pii.service import scan

    candidates = [value for value in dict.fromkeys(values) if not _UUID.fullmatch(value)]
    return bool(candidates) and any(scan(candidates))


def _free_text(value: str, *, minimum: int, maximum: int, what: str, code: str) -> str:
    if "\x00" in value:
        raise Invalid(f"{what} must not contain NUL characters", code=code)
    stripped = value.strip()
    if len(stripped) < minimum or len(value) > maximum:
        raise Invalid(f"{what} must be {minimum}-{maximum} characters", code=code)
    return value


def check_justification(value: str) -> str:
    return _free_text(
        value, minimum=JUSTIFICATION_MIN, maximum=JUSTIFICATION_MAX, what="Justification",
        code="approval.justification_invalid",
    )  # fmt: skip


def check_comment(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return _free_text(value, minimum=1, maximum=COMMENT_MAX, what="Comment", code="approval.comment_invalid")


def check_webhook_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    from urllib.parse import urlsplit

    if len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Invalid("Webhook URL must be an http(s) URL of at most 2048 characters", code="webhook.url_invalid")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("Webhook URL is malformed", code="webhook.url_invalid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("Webhook URL must be http or https with a host", code="webhook.url_invalid")
    if parts.username or parts.password:
        raise Invalid("Webhook URL must not carry credentials", code="webhook.url_invalid")
    return url


# -- approvals --------------------------------------------------------------------------
class ApprovalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["full_data", "bulk_read", "break_glass_review"] = Field(
        description="What is asked for: unmasked data (`full_data`), bulk reads, or review of a break-glass access."
    )
    target: dict[str, Any] = Field(
        description='Ids only, e.g. `{"customer_ids": ["..."], "fields": ["mobile"]}` or `{"scope": "tenant"}`.'
    )
    justification: str = Field(
        min_length=JUSTIFICATION_MIN,
        max_length=JUSTIFICATION_MAX,
        description="Why (shown to approvers, stored encrypted, never logged).",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return check_target(value)
        except Invalid as error:
            raise ValueError(error.detail) from None

    @field_validator("justification")
    @classmethod
    def _justification(cls, value: str) -> str:
        try:
            return check_justification(value)
        except Invalid as error:
            raise ValueError(error.detail) from None


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=COMMENT_MAX, description="Shown to the requester.")

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        try:
            return check_comment(value)
        except Invalid as error:
            raise ValueError(error.detail) from None


class VoteRead(BaseModel):
    approver_id: str
    approver_role: str
    approve: bool
    comment: str | None = None
    decided_at: datetime


class ApprovalRead(BaseModel):
    id: uuid.UUID
    kind: str
    target: dict[str, Any]
    status: ApprovalStatus = Field(description="A pending request past `expires_at` reads as `expired`.")
    requester_id: str
    required: int = Field(description="Distinct approvals needed.")
    approvals: int
    approver_roles: list[str]
    justification: str | None = Field(default=None, description="Only in the single-request view.")
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    active: bool = Field(description="Approved and inside its grant window now.")
    requested_by_me: bool = False
    may_decide: bool = Field(default=False, description="You may approve or deny it now.")
    votes: list[VoteRead] = Field(default_factory=list)


class ApprovalPage(BaseModel):
    items: list[ApprovalRead]
    total: int
    limit: int
    offset: int


# -- webhooks ---------------------------------------------------------------------------
class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, description="http(s) endpoint that receives approval events.")
    description: str | None = Field(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return check_webhook_url(value)
        except Invalid as error:
            raise ValueError(error.detail) from None

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("Description must not contain NUL characters")
        return value


class WebhookRead(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None = None
    created_by: str
    created_at: datetime
    deleted_at: datetime | None = None
    pending: int = 0
    delivered: int = 0
    failed: int = 0


class WebhookCreatedRead(WebhookRead):
    secret: str = Field(
        description="Signing secret, shown once: verify `X-CallVault-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "
        '"t.body">`.'
    )


class DeliveryRead(BaseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int
