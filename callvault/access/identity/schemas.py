"""Pydantic schemas of the people API (login, TOTP, users). Secrets are write-only:
no response schema carries a password hash, a TOTP secret (except once, at enrolment)
or a token digest."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

__all__ = [
    "Login",
    "LoginRead",
    "PasswordSet",
    "Role",
    "StepUp",
    "StepUpRead",
    "TotpConfirm",
    "TotpEnrolmentRead",
    "TotpRecoveryCodesRead",
    "UserCreate",
    "UserCreatedRead",
    "UserPage",
    "UserRead",
    "UserUpdate",
    "user_read",
]

Role = Literal["agent", "intern", "qa", "supervisor", "tenant_admin", "security_officer", "dpo", "auditor"]
_TENANT = r"^[a-z0-9][a-z0-9\-]{1,62}$"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=_TENANT, description="Tenant id.")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(
        default=None, max_length=32, description="TOTP code, or a recovery code, when the account has TOTP."
    )


class LoginRead(BaseModel):
    token: str = Field(description="Session token `cvs_...`: send as `Authorization: Bearer`. Shown once.")
    expires_at: datetime = Field(description="Absolute expiry; the session also ends after idle minutes.")
    idle_minutes: int
    user_id: uuid.UUID
    role: str
    enrol_only: bool = Field(description="True: this role needs TOTP; only /v1/auth/ routes work until enrolled.")
    step_up_at: datetime | None


class TotpEnrolmentRead(BaseModel):
    secret: str = Field(description="Base32 secret, shown once (for manual entry).")
    provisioning_uri: str = Field(description="otpauth:// URI for a QR code.")


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=16)


class TotpRecoveryCodesRead(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use codes, shown once.")


class StepUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=16, description="Current TOTP code.")


class StepUpRead(BaseModel):
    step_up_at: datetime


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str | None
    email: str | None
    role: str
    status: str
    source: str
    external_id: str | None
    totp_enrolled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    offboarded_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UserCreatedRead(UserRead):
    initial_password: str | None = Field(default=None, description="Generated password, shown once.")


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    role: Role
    display_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    password: str | None = Field(
        default=None, min_length=1, max_length=256, description="Omit to generate one (returned once)."
    )


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    status: Literal["active", "frozen", "disabled"] | None = Field(
        default=None, description="`disabled` or `frozen` ends every session and grant at once."
    )


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None, min_length=1, max_length=256, description="Omit to generate one (returned once)."
    )


def user_read(user: object) -> UserRead:
    """``UserRead`` of a ``User`` row (``totp_enrolled`` derived, secrets left out)."""
    data = {name: getattr(user, name) for name in UserRead.model_fields if name != "totp_enrolled"}
    return UserRead(**data, totp_enrolled=getattr(user, "totp_confirmed_at", None) is not None)
