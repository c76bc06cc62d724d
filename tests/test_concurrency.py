"""Imports and the run sharing the database (issue 9 item 5), with real processes on a real
database (SQLite file or PostgreSQL): a run started while a large import runs waits for it and sends everything once; two
imports started together both end well; a browser upload during a command-line import is told
another import is running; a busy database is retried; errors name their real cause."""
from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from app import create_app
from dunning.dberrors import explain, retry_when_locked
from models import Customer, ImportRecord, OutboxLine, db
from smtpserver import configure_station
from test_delivery import load_customers

ROOT = Path(__file__).resolve().parent.parent
HEADER = "empresa;empresa_nome;cliente;nome;email;documento;parcela;vencimento;saldo\r\n"


def big_export(path: Path, rows: int, company: str = "9", prefix: str = "B") -> Path:
    """A large ERP export of one company (its own customers), to keep the database busy."""
    with open(path, "w", encoding="cp1252", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(f"{company};Posto {company};{prefix}{i % 5000:05d};Cliente {i % 5000};"
                      f"c{i % 5000}@exemplo.com.br;{prefix}{i:07d};{i % 3};01/10/2026;"
                      f"{i % 9000 + 100},{i % 100:02d}\r\n")
    return path


def start(args: list[str], db_url: str, instance: str) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "DATABASE_URL": db_url,
                                                 "APPLIANCE_INSTANCE": instance},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def flask_import(path: Path, db_url: str, instance: str) -> subprocess.Popen:
    return start([sys.executable, "-m", "flask", "--app", "app", "import-invoices", str(path)],
                 db_url, instance)


def wait_for_import_lock(db_url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until the import process holds the import lock (row 2 of run_lock)."""
    engine = create_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            with engine.connect() as conn:
                token = conn.execute(text("SELECT token FROM run_lock WHERE id = 2")).scalar()
            if token:
                return
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the import never took its lock")


def test_a_run_started_during_a_large_import_waits_then_sends_each_message_once(
        app, session, smtp_server, db_url, tmp_path):
    addresses = load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    session.remove()
    big = big_export(tmp_path / "grande.csv", 400_000)
    importer = flask_import(big, db_url, app.instance_path)
    wait_for_import_lock(db_url, importer)
    job = start([sys.executable, "app.py", "--email_pendencia_financeira", "--date", "2026-11-27"],
                db_url, app.instance_path)
    job_out, job_err = job.communicate(timeout=600)
    import_out, import_err = importer.communicate(timeout=600)
    assert importer.returncode == 0, import_err
    assert job.returncode == 0, job_out + job_err
    assert "Aguardando a importação de faturas em andamento terminar" in job_err
    assert "3 enviados, 0 falhas" in job_out
    assert [len(smtp_server.messages_to(a)) for a in addresses] == [1, 1, 1]
    with app.app_context():
        statuses = [line.status for line in db.session.scalars(select(OutboxLine))]
    assert statuses == ["sent"] * 3  # nothing `sending`, nothing `unknown`


def test_two_imports_started_together_both_end_well_one_after_the_other(app, db_url, tmp_path):
    first = big_export(tmp_path / "um.csv", 150_000, company="7", prefix="U")
    second = big_export(tmp_path / "dois.csv", 150_000, company="8", prefix="D")
    processes = [flask_import(first, db_url, app.instance_path),
                 flask_import(second, db_url, app.instance_path)]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, out + err
        assert "Traceback" not in err
    assert any("Aguardando a importação de faturas" in err for _, err in outputs)
    with app.app_context():
        results = db.session.execute(select(ImportRecord.file_name, ImportRecord.result)).all()
        count = db.session.scalar(text("SELECT count(*) FROM invoice"))
    assert sorted(results) == [("dois.csv", "accepted"), ("um.csv", "accepted")]
    assert count == 300_000


def test_a_browser_upload_during_a_cli_import_says_another_is_running(app, staff, db_url,
                                                                      tmp_path):
    big = big_export(tmp_path / "grande.csv", 300_000)
    importer = flask_import(big, db_url, app.instance_path)
    try:
        wait_for_import_lock(db_url, importer)
        response = staff.post("/importar/faturas", data={"faturas-file": (io.BytesIO(
            (HEADER + "1;P;C1;N;c@x.com.br;F1;;01/10/2026;10,00\r\n").encode()), "pequeno.csv")},
            content_type="multipart/form-data")
        assert response.status_code == 409
        page = response.get_data(as_text=True)
        assert "Outra importação de faturas está em andamento" in page
        assert "pequeno.csv não importado" in page
    finally:
        out, err = importer.communicate(timeout=600)
    assert importer.returncode == 0, err


@pytest.mark.sqlite_only  # SQLite's whole-file write lock
def test_a_write_is_retried_while_another_connection_holds_the_database(db_path):
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # as an import's transaction does
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0.2})
    tries = []

    def write() -> None:
        tries.append(1)
        with engine.begin() as conn:
            conn.execute(text("UPDATE station_settings SET smtp_timeout = 61"))
            conn.execute(text("INSERT INTO customer_group (code, name, send_email) "
                              "VALUES ('G', 'G', 0)"))

    threading.Timer(1.5, holder.rollback).start()
    retry_when_locked(write, lambda: None, limit=30, pause=0.1)
    assert len(tries) > 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customer_group")).scalar() == 1
    engine.dispose()
    holder.close()


@pytest.mark.sqlite_only  # SQLite's own files and messages (PostgreSQL's: the next test)
def test_database_errors_name_their_real_cause(tmp_path, db_path):
    empty = tmp_path / "vazio.db"
    sqlite3.connect(empty).close()
    no_schema = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "i"),
                            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{empty}"})
    result = no_schema.test_cli_runner().invoke(args=["email-pendencia-financeira"])
    assert result.exit_code == 2
    assert "não tem as tabelas desta versão: rode `flask --app app db upgrade`" in result.output
    read_only = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "j"),
                            "SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{db_path}?mode=ro&uri=true"})
    big = big_export(tmp_path / "f.csv", 10)
    result = read_only.test_cli_runner().invoke(args=["import-invoices", str(big)])
    assert result.exit_code == 2, result.output
    assert "somente leitura" in result.output and "Traceback" not in result.output
    from sqlalchemy.exc import OperationalError
    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    assert "o disco está cheio" in explain(full)
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert "ocupado por outra operação" in explain(locked)


@pytest.mark.parametrize("error,words", [
    ("LockNotAvailable", "ocupado por outra operação"), ("DeadlockDetected", "ocupado por outra operação"),
    ("ReadOnlySqlTransaction", "somente leitura"), ("DiskFull", "o disco está cheio"),
    ("UndefinedTable", "não tem as tabelas desta versão"), ("UndefinedColumn", "não tem as tabelas"),
    ("InvalidPassword", "não foi possível abrir o banco de dados")])
def test_postgresql_errors_name_their_real_cause_by_sqlstate(error, words):
    """PostgreSQL's errors are told apart by their SQLSTATE (psycopg's own exception classes)."""
    import psycopg.errors
    from sqlalchemy.exc import OperationalError
    wrapped = OperationalError("UPDATE", {}, getattr(psycopg.errors, error)("server text"))
    assert words in explain(wrapped) and "server text" not in explain(wrapped)
