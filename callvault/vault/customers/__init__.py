"""Customers: encrypted fields, masked reads, audited reveals, bulk import."""

__all__: list[str] = []
