"""HTTP edge: the FastAPI app (`app.create_app`), request dependencies and problem+json."""

from callvault.api.paths import register as _register_paths

__all__: list[str] = []

_register_paths()  # the `{name:id}` path convertor, needed before any router is imported
