"""Shared fixtures: a fresh real database per test, client, runner.

The suite runs on SQLite (a copy of a file migrated once per session) or, when TEST_DATABASE_URL
names a PostgreSQL server (see .ci/pg.sh and ``make test-pg``), on PostgreSQL: a database created
per test from a template database migrated once per session. Tests that look at SQLite's own
internals are marked ``sqlite_only`` and skipped on PostgreSQL.
"""
from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import make_url

from app import create_app
from models import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRESQL = make_url(TEST_DATABASE_URL).get_backend_name() == "postgresql" \
    if TEST_DATABASE_URL else False


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: inspects SQLite internals; skipped on "
                                       "PostgreSQL")


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRESQL:
        skip = pytest.mark.skip(reason="inspects SQLite internals")
        for item in items:
            if "sqlite_only" in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + TEST_DATABASE_URL if ON_POSTGRESQL else 'SQLite'}"


class PostgresDatabases:
    """Databases on the test server for the tests: a template migrated once, copies of it made
    with CREATE DATABASE ... TEMPLATE, and each copy emptied back to the template's content
    after a test (TRUNCATE, the template's rows and sequence values), ready for the next one:
    a fresh database per test at a fraction of the cost of creating one."""

    def __init__(self, url: str):
        import psycopg
        self.connect, self.error = psycopg.connect, psycopg.Error
        self.url = make_url(url)
        self.admin = self._connect(self.url.database)
        self.prefix = f"test_{os.getpid()}"
        self.counter = itertools.count()
        self.template = self._create()
        _migrate(self.url_of(self.template))
        with self._connect(self.template) as conn:
            self.tables = [name for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY tablename")]
            self.rows = {table: conn.execute(f'SELECT * FROM "{table}"').fetchall()
                         for table in self.tables}
            self.sequences = [(name, *conn.execute(
                f'SELECT last_value, is_called FROM "{name}"').fetchone()) for (name,) in
                conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
            self.schema = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]
        self.ready: list[str] = []  # copies holding exactly the template's content
        self.all: list[str] = [self.template]

    def _connect(self, database: str):
        return self.connect(self.url.set(drivername="postgresql", database=database)
                            .render_as_string(hide_password=False), autocommit=True)

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{next(self.counter)}"
        self.admin.execute(f'CREATE DATABASE "{name}"'
                           + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def take(self) -> str:
        """A database with the template's content, for one test."""
        if self.ready:
            return self.ready.pop()
        self.all.append(self._create(self.template))
        return self.all[-1]

    def give_back(self, name: str) -> None:
        """Empty a test's database back to the template's content (ending whatever connections
        the test left, e.g. a server it started)."""
        self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        try:
            with self._connect(name) as conn:
                schema = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]
        except self.error:  # e.g. downgraded below the first migration: no alembic_version
            schema = None
        if schema != self.schema:  # the test migrated or altered it: never hand it on
            self.admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            self.all.remove(name)
            return
        with self._connect(name) as conn, conn.transaction():
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in self.tables)
                         + " RESTART IDENTITY CASCADE")
            for table, rows in self.rows.items():
                if rows:
                    marks = ", ".join(["%s"] * len(rows[0]))
                    conn.cursor().executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
            for sequence, last_value, is_called in self.sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, last_value, is_called))
        self.ready.append(name)

    def close(self) -> None:
        for name in self.all:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


# The schema of a test database, as one text: its columns, indexes, constraints and migration.
# A test that downgrades, or drops an index, leaves a database the next test must not get.
_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
  SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
  FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'alembic ' || version_num FROM alembic_version) AS schema(item)"""


def _migrate(url: str) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """The database brought to the latest schema by the real migrations, made once: a SQLite
    file's path, or (on PostgreSQL) the test databases' factory."""
    if ON_POSTGRESQL:
        databases = PostgresDatabases(TEST_DATABASE_URL)
        yield databases
        databases.close()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        _migrate(f"sqlite:///{path}")
        yield path


def copy_of_migrated(migrated_db, folder: Path, name: str = "appliance") -> tuple[str, callable]:
    """A fresh copy of the migrated database: its URL, and what to call when done with it (a
    file in ``folder`` on SQLite; a database on the test server on PostgreSQL)."""
    if ON_POSTGRESQL:
        taken = migrated_db.take()
        return migrated_db.url_of(taken), lambda: migrated_db.give_back(taken)
    path = Path(folder) / f"{name}.db"
    shutil.copy(migrated_db, path)
    return f"sqlite:///{path}", lambda: None


@pytest.fixture
def new_database(migrated_db, tmp_path):
    """``new_database(name)``: the URL of a fresh copy of the migrated database."""
    releases = []

    def make(name: str = "appliance") -> str:
        url, release = copy_of_migrated(migrated_db, tmp_path, name)
        releases.append(release)
        return url

    yield make
    for release in releases:
        release()


@pytest.fixture
def db_url(new_database) -> str:
    """This test's own copy of the migrated database, as a SQLAlchemy URL."""
    return new_database()


@pytest.fixture
def db_path(db_url) -> Path:
    """This test's SQLite file (for tests marked sqlite_only)."""
    assert db_url.startswith("sqlite:///"), "db_path is SQLite's: mark the test sqlite_only"
    return Path(db_url.removeprefix("sqlite:///"))


@pytest.fixture
def app(db_url, tmp_path):
    """The app on this test's database, with its instance folder under tmp_path."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": db_url,
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A database session inside an app context."""
    with app.app_context():
        yield db.session


@pytest.fixture
def staff(app, client):
    """``client`` logged in as a staff user (CSRF off; tests of CSRF turn it back on)."""
    from dunning.users import create_user
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        create_user(db.session, "caixa", "senha-segura-1")
    response = client.post("/entrar", data={"username": "caixa", "password": "senha-segura-1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def smtp_server(tmp_path):
    """A real SMTP server on 127.0.0.1 (plain, no AUTH) recording what it receives; see smtpserver."""
    from smtpserver import SmtpServer
    server = SmtpServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls_server(tmp_path, monkeypatch):
    """A real SMTP server requiring STARTTLS + AUTH, with a certificate the client trusts."""
    from smtpserver import SmtpServer
    server = SmtpServer(tmp_path, tls=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
    yield server
    server.stop()


@pytest.fixture
def token_server(tmp_path, monkeypatch):
    """A real OAuth 2.0 authority (HTTPS, 127.0.0.1) that msal and google-auth talk to; see
    oauthserver. The requests library trusts its certificate."""
    from oauthserver import TokenServer
    server = TokenServer(tmp_path / "authority").start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cafile))
    yield server
    server.stop()


@pytest.fixture
def oauth_smtp_server(tmp_path, monkeypatch, token_server):
    """A real SMTP server requiring STARTTLS and offering XOAUTH2, accepting only a live access
    token of the right user from ``token_server``."""
    from smtpserver import SmtpServer
    (tmp_path / "smtp").mkdir()
    server = SmtpServer(tmp_path / "smtp", tls=True, bearer=token_server.valid).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
    yield server
    server.stop()
