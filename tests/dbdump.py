"""The whole content of a test database, comparable before and after (SQLite or PostgreSQL)."""
from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

_INDEXES = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name",
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                  "ORDER BY indexname",
}


def dump(url: str) -> list:
    """Every table's rows (sorted) and the schema's indexes: what an all-or-nothing operation
    must leave exactly as it was."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            content: list = [tuple(row) for row in
                             conn.execute(text(_INDEXES[conn.dialect.name]))]
            for table in sorted(inspect(conn).get_table_names()):
                if table == "import_record":  # every attempt is recorded: bookkeeping, not data
                    continue
                rows = conn.execute(text(f'SELECT * FROM "{table}"'))
                if table == "run_lock":  # the import lock (row 2) is claimed by every import
                    rows = [row for row in rows if row[0] != 2]
                content.extend(sorted(((table, *row) for row in rows), key=repr))
            return content
    finally:
        engine.dispose()


def query(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    """The rows of one query on the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params or {})]
    finally:
        engine.dispose()
