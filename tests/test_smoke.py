"""The foundation: migrations match the models, the example file imports."""
import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import ON_POSTGRESQL
from models import db

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_migrations_match_models(app):
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_import_example_file(runner):
    result = runner.invoke(args=["import-invoices", str(EXAMPLES / "faturas.csv")])
    assert result.exit_code == 0, result.output
    assert "5 novas" in result.output


@pytest.mark.skipif(not ON_POSTGRESQL, reason="SQLite tests each get a fresh copy of the file")
def test_a_database_a_test_migrated_is_not_handed_to_the_next_test(migrated_db):
    """On PostgreSQL the tests' databases are reused: one a test downgraded (or otherwise changed
    the schema of) is dropped when given back, so a failing migration test cannot break others."""
    from flask_migrate import downgrade

    from app import create_app

    changed = migrated_db.take()
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": migrated_db.url_of(changed)})
    with app.app_context():
        downgrade(revision="-1")
        db.engine.dispose()
    migrated_db.give_back(changed)
    assert changed not in migrated_db.ready and changed not in migrated_db.all

    kept = migrated_db.take()
    migrated_db.give_back(kept)  # unchanged: reused
    assert kept in migrated_db.ready

    def revision(name: str) -> str:
        with migrated_db._connect(name) as conn:
            return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    again = migrated_db.take()
    try:
        assert revision(again) == revision(migrated_db.template)
    finally:
        migrated_db.give_back(again)


def test_migrating_in_process_leaves_the_apps_loggers_on(migrated_db):
    """The migrations' logging setup (alembic's fileConfig) ran in this process when the test
    database was migrated, as it does in a restore's upgrade: it must not silence the loggers
    that already exist (a background failure would go unlogged)."""
    import blueprints.preview  # noqa: F401 - among the loggers made before the migration
    ours = [name for name in logging.root.manager.loggerDict
            if name.split(".")[0] in ("app", "blueprints", "dunning", "models")]
    assert "blueprints.preview" in ours
    assert [name for name in ours if logging.getLogger(name).disabled] == []
