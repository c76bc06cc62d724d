"""The import folder (issue 9 item 3) with real files and folders: accepted, refused, repeated and
still-being-written files, the moves, a file that cannot be moved, the history rows, and the
scheduled job importing the folder before it sends."""
from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dunning.folder import import_folder
from models import Company, Customer, ImportRecord, Invoice, StationSettings, db
from smtpserver import configure_station
from stations import complete_creditors

HEADER = "empresa;empresa_nome;empresa_cnpj;cliente;nome;email;documento;vencimento;saldo"


def export(folder: Path, name: str, rows: list[str], age: timedelta = timedelta(minutes=10)) -> Path:
    """The ERP's scheduled export writing ``name`` into the folder, ``age`` ago."""
    path = folder / name
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="cp1252")
    when = (datetime.now() - age).timestamp()
    os.utime(path, (when, when))
    return path


def row(customer: str, document: str, saldo: str = "100,00", company: str = "1") -> str:
    return (f"{company};Posto {company};11.222.333/0001-81;{customer};Cliente {customer};"
            f"{customer.lower()}@cliente.example.com;{document};01/10/2026;{saldo}")


@pytest.fixture
def folder(tmp_path, runner):
    path = tmp_path / "exportacao"
    path.mkdir()
    result = runner.invoke(args=["configure-import", "--folder", str(path)])
    assert result.exit_code == 0, result.output
    return path


def records(session) -> list[ImportRecord]:
    session.expire_all()
    return list(session.scalars(select(ImportRecord).order_by(ImportRecord.id)))


def month(now=None) -> str:
    return (now or datetime.now()).strftime("%Y-%m")


def test_files_are_imported_oldest_first_and_moved_by_result(folder, runner, session):
    older = export(folder, "faturas-1.csv", [row("C1", "F1"), row("C2", "F2")],
                   age=timedelta(hours=2))
    newer = export(folder, "faturas-2.csv", [row("C1", "F1")], age=timedelta(hours=1))
    bad = export(folder, "faturas-3.csv", [row("C1", "F1", saldo="-5,00")], age=timedelta(minutes=30))
    fresh = export(folder, "faturas-4.csv", [row("C9", "F9")], age=timedelta(seconds=5))
    other = export(folder, "leiame.txt", ["nada"], age=timedelta(hours=3))
    sha_bad = hashlib.sha256(bad.read_bytes()).hexdigest()

    result = runner.invoke(args=["import-folder"])
    assert result.exit_code == 1, result.output
    assert "faturas-1.csv: importado, 2 linhas" in result.output
    assert "faturas-3.csv: RECUSADO" in result.output and "saldo negativo" in result.output
    assert "faturas-4.csv: aguardando" in result.output
    # Oldest first: the newer snapshot settled F2 (missing from it).
    session.expire_all()
    assert session.scalar(select(Invoice.balance_cents).where(Invoice.document == "F2")) == 0
    imported = folder / "importados" / month()
    assert sorted(p.name for p in imported.iterdir()) == ["faturas-1.csv", "faturas-2.csv"]
    assert not older.exists() and not newer.exists()
    assert (folder / "recusados" / "faturas-3.csv").exists()
    errors = (folder / "recusados" / "faturas-3.csv.erros.txt").read_text(encoding="utf-8-sig")
    assert "linha 2, coluna saldo: saldo negativo '-5,00'" in errors
    assert fresh.exists() and other.exists()  # too new / not matching: left alone
    history = records(session)
    assert [(r.file_name, r.result, r.source) for r in history] == [
        ("faturas-1.csv", "accepted", "folder"), ("faturas-2.csv", "accepted", "folder"),
        ("faturas-3.csv", "refused", "folder")]
    assert history[2].sha256 == sha_bad
    assert history[0].data_time == datetime.fromtimestamp(
        (imported / "faturas-1.csv").stat().st_mtime)


def test_a_file_identical_to_an_imported_one_is_repeated_and_moved(folder, runner, session):
    first = export(folder, "hoje.csv", [row("C1", "F1")], age=timedelta(hours=1))
    content = first.read_bytes()
    assert runner.invoke(args=["import-folder"]).exit_code == 0
    again = folder / "hoje.csv"           # the ERP exports the very same data again
    again.write_bytes(content)
    when = (datetime.now() - timedelta(minutes=2)).timestamp()
    os.utime(again, (when, when))
    result = runner.invoke(args=["import-folder"])
    assert result.exit_code == 0, result.output
    assert "hoje.csv: repetido" in result.output
    assert [r.result for r in records(session)] == ["accepted", "repeated"]
    moved = sorted(p.name for p in (folder / "importados" / month()).iterdir())
    assert moved == ["hoje (2).csv", "hoje.csv"]  # never overwritten, never deleted
    # The unchanged export still counts as fresh data for its companies.
    session.expire_all()
    assert session.scalar(select(Company.data_time)) == datetime.fromtimestamp(when)


def test_a_file_that_cannot_be_moved_stays_and_is_not_imported_twice(folder, runner, session):
    path = export(folder, "preso.csv", [row("C1", "F1")], age=timedelta(hours=1))
    blocker = folder / "importados"
    blocker.write_text("")  # a file where the folder should be: the move fails (even as root)
    try:
        first = runner.invoke(args=["import-folder"])
        assert first.exit_code == 0, first.output
        assert "Não foi possível mover" in first.output and path.exists()
        session.execute(update(Invoice).values(balance_cents=999))  # a change the file would undo
        session.commit()
        second = runner.invoke(args=["import-folder"])
        assert "preso.csv: repetido" in second.output and path.exists()
    finally:
        blocker.unlink()
    session.expire_all()
    assert session.scalar(select(Invoice.balance_cents)) == 999  # not imported again
    history = records(session)
    assert [r.result for r in history] == ["accepted", "repeated"]
    assert "Não foi possível mover" in history[0].note
    third = runner.invoke(args=["import-folder"])  # once it can be moved, it is
    assert third.exit_code == 0 and not path.exists()


def test_import_folder_exit_2_when_the_folder_is_missing_or_not_configured(runner, tmp_path,
                                                                           session):
    assert runner.invoke(args=["import-folder"]).exit_code == 2
    path = tmp_path / "pasta"
    path.mkdir()
    assert runner.invoke(args=["configure-import", "--folder", str(path)]).exit_code == 0
    path.rmdir()
    result = runner.invoke(args=["import-folder"])
    assert result.exit_code == 2 and "não existe" in result.output
    refused = runner.invoke(args=["configure-import", "--folder", str(tmp_path / "outra")])
    assert refused.exit_code == 1 and "não existe" in refused.output
    assert runner.invoke(args=["configure-import", "--pattern", "faturas_*.csv"]).exit_code == 0
    assert StationSettings.load(session).import_pattern == "faturas_*.csv"


def test_scheduled_job_imports_the_folder_first_then_sends_and_exits_1_on_a_refused_file(
        folder, app, runner, session, smtp_server):
    configure_station(session, smtp_server, app.instance_path)
    export(folder, "a.csv", [row("C1", "F1")], age=timedelta(hours=2))
    assert runner.invoke(args=["import-folder"]).exit_code == 0
    session.execute(update(Customer).values(send_email="sim"))
    session.commit()
    complete_creditors(session)
    export(folder, "b.csv", [row("C1", "F1"), row("C2", "F2")], age=timedelta(hours=1))
    export(folder, "c.csv", [row("C1", "F1", saldo="x")], age=timedelta(minutes=30))
    result = runner.invoke(args=["email-pendencia-financeira"])
    assert result.exit_code == 1, result.output
    assert "b.csv: importado" in result.output and "c.csv: RECUSADO" in result.output
    assert "arquivo(s) com problema na pasta de importação: c.csv" in result.output
    assert "1 enviados" in result.output  # C1 (enabled); C2 new from b.csv, not enabled
    assert len(smtp_server.messages_to("c1@cliente.example.com")) == 1
    assert [r.result for r in records(session)] == ["accepted", "accepted", "refused"]
