"""The migrations build the schema the models declare: a table, column or index added to
one and not the other (a query planned on an index that only a migration creates, a
column the ORM writes that no migration adds) fails here rather than in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import callvault.models  # noqa: F401 - every capability's tables on Base.metadata
from callvault.core.db import Base
from callvault.core.runtime import Runtime
from tests.conftest import owner_engine


def test_migrations_match_the_models(runtime: Runtime) -> None:
    engine = owner_engine(runtime)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    if engine.dialect.name == "sqlite":
        # SQLite cannot alter a column's type and does not enforce lengths: only PostgreSQL's
        # types are compared
        differences = [d for d in differences if not (isinstance(d, list) and d[0][0] == "modify_type")]
    assert differences == []
