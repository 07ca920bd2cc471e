"""HTTP edge: the FastAPI app (`app.create_app`), request dependencies and problem+json."""

__all__: list[str] = []
