"""Backups: `backup` during a real run, `restore` (asks, refuses during a run), keeping the last N,
file modes, the daily job's backup after the send, PostgreSQL's refusal, the Configurações section."""
from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from dunning import backup
from models import Customer, StationSettings
from smtpserver import configure_station
from test_delivery import load_customers
from test_delivery_cli import start_job

POSIX = sys.platform != "win32"


def rows(db_file: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db_file)) as conn:
        return conn.execute(sql).fetchall()


def snapshot(db_file: Path) -> dict[str, list[tuple]]:
    """What a restore must bring back: customers, their policies, the outbox."""
    return {
        "customers": rows(db_file, "SELECT code, name, send_email, tolerance_days FROM customer "
                                   "ORDER BY code"),
        "rules": rows(db_file, "SELECT customer_id, account_id, send_email FROM "
                               "customer_account_rule ORDER BY id"),
        "outbox": rows(db_file, "SELECT customer_id, status, message_id FROM outbox_line "
                                "WHERE status != 'skipped' ORDER BY customer_id"),
    }


def integrity(db_file: Path) -> str:
    return rows(db_file, "PRAGMA integrity_check")[0][0]


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_backup_during_a_real_run_restores_the_same_data(app, runner, session, db_path,
                                                         smtp_server, tmp_path):
    load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    session.get(Customer, 1).tolerance_days = 4
    session.commit()
    smtp_server.delay = 3.0  # C02's DATA takes 3 s: the run is in progress meanwhile
    proc = start_job(f"sqlite:///{db_path}", app.instance_path)
    try:
        smtp_server.wait_for(lambda s: s.handler.data_started >= 2, timeout=180)

        result = runner.invoke(args=["backup", str(tmp_path / "pendrive")])
        assert result.exit_code == 0, result.output
        refused = runner.invoke(args=["restore", str(next((tmp_path / "pendrive").iterdir())),
                                      "--yes"])
    finally:
        smtp_server.delay = 0
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err

    assert refused.exit_code == 2, refused.output
    assert "Outro envio está em andamento" in refused.output and "Nada foi alterado" in refused.output
    [taken] = backup.list_backups(tmp_path / "pendrive")
    copy = taken.path / backup.DB_FILE
    assert integrity(copy) == "ok"
    at_backup = snapshot(copy)
    assert [status for _, status, _ in at_backup["outbox"]] == ["sent", "sending", "pending"]
    assert len(at_backup["customers"]) == 3 and at_backup["customers"][0][3] == 4
    assert [s for _, s, _ in snapshot(db_path)["outbox"]] == ["sent", "sent", "sent"]

    result = runner.invoke(args=["restore", str(taken.path), "--yes"])

    assert result.exit_code == 0, result.output
    assert integrity(db_path) == "ok"
    assert snapshot(db_path) == at_backup
    assert rows(db_path, "SELECT token, pid FROM run_lock WHERE id = 1") == [("", 0)]
    assert "A situação anterior foi guardada em" in result.output
    # instance/backups: the job's own backup after its send, then the restore's safety copy.
    job_backup, safety = sorted(backup.list_backups(Path(app.instance_path) / "backups"),
                                key=lambda b: b.path.name)
    assert [s for _, s, _ in snapshot(safety.path / backup.DB_FILE)["outbox"]] == ["sent"] * 3


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_backup_files_are_private_and_keys_go_both_ways(app, runner, session, tmp_path):
    instance = Path(app.instance_path)
    (instance / "smtp.key").write_bytes(b"chave-original")
    (instance / "oauth.key").write_bytes(b"outra-chave")
    StationSettings.load(session).sender_name = "Posto Antes"
    session.commit()

    result = runner.invoke(args=["backup", str(tmp_path / "copias")])

    assert result.exit_code == 0, result.output
    [taken] = backup.list_backups(tmp_path / "copias")
    assert taken.path.name.startswith("backup-") and taken.files == [
        "appliance.db", "oauth.key", "smtp.key"]
    if POSIX:
        assert oct(taken.path.stat().st_mode & 0o777) == "0o700"
        assert {oct(p.stat().st_mode & 0o777) for p in taken.path.iterdir()} == {"0o600"}
    (instance / "smtp.key").write_bytes(b"chave-trocada")
    StationSettings.load(session).sender_name = "Posto Depois"
    session.commit()

    result = runner.invoke(args=["restore", str(taken.path)], input="sim\n")

    assert result.exit_code == 0, result.output
    assert "Digite sim para restaurar" in result.output
    assert (instance / "smtp.key").read_bytes() == b"chave-original"
    if POSIX:
        assert oct((instance / "smtp.key").stat().st_mode & 0o777) == "0o600"
    session.expire_all()
    assert StationSettings.load(session).sender_name == "Posto Antes"


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_restore_asks_and_a_no_changes_nothing(app, runner, session, db_path, tmp_path):
    load_customers(session, 2)
    assert runner.invoke(args=["backup", str(tmp_path / "b")]).exit_code == 0
    [taken] = backup.list_backups(tmp_path / "b")
    load_customers(session, 3)
    before = snapshot(db_path)

    result = runner.invoke(args=["restore", str(taken.path)], input="n\n")

    assert result.exit_code == 1 and "Restauração cancelada; nada foi alterado." in result.output
    assert snapshot(db_path) == before and len(before["customers"]) == 3


@pytest.mark.sqlite_only  # backs up the SQLite file
@pytest.mark.parametrize("content", ["missing", "garbage"])
def test_restore_refuses_what_is_not_a_backup(app, runner, db_path, tmp_path, content):
    folder = tmp_path / "nao-e-backup"
    folder.mkdir()
    if content == "garbage":
        (folder / "appliance.db").write_bytes(b"isto nao e um banco" * 100)
    before = db_path.read_bytes()

    result = runner.invoke(args=["restore", str(folder), "--yes"])

    assert result.exit_code == 1 and "Restauração recusada" in result.output
    assert "Nada foi alterado" in result.output and "Traceback" not in result.output
    assert db_path.read_bytes() == before


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_keeps_the_last_n_backups(app, session, tmp_path):
    settings = StationSettings.load(session)
    settings.backup_keep = 2
    session.commit()
    start = datetime(2026, 12, 1, 8, 0, 0)
    for day in range(4):
        backup.take_station_backup(session, app.extensions["sqlalchemy"].engine, app.instance_path,
                                   start + timedelta(days=day), folder=tmp_path / "b")
    kept = backup.list_backups(tmp_path / "b")
    assert [b.path.name for b in kept] == ["backup-2026-12-04_080000", "backup-2026-12-03_080000"]
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_two_backups_in_one_second_both_kept(app, tmp_path, db_path):
    now = datetime(2026, 12, 1, 8, 0, 0)
    first = backup.take_backup(db_path, app.instance_path, tmp_path / "b", now, keep=None)
    second = backup.take_backup(db_path, app.instance_path, tmp_path / "b", now, keep=None)
    assert first.path != second.path and len(backup.list_backups(tmp_path / "b")) == 2


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_backup_to_an_unwritable_place_fails_clearly(app, runner, tmp_path):
    blocker = tmp_path / "arquivo"
    blocker.write_text("x")

    result = runner.invoke(args=["backup", str(blocker / "sub")])

    assert result.exit_code == 1 and "Backup não feito" in result.output
    assert "Traceback" not in result.output


def test_postgresql_says_pg_dump_and_exits_2(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@127.0.0.1:1/x"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 2 and "pg_dump" in result.output
    result = runner.invoke(args=["restore", str(tmp_path), "--yes"])
    assert result.exit_code == 2 and "pg_restore" in result.output


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_daily_job_backs_up_after_the_send_and_keeps_its_exit_code(app, session, db_path,
                                                                   smtp_server, tmp_path):
    load_customers(session, 2)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c2@cliente.example.com", "550 5.1.1 Usuário desconhecido", times=5)
    StationSettings.load(session).backup_folder = str(tmp_path / "rede")
    session.commit()

    proc = start_job(f"sqlite:///{db_path}", app.instance_path)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 1, err  # the send's code: one reminder refused
    [taken] = backup.list_backups(tmp_path / "rede")
    assert "Backup gravado em" in out and str(taken.path) in out
    assert [s for _, s, _ in snapshot(taken.path / backup.DB_FILE)["outbox"]] == [
        "sent", "failed_permanent"]

    # A backup that cannot be written is reported; the job's exit code stays the send's (0 now).
    (tmp_path / "bloqueio").write_text("x")
    StationSettings.load(session).backup_folder = str(tmp_path / "bloqueio" / "sub")
    session.commit()
    proc = start_job(f"sqlite:///{db_path}", app.instance_path)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "Backup não feito" in err and "Traceback" not in err


@pytest.mark.sqlite_only  # backs up the SQLite file
def test_settings_page_backup_section(app, staff, tmp_path):
    page = staff.get("/configuracoes/").get_data(as_text=True)
    assert "Nenhum backup" in page and "instance" in page

    response = staff.post("/configuracoes/backup", data={"folder": "relativa/pasta", "keep": "10"})
    assert response.status_code == 400
    assert "Informe o caminho completo" in response.get_data(as_text=True)
    response = staff.post("/configuracoes/backup", data={"folder": str(tmp_path / "usb"),
                                                         "keep": "0"})
    assert response.status_code == 400 and "Entre 1 e 3650" in response.get_data(as_text=True)

    response = staff.post("/configuracoes/backup", data={"folder": str(tmp_path / "usb"),
                                                         "keep": "10"})
    assert response.status_code == 302
    response = staff.post("/configuracoes/backup/agora", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Backup gravado em" in page and "Último backup" in page
    assert str(tmp_path / "usb") in page
    [taken] = backup.list_backups(tmp_path / "usb")
    assert os.path.isfile(taken.path / "appliance.db")
