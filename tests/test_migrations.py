"""Migrations on a station's data: down to the first revision and up again keep every row, and a
migration that fails leaves the database as it was.

SQLite rebuilds a table to drop one of its columns; with foreign keys on, dropping a table other
rows point at (runs, companies) failed half-way, and left a database half downgraded under the
old revision (migrations/env.py). These tests hold rows in every table the first revision has.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from conftest import ON_POSTGRESQL
from dunning.delivery import run
from models import db
from test_delivery import FAST
from test_retention import D0, station  # noqa: F401 (a fixture: C01-C04, SMTP configured)

ROOT = Path(__file__).resolve().parent.parent
FIRST = "0001"
HEAD = "0010_plan_index"


def _revision() -> str:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def _tables() -> list[str]:
    return sorted(name for name in inspect(db.engine).get_table_names()
                  if name != "alembic_version")


def _content(columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of these tables, in these columns (those the first revision already had)."""
    with db.engine.connect() as conn:
        return {table: sorted(tuple(row) for row in conn.execute(
            text(f'SELECT {", ".join(names)} FROM "{table}"')))
            for table, names in columns.items()}


@pytest.fixture
def station_with_history(app, session, station, staff):  # noqa: F811
    """The station of test_retention after two real runs (messages sent, skips recorded, counts
    per reason), with a staff user signed in: rows in the runs, lines, users and sessions."""
    assert run(session, D0, app.instance_path, options=FAST).sent == 2
    run(session, D0 + timedelta(days=10), app.instance_path, options=FAST)
    session.commit()
    session.remove()
    return app


def test_down_to_the_first_revision_and_up_again_keeps_every_row(station_with_history):
    app = station_with_history
    with app.app_context():
        assert _revision() == HEAD
        downgrade(revision=FIRST)
        assert _revision() == FIRST
        columns = {table: sorted(c["name"] for c in inspect(db.engine).get_columns(table))
                   for table in _tables()}
        db.engine.dispose()
        upgrade()
        assert _revision() == HEAD
        before_down_again = _content(columns)
        assert before_down_again["outbox_line"] and before_down_again["run"] \
            and before_down_again["invoice"] and before_down_again["user"]
        downgrade(revision=FIRST)
        assert _content(columns) == before_down_again
        upgrade()
        assert _content(columns) == before_down_again
        if not ON_POSTGRESQL:
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_a_failing_migration_changes_nothing(station_with_history, db_path):
    """A line pointing at a missing run (planted with foreign keys off): the downgrade, run as
    staff run it (`flask db downgrade`), finds it at the end, says which row, exits 1, and
    everything it did is undone, its revision included."""
    app = station_with_history
    with app.app_context():
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(text("UPDATE outbox_line SET run_id = 999999 WHERE id = "
                              "(SELECT MIN(id) FROM outbox_line)"))
            conn.commit()
        db.engine.dispose()
        tables, schema = _tables(), _schema()
    done = _flask_db(app, db_path, "downgrade", "0008_smtp_oauth")
    assert done.returncode == 1, done.stderr
    assert "Running downgrade 0010_plan_index" in done.stderr          # it did start
    assert "migration left rows pointing at missing ones" in done.stderr
    assert "outbox_line" in done.stderr and "-> run" in done.stderr
    assert "Traceback" not in done.stderr
    with app.app_context():
        assert _revision() == HEAD
        assert _tables() == tables and _schema() == schema


@pytest.mark.sqlite_only
def test_while_another_program_writes_nothing_to_do_passes_and_a_change_waits_its_turn(
        station_with_history, db_path):
    """Another process holds the write lock (an import, a run): `flask db upgrade` with nothing
    to do still passes (`make run` runs it every time); a downgrade says the database is busy in
    one line, exits 1 and changes nothing."""
    app = station_with_history
    with app.app_context():
        schema = _schema()
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        upgraded = _flask_db(app, db_path, "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        downgraded = _flask_db(app, db_path, "downgrade", "0009_skip_retention")
    finally:
        writer.rollback()
        writer.close()
    assert downgraded.returncode == 1
    assert "nothing was changed: database is locked" in downgraded.stderr
    assert "try again once it ends" in downgraded.stderr and "Traceback" not in downgraded.stderr
    with app.app_context():
        assert _revision() == HEAD and _schema() == schema


def _flask_db(app, db_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`flask db ARGS` as staff run it, on this test's database."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{db_path}",
             "APPLIANCE_INSTANCE": app.instance_path})


def _schema() -> list[tuple]:
    with db.engine.connect() as conn:
        return sorted(conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all())
