"""The foundation: migrations match the models, the example file imports."""
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
