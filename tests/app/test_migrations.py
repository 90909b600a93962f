"""Migrations run up, down and up again on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from app.migrate import downgrade, pending_model_changes, upgrade
from tests.conftest import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    upgrade(empty_database)
    assert {"pensioner", "staff_user", "audit_event", "region"} <= _tables(empty_database)
    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    upgrade(empty_database)
    assert "pensioner" in _tables(empty_database)


def test_models_and_migrations_agree(empty_database: str) -> None:
    upgrade(empty_database)
    assert pending_model_changes(empty_database) == []
