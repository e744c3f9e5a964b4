"""Alembic migrations create the whole schema on SQLite and PostgreSQL, and go back down cleanly."""

from __future__ import annotations

import sqlalchemy as sa

import cropwatch.core.orm  # noqa: F401
from cropwatch.core.db import Base
from cropwatch.core.migrate import downgrade, upgrade


def test_migrations_match_the_tables_and_downgrade(db_url):
    engine = sa.create_engine(db_url)
    have = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= have
    downgrade(db_url, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_no_model_change_is_missing_a_migration(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
