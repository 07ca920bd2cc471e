"""Who may see what: actors, the policy decision point, masks."""

__all__: list[str] = []
