"""The import history (issue 9 item 1): every invoice import recorded, accepted or refused, from
the command line and the browser; the Importar page lists it; each company's data time."""
from __future__ import annotations

import hashlib
import io
import os
from datetime import datetime

from models import Company, ImportRecord, Invoice, db

HEADER = "empresa;empresa_nome;cliente;nome;email;documento;vencimento;saldo"
ROWS = ["1;Auto Posto Estrela;C001;Transportadora Rápida;fin@rapida.com.br;F1;01/10/2026;100,00",
        "2;Posto Filial;C001;Transportadora Rápida;fin@rapida.com.br;F2;01/10/2026;50,00"]


def export(path, rows=ROWS, mtime: datetime | None = None):
    """An ERP export on disk (Windows-1252, CRLF), optionally dated."""
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode("cp1252"))
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def records(session) -> list[ImportRecord]:
    session.expire_all()
    return list(session.scalars(db.select(ImportRecord).order_by(ImportRecord.id)))


def test_accepted_cli_import_is_recorded_with_its_file_and_counts(runner, session, tmp_path):
    taken = datetime(2026, 11, 30, 7, 15)
    path = export(tmp_path / "faturas-3011.csv", mtime=taken)
    result = runner.invoke(args=["import-invoices", str(path)])
    assert result.exit_code == 0, result.output
    assert "Empresas: 1, 2 (importação nº 1)" in result.output
    [record] = records(session)
    assert (record.source_label, record.file_name, record.result_label) == (
        "linha de comando", "faturas-3011.csv", "aceito")
    assert record.size_bytes == path.stat().st_size
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (record.encoding, record.delimiter) == ("cp1252", ";")
    assert record.data_time == taken
    assert record.started_at <= record.finished_at
    assert (record.rows, record.invoices_new, record.invoices_updated, record.invoices_settled,
            record.invoices_unchanged) == (2, 2, 0, 0, 0)
    assert record.company_codes == ["1", "2"]
    assert record.errors == ""
    assert {c.code: c.data_time for c in session.scalars(db.select(Company))} == {
        "1": taken, "2": taken}

    # The same file again: nothing changes, the attempt is recorded (rows unchanged).
    assert runner.invoke(args=["import-invoices", str(path)]).exit_code == 0
    second = records(session)[1]
    assert (second.result, second.invoices_new, second.invoices_unchanged) == ("accepted", 0, 2)


def test_refused_import_is_recorded_and_the_data_stays(runner, session, tmp_path):
    good = export(tmp_path / "ontem.csv", mtime=datetime(2026, 11, 29, 7, 0))
    assert runner.invoke(args=["import-invoices", str(good)]).exit_code == 0
    bad = export(tmp_path / "hoje.csv", rows=[ROWS[0].replace("01/10/2026", "31/02/2026")])
    result = runner.invoke(args=["import-invoices", str(bad)])
    assert result.exit_code == 1
    refused = records(session)[-1]
    assert (refused.result_label, refused.file_name, refused.company_codes) == (
        "recusado", "hoje.csv", [])
    assert "linha 2, coluna vencimento: data inválida" in refused.errors
    assert refused.sha256 == hashlib.sha256(bad.read_bytes()).hexdigest()
    # The refused file changed no company's data time (and no invoice).
    assert session.scalar(db.select(Company.data_time).where(Company.code == "1")) == datetime(
        2026, 11, 29, 7, 0)
    assert session.scalar(db.select(db.func.count()).select_from(Invoice)) == 2


def test_an_empty_file_is_recorded_refused_with_its_hash(runner, session, tmp_path):
    empty = tmp_path / "vazio.csv"
    empty.write_bytes(b"")
    assert runner.invoke(args=["import-invoices", str(empty)]).exit_code == 1
    [record] = records(session)
    assert (record.result, record.size_bytes) == ("refused", 0)
    assert record.sha256 == hashlib.sha256(b"").hexdigest()
    assert "o arquivo está vazio" in record.errors


def test_browser_upload_is_recorded_with_the_user_and_the_upload_time(staff, session):
    before = datetime.now()
    data = ("\r\n".join([HEADER, *ROWS]) + "\r\n").encode("cp1252")
    response = staff.post("/importar/faturas", data={
        "faturas-file": (io.BytesIO(data), "exportacao.csv")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "importação nº 1" in response.get_data(as_text=True)
    [record] = records(session)
    assert (record.source_label, record.user_name, record.file_name) == (
        "navegador", "caixa", "exportacao.csv")
    assert before <= record.data_time <= datetime.now()
    refused = staff.post("/importar/faturas", data={
        "faturas-file": (io.BytesIO(b"empresa;cliente\r\n1;C1\r\n"), "errado.csv")},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    assert [r.result for r in records(session)] == ["accepted", "refused"]


def test_importar_page_lists_the_history_newest_first_paginated_with_details(
        app, staff, runner, session, tmp_path):
    app.config["PER_PAGE"] = 2
    for day in (27, 28, 29):
        path = export(tmp_path / f"faturas-{day}.csv", mtime=datetime(2026, 11, day, 6, 0))
        assert runner.invoke(args=["import-invoices", str(path)]).exit_code == 0
    page = staff.get("/importar/").get_data(as_text=True)
    assert page.index("faturas-29.csv") < page.index("faturas-28.csv")
    assert "faturas-27.csv" not in page and "Página 1 de 2" in page
    assert "faturas-27.csv" in staff.get("/importar/?page=2").get_data(as_text=True)
    detail = staff.get("/importar/historico/1").get_data(as_text=True)
    assert "Importação nº 1: aceito" in detail and "27/11/2026 06:00" in detail
    assert "linha de comando" in detail and "Windows-1252" in detail
    assert staff.get("/importar/historico/99").status_code == 404
