"""Customers: personal fields only as ciphertext plus blind indexes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.db import Base, UtcDateTime

__all__ = ["ENCRYPTED_FIELDS", "INDEXED_FIELDS", "Customer"]

ENCRYPTED_FIELDS = ("name", "mobile", "landline", "id_number", "bank_card", "email", "address")
"""Fields stored only as ``<field>_ct`` ciphertext."""

INDEXED_FIELDS = ("mobile", "id_number", "email")
"""Fields with an exact-match blind index ``<field>_bidx`` (plus ``mobile_last4_bidx``)."""


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_ref"),
        Index("ix_customer_mobile", "tenant_id", "mobile_bidx"),
        Index("ix_customer_mobile_last4", "tenant_id", "mobile_last4_bidx"),
        Index("ix_customer_id_number", "tenant_id", "id_number_bidx"),
        Index("ix_customer_email", "tenant_id", "email_bidx"),
        Index("ix_customer_agent", "tenant_id", "assigned_agent"),
    )

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_key_id: Mapped[uuid.UUID] = mapped_column(Uuid)

    name_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    mobile_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    landline_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_card_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_ct: Mapped[bytes | None] = mapped_column(LargeBinary)

    mobile_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    mobile_last4_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(8))
    id_number_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    email_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))

    membership_level: Mapped[str | None] = mapped_column(String(32))
    assigned_agent: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    external_ref: Mapped[str | None] = mapped_column(String(128))
    retention_class: Mapped[str] = mapped_column(String(32), default="standard")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(default=1)
