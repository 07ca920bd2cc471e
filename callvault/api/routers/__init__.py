"""One router per capability; each declares dependencies, calls one service, returns a schema."""

__all__: list[str] = []
