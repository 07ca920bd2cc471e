"""The vault: personal data stored encrypted, searchable through blind indexes."""

__all__: list[str] = []
