"""Tenants and service accounts (people, roles and 2FA come with the access-control issue)."""

__all__: list[str] = []
