"""Customer schemas at the edge: validation and normalisation happen here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from callvault.vault.fields import validators as v

__all__ = [
    "CustomerCreate",
    "CustomerField",
    "CustomerMasked",
    "CustomerPage",
    "CustomerReveal",
    "CustomerRevealed",
    "CustomerSearch",
    "CustomerUpdate",
    "ImportError_",
    "ImportReport",
]

IDENTIFYING_FIELDS = ("name", "mobile", "landline", "id_number", "bank_card", "email", "external_ref")
"""A customer record must hold at least one of these: an empty row identifies nobody."""

CustomerField = Literal["name", "mobile", "landline", "id_number", "bank_card", "email", "address"]


def _field(normalize: Any) -> Any:
    def check(value: str) -> str:
        try:
            return str(normalize(value))
        except v.FieldError as error:
            raise PydanticCustomError(error.code, error.message) from None

    return AfterValidator(check)


Name = Annotated[str, Field(min_length=1, max_length=100)]
Mobile = Annotated[str, Field(max_length=32), _field(v.normalize_mobile)]
Landline = Annotated[str, Field(max_length=32), _field(v.normalize_landline)]
IdNumber = Annotated[str, Field(max_length=32), _field(v.normalize_id_number)]
BankCard = Annotated[str, Field(max_length=32), _field(v.normalize_bank_card)]
Email = Annotated[str, Field(max_length=254), _field(v.normalize_email)]
Address = Annotated[str, Field(min_length=1, max_length=300)]
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.\-:@/ ]+$")]
ExternalRef = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.\-:@/]+$")]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerCreate(BaseModel):
    model_config = _STRICT

    name: Name | None = None
    mobile: Mobile | None = None
    landline: Landline | None = None
    id_number: IdNumber | None = None
    bank_card: BankCard | None = None
    email: Email | None = None
    address: Address | None = None
    membership_level: Label | None = None
    assigned_agent: Label | None = None
    region: Label | None = None
    external_ref: ExternalRef | None = None

    @model_validator(mode="after")
    def _identifies_someone(self) -> CustomerCreate:
        if type(self) is CustomerCreate and all(getattr(self, field) is None for field in IDENTIFYING_FIELDS):
            raise PydanticCustomError(
                "customer.no_identifier", "give at least one of: " + ", ".join(IDENTIFYING_FIELDS)
            )
        return self


class CustomerUpdate(CustomerCreate):
    """Only the fields present in the request change; ``null`` clears a field."""

    expected_version: int | None = Field(default=None, description="Optimistic concurrency check.")


class CustomerMasked(BaseModel):
    """What a read returns by default: personal fields masked."""

    id: uuid.UUID
    name: str | None
    mobile: str | None
    landline: str | None
    id_number: str | None
    bank_card: str | None
    email: str | None
    address: str | None
    membership_level: str | None
    assigned_agent: str | None
    region: str | None
    external_ref: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    masked_fields: list[str] = Field(default_factory=list, description="Fields shown masked to this reader.")
    hidden_fields: list[str] = Field(
        default_factory=list, description="Fields this reader's role never sees (always null)."
    )
    error: str | None = Field(
        default=None,
        description="Set (e.g. `crypto.decryption_failed`) when this row's personal fields could not be "
        "opened; they are then null and the rest of the page is unaffected.",
    )


class CustomerReveal(BaseModel):
    model_config = _STRICT

    fields: list[CustomerField] = Field(min_length=1, max_length=7)
    reason: str = Field(
        min_length=4,
        max_length=200,
        description="Why the clear value is needed (audited; the policy sets the minimum length, 10 by default).",
    )
    break_glass: bool = Field(
        default=False,
        description="Emergency access outside the usual rules: allowed to supervisors, tenant admins and security "
        "officers after a step-up, with a written justification of at least 30 characters in `reason`; "
        "raises a critical audit event.",
    )


class CustomerRevealed(BaseModel):
    id: uuid.UUID
    fields: dict[str, str | None]
    hidden_fields: list[str] = Field(default_factory=list, description="Requested fields this role never sees.")


class CustomerSearch(BaseModel):
    """Exactly one criterion; values travel in the body, never in a URL."""

    model_config = _STRICT

    mobile: Mobile | None = None
    id_number: IdNumber | None = None
    email: Email | None = None
    external_ref: ExternalRef | None = None
    mobile_last4: Annotated[str, Field(pattern=r"^\d{4}$")] | None = None
    limit: int = Field(default=50, ge=1, le=500)

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerSearch:
        given = [
            name
            for name in ("mobile", "id_number", "email", "external_ref", "mobile_last4")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise PydanticCustomError("search.one_criterion", "give exactly one search criterion")
        return self


class CustomerPage(BaseModel):
    items: list[CustomerMasked]
    next_cursor: str | None


class ImportError_(BaseModel):
    line: int
    field: str | None
    code: str


class ImportReport(BaseModel):
    imported: int = 0
    skipped_existing: int = 0
    failed: int = 0
    errors: list[ImportError_] = Field(default_factory=list)
    errors_truncated: bool = False
