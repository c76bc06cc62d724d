"""Shared fixtures: a real SQLite file per test (migrated once, then copied), client, runner."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask_migrate import upgrade

from app import create_app
from models import db


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """A database file brought to the latest schema by the real migrations, made once."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def db_path(migrated_db, tmp_path) -> Path:
    """This test's own copy of the migrated database."""
    path = tmp_path / "appliance.db"
    shutil.copy(migrated_db, path)
    return path


@pytest.fixture
def app(db_path, tmp_path):
    """The app on this test's database file, with its instance folder under tmp_path."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    with app.app_context():
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
