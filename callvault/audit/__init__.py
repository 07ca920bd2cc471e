"""The audit log: who did what to which data, when, for what, and what was decided."""

__all__: list[str] = []
