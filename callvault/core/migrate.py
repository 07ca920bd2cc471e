"""Apply Alembic migrations (``callvault init`` and every start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["alembic_config", "upgrade"]

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine, *, app_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["app_role"] = app_role
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, *, app_role: str | None = None) -> None:
    """Bring the schema to the newest revision, as the schema owner.

    ``app_role`` (PostgreSQL): the non-owner role the application runs as; migrations grant
    it exactly the privileges it needs.
    """
    config = alembic_config(engine, app_role=app_role)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
