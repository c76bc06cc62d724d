"""The invoice import's fast design: a child process parses, hashed keys, Retry, pragmas.

Every parallel result is checked against the in-process one (``parallel=False``), on a second
database built the way conftest builds the first; the line numbers in errors and warnings are
the physical lines of the whole file in every mode.
"""
from __future__ import annotations

import builtins
import io
import shutil
import sqlite3
from contextlib import contextmanager
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import dunning.csvfile
import dunning.importing
import dunning.parsing
import dunning.snapshot
from app import create_app
from dunning.csvfile import CsvSource, FileRejected, RowError, detect_encoding
from dunning.importing import import_invoices
from models import db

NOW = datetime(2026, 11, 20, 8, 0)
LATER = datetime(2026, 12, 1, 9, 30)
HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;grupo;conta;documento;"
          "parcela;emissao;vencimento;valor;saldo;linha_digitavel;pix;link_pagamento")
COMPANIES = {"1": ("Auto Posto Estrela", "11.222.333/0001-81"),
             "2": ("Posto Filial Centro", "11.222.333/0002-62"),
             "3": ("Posto Rodovia", "11.222.333/0003-43")}
BAD_CPF = "123.456.789-00"        # customer 7, in every part
LATE_BAD_CNPJ = "12.ABC.345/01DE-36"  # customer 13, last third only
BAD_EMAIL = "fulano@"             # customer 11


def data_row(i: int, n: int, company: str | None = None, document: str | None = None,
             saldo: str | None = None, due: str | None = None) -> str:
    """Row ``i`` of ``n`` of a varied export (23 customers spread over the whole file)."""
    company = company or "123"[i % 3]
    firm_name, firm_tax = COMPANIES[company]
    if company == "3" and i < n // 2:
        firm_name = ""  # company 3's name is only stated in the second half
    if company == "2" and i < n // 2:
        firm_tax = ""
    k = i % 23
    name = f"Cliente {k}"
    if k % 5 == 0 and i < n // 3:
        name = ""
    if k == 4 and i > n * 3 // 4:
        name = "Cliente Quatro Renomeado"
    tax = {7: BAD_CPF, 13: LATE_BAD_CNPJ if i > n * 2 // 3 else ""}.get(k, "529.982.247-25")
    email = f"c{k}@cliente.com.br"
    if k in (1, 2, 3) and i < n * 2 // 3:
        email = ""  # stated only in a later part
    if k == 6:
        email = "antigo@seis.com.br" if i < n // 2 + 10 else "novo@seis.com.br"
    if k == 11:
        email = BAD_EMAIL
    group = "FROTAS" if k % 4 == 0 else ""
    if k == 9 and i >= n * 3 // 4:
        group = "TARDIO"  # a group that only appears late
    account = str(i % 4) if i % 7 else ""
    installment = str(i % 3) if i % 3 else ""
    cents = 1000 + 37 * i
    value = f"{cents // 100},{cents % 100:02d}"
    if saldo is None:
        saldo = value
        if i % 5 == 0:
            saldo = f"{cents // 200},{(cents // 2) % 100:02d}"  # paid in part
        if i % 17 == 0:
            saldo = "0,00"
    issued = f"{1 + i % 28:02d}/09/2026"
    due = due or f"{1 + i % 28:02d}/10/2026"
    digitable = f"34191.79001 01043.510047 91020.150008 {i % 10} 000000{i:04d}" if i % 2 else ""
    pix = f"00020126PIX{i:04d}" if i % 3 == 1 else ""
    link = f"https://pague.example.com/{i}" if i % 4 == 1 else ""
    return ";".join([company, firm_name, firm_tax, f"C{k:02d}", name, tax, email, group, account,
                     document or f"D{i:04d}", installment, issued, due, value, saldo, digitable,
                     pix, link])


def export(n: int = 300, blank_after: tuple[int, ...] = (50, 180), **changes) -> list[str]:
    """Header and ``n`` rows (blank lines after the given rows); ``changes`` maps i -> dict of
    ``data_row`` overrides, or None to leave the row out."""
    lines = [HEADER]
    for i in range(n):
        change = changes.get(f"r{i}", {})
        if change is not None:
            lines.append(data_row(i, n, **change))
        if i in blank_after:
            lines.append("" if i % 2 == 0 else ";;;;")
    return lines


def write(tmp_path, lines: list[str], name: str = "faturas.csv", newline: str = "\r\n",
          encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def line_of(lines: list[str], document: str) -> int:
    """The physical line (1-based) of the row holding ``document``."""
    return next(n for n, line in enumerate(lines, 1) if f";{document};" in line)


def first_line_with(lines: list[str], value: str) -> int:
    return next(n for n, line in enumerate(lines, 1) if f";{value};" in line)


def dump(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        # The import history and the import lock record every attempt: bookkeeping, not data.
        return [line for line in conn.iterdump()
                if not line.startswith(('INSERT INTO "import_record"', 'INSERT INTO "run_lock"'))]


def content(db_path) -> dict[str, list[tuple]]:
    """The imported tables with ids replaced by codes (ids may differ between modes)."""
    queries = {
        "company": "SELECT code, name, tax_id, address, phone, email FROM company",
        "account": "SELECT c.code, a.code, a.name FROM account a JOIN company c ON c.id = a.company_id",
        "customer_group": "SELECT code, name, send_email, tolerance_days FROM customer_group",
        "customer": "SELECT cu.code, cu.name, cu.name_folded, cu.tax_id, cu.email_addresses, g.code, "
                    "cu.send_email, cu.tolerance_days FROM customer cu "
                    "LEFT JOIN customer_group g ON g.id = cu.group_id",
        "invoice": "SELECT c.code, i.document, i.installment, cu.code, a.code, i.issue_date, "
                   "i.due_date, i.amount_cents, i.balance_cents, i.digitable_line, i.pix_code, "
                   "i.payment_link, i.settled_at FROM invoice i "
                   "JOIN company c ON c.id = i.company_id JOIN customer cu ON cu.id = i.customer_id "
                   "JOIN account a ON a.id = i.account_id",
    }
    with sqlite3.connect(db_path) as conn:
        return {table: sorted(conn.execute(sql).fetchall(), key=repr)
                for table, sql in queries.items()}


def load(session, path, **kwargs):
    """Import the file at ``path`` opened by path, as the CLI opens it."""
    with open(path, "rb") as stream:
        return import_invoices(session, stream, now=kwargs.pop("now", NOW), **kwargs)


@contextmanager
def other_database(migrated_db, tmp_path, name: str = "other"):
    """A second app on its own copy of the migrated database: (session, db file)."""
    path = tmp_path / f"{name}.db"
    shutil.copy(migrated_db, path)
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "INSTANCE_PATH": str(tmp_path / f"{name}-instance")})
    with app.app_context():
        try:
            yield db.session, path
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def children(monkeypatch) -> list[None]:
    """One item per child process started during the test."""
    spawned: list[None] = []

    class Spy(dunning.parsing._Child):
        def __init__(self, *args, **kwargs):
            spawned.append(None)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(dunning.parsing, "_Child", Spy)
    return spawned


@pytest.fixture
def attempts(monkeypatch) -> list[bool]:
    """``exact`` of each import attempt (a Retry shows as [False, True])."""
    modes: list[bool] = []
    real = dunning.importing._import

    def spy(*args, exact, **kwargs):
        modes.append(exact)
        return real(*args, exact=exact, **kwargs)

    monkeypatch.setattr(dunning.importing, "_import", spy)
    return modes


def rejection(session, path, **kwargs) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        load(session, path, **kwargs)
    return caught.value


# --- 1. the same result either way -------------------------------------------------------------

def test_parallel_and_in_process_imports_give_the_same_result(session, db_path, migrated_db,
                                                               tmp_path, children):
    lines = export()
    path = write(tmp_path, lines)
    parallel = load(session, path, parallel=True)
    assert len(children) == 1, "the file was parsed by child processes"
    with other_database(migrated_db, tmp_path) as (other, other_path):
        in_process = load(other, path, parallel=False)
    assert len(children) == 1, "no child for the in-process import"

    assert parallel == in_process
    assert content(db_path) == content(other_path)

    # And the result is the right one, not just the same one.
    assert (parallel.rows, parallel.invoices_new, parallel.invoices_updated,
            parallel.invoices_settled) == (300, 300, 0, 0)
    assert (parallel.customers_new, parallel.customers_updated, parallel.companies_new) == (23, 0, 3)
    assert parallel.warnings == [
        RowError(first_line_with(lines, BAD_CPF), "cpf_cnpj", BAD_CPF,
                 "CPF/CNPJ com dígitos verificadores inválidos (importado assim mesmo)"),
        RowError(first_line_with(lines, BAD_EMAIL), "email", BAD_EMAIL,
                 "e-mail inválido (importado; o cliente não receberá nesse endereço)"),
        RowError(first_line_with(lines, LATE_BAD_CNPJ), "cpf_cnpj", LATE_BAD_CNPJ,
                 "CPF/CNPJ com dígitos verificadores inválidos (importado assim mesmo)"),
    ]
    assert parallel.warnings_total == 3
    tables = content(db_path)
    customers = {row[0]: row for row in tables["customer"]}
    assert customers["C01"][4] == "c1@cliente.com.br", "an e-mail stated only in a later part"
    assert customers["C06"][4] == "novo@seis.com.br", "the last value wins"
    assert customers["C04"][1] == "Cliente Quatro Renomeado"
    assert customers["C05"][1] == "Cliente 5", "an empty name never erases"
    assert customers["C09"][5] == "TARDIO" and customers["C00"][5] == "FROTAS"
    assert customers["C13"][3] == LATE_BAD_CNPJ
    assert sorted(tables["company"]) == [
        ("1", "Auto Posto Estrela", "11.222.333/0001-81", "", "", ""),
        ("2", "Posto Filial Centro", "11.222.333/0002-62", "", "", ""),
        ("3", "Posto Rodovia", "11.222.333/0003-43", "", "", "")]
    assert sorted(code for code, *_ in tables["customer_group"]) == ["FROTAS", "TARDIO"]
    settled = [row for row in tables["invoice"] if row[8] == 0]
    assert len(settled) == len(range(0, 300, 17)) and all(row[12] == str(NOW) for row in settled)
    partial = {row[1]: row[7:9] for row in tables["invoice"]}["D0005"]
    assert partial == (1185, 592)


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "parallel"])
def test_a_customer_changing_group_leaves_no_orphan_group(parallel, session, db_path, tmp_path,
                                                          monkeypatch, children):
    lines = export()
    rows = [line for line in lines[1:] if line and line != ";;;;"]
    moved = [HEADER] + [row.replace(";FROTAS;", ";ANTIGO;" if n < 150 else ";NOVO;")
                        for n, row in enumerate(rows)]
    monkeypatch.setattr(dunning.parsing, "BATCH_ROWS", 100)  # in this process only
    load(session, write(tmp_path, moved), parallel=parallel)
    tables = content(db_path)
    assert {row[5] for row in tables["customer"] if row[0] in ("C00", "C04", "C08")} == {"NOVO"}
    assert sorted(code for code, *_ in tables["customer_group"]) == ["NOVO", "TARDIO"]


# --- 2. errors late in the file -----------------------------------------------------------------

@pytest.fixture
def loaded(session, db_path, tmp_path):
    """A database that already holds an export, so "unchanged" means something."""
    load(session, write(tmp_path, export(60, blank_after=()), name="base.csv"), parallel=False)
    return dump(db_path)


def test_errors_in_the_second_half_name_their_physical_lines(session, db_path, loaded, tmp_path,
                                                             children):
    lines = export(r240={"due": "31/02/2026"}, r280={"saldo": "12,345"})
    path = write(tmp_path, lines)
    bad_date, bad_saldo = line_of(lines, "D0240"), line_of(lines, "D0280")
    assert bad_date == 244, "two blank lines and the header before it"
    error = rejection(session, path, parallel=True)
    assert len(children) == 1
    assert error.errors == [
        RowError(bad_date, "vencimento", "31/02/2026", "data inválida (use dd/mm/aaaa ou aaaa-mm-dd)"),
        RowError(bad_saldo, "saldo", "12,345", "valor inválido (use 1.234,56, 1234,56 ou 1234.56)")]
    assert str(error.errors[0]) == ("linha 244, coluna vencimento: data inválida "
                                    "(use dd/mm/aaaa ou aaaa-mm-dd) '31/02/2026'")
    assert not error.truncated
    assert dump(db_path) == loaded
    assert rejection(session, path, parallel=False).errors == error.errors


def test_errors_of_every_part_come_sorted_and_cut_at_100(session, db_path, loaded, tmp_path,
                                                         children):
    changes = {f"r{i}": {"due": "99/99/2026"} for i in range(70, 150)}
    changes.update({f"r{i}": {"due": "99/99/2026"} for i in range(160, 240)})
    path = write(tmp_path, export(**changes))
    error = rejection(session, path, parallel=True)
    assert len(children) == 1
    assert len(error.errors) == 100 and error.truncated
    lines = [e.line for e in error.errors]
    assert lines == sorted(lines) and lines[0] == 73 and lines[-1] == 182
    assert dump(db_path) == loaded
    in_process = rejection(session, path, parallel=False)
    assert (in_process.errors, in_process.truncated) == (error.errors, True)


# --- 3. a repeated invoice far apart in the file ----------------------------------------------

REPEAT = "linha 280, coluna documento: fatura repetida no arquivo (já aparece na linha 10) 'D0008 parcela 2'"


def test_a_far_repeat_into_an_empty_table_is_rejected(session, db_path, tmp_path, children,
                                                             attempts):
    lines = export(blank_after=(), r278={"document": "D0008"})
    assert data_row(8, 300).split(";")[:1] + data_row(8, 300).split(";")[10:11] == ["3", "2"]
    assert data_row(278, 300).split(";")[:1] + data_row(278, 300).split(";")[10:11] == ["3", "2"]
    assert (line_of(lines, "D0008"), lines.index(data_row(278, 300, document="D0008")) + 1) == (10, 280)
    path = write(tmp_path, lines)
    before = dump(db_path)
    error = rejection(session, path, parallel=True)
    assert [str(e) for e in error.errors] == [REPEAT]
    assert len(children) == 1 and attempts == [False, True], "counts -> Retry -> exact keys"
    assert dump(db_path) == before


def test_a_far_repeat_with_old_invoices_is_rejected(session, db_path, loaded, tmp_path,
                                                           children, attempts):
    path = write(tmp_path, export(blank_after=(), r278={"document": "D0008"}))
    error = rejection(session, path, parallel=True)
    assert [str(e) for e in error.errors] == [REPEAT]
    assert len(children) == 1 and attempts == [False, True], "hash seen twice -> Retry"
    assert dump(db_path) == loaded


# --- 4. re-import and settlement through the hashed keys ---------------------------------------

def second_export(n: int = 300) -> list[str]:
    """Companies 1 and 2 only: some items gone, some saldos changed, two new items."""
    changes = {f"r{i}": None for i in range(n) if i % 3 == 2}  # company 3 absent
    changes.update({f"r{i}": None for i in (3, 4, 51, 150, 151, 286)})  # gone (0 saldo: 51)
    changes.update({f"r{i}": {"saldo": "1,00"} for i in (6, 7, 160, 298)})  # changed
    changes["r37"] = {"saldo": "0,00"}  # paid
    lines = export(n, **changes)
    lines += [data_row(300, n, company="1", document="NOVA-1"),
              data_row(301, n, company="2", document="NOVA-2")]
    return lines


def test_reimport_settles_and_updates_through_hashed_keys(session, db_path, tmp_path, children,
                                                          attempts):
    first = load(session, write(tmp_path, export(), name="a.csv"), parallel=True)
    assert first.invoices_new == 300
    before = {row[:3]: row for row in content(db_path)["invoice"]}
    report = load(session, write(tmp_path, second_export(), name="b.csv"), parallel=True,
                  now=LATER)
    assert len(children) == 2 * 1 and attempts == [False, False], "no Retry: the hashes sufficed"
    # 3, 4, 150, 151 and 286 were open; 51 was already settled (saldo 0 in a.csv).
    assert (report.invoices_new, report.invoices_updated, report.invoices_settled) == (2, 5, 5)
    assert report.rows == 200 - 6 + 2
    after = {row[:3]: row for row in content(db_path)["invoice"]}
    key = lambda i, document=None: (("123"[i % 3]), document or f"D{i:04d}",  # noqa: E731
                                    str(i % 3) if i % 3 else "")
    for i in (3, 4, 150, 151, 286):
        assert after[key(i)][8] == 0 and after[key(i)][12] == str(LATER), i
    assert after[key(51)] == before[key(51)], "already settled: untouched"
    assert after[key(37)][8] == 0 and after[key(37)][12] == str(LATER)
    assert [after[key(i)][8] for i in (6, 7, 160, 298)] == [100] * 4
    assert after[key(300, "NOVA-1")][12] is None and after[key(301, "NOVA-2")][12] is None
    company3 = [k for k in before if k[0] == "3"]
    assert len(company3) == 100 and all(after[k] == before[k] for k in company3)
    unchanged = [k for k in before if k[0] != "3" and int(k[1][1:]) not in
                 (3, 4, 6, 7, 37, 150, 151, 160, 286, 298)]
    assert all(after[k] == before[k] for k in unchanged)


# --- 5. hash collisions ------------------------------------------------------------------------

def reference(migrated_db, tmp_path, files, name="reference"):
    """Reports and content of importing ``files`` (path, now) in process, without monkeypatches."""
    with other_database(migrated_db, tmp_path, name) as (other, other_path):
        reports = [load(other, path, parallel=False, now=now) for path, now in files]
        return reports, content(other_path)


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "in-process"])
def test_every_hash_colliding_still_imports_exactly(parallel, session, db_path, migrated_db, tmp_path,
                                                    monkeypatch, attempts):
    files = [(write(tmp_path, export(), name="a.csv"), NOW),
             (write(tmp_path, second_export(), name="b.csv"), LATER)]
    expected_reports, expected = reference(migrated_db, tmp_path, files)
    attempts.clear()
    monkeypatch.setattr(dunning.snapshot, "hash", lambda key: 0, raising=False)
    reports = [load(session, path, parallel=parallel, now=now) for path, now in files]
    assert attempts == [False, False, True], "the empty table needs no hash; the re-import retries"
    assert reports == expected_reports
    assert content(db_path) == expected
    assert (reports[1].invoices_new, reports[1].invoices_updated, reports[1].invoices_settled) == (2, 5, 5)


def test_a_new_item_colliding_with_a_missing_one_still_settles_it(session, db_path, migrated_db,
                                                                 tmp_path, monkeypatch, attempts):
    """No repeat in the file: only the settlement count can notice the collision."""
    files = [(write(tmp_path, export(), name="a.csv"), NOW),
             (write(tmp_path, second_export(), name="b.csv"), LATER)]
    expected_reports, expected = reference(migrated_db, tmp_path, files)
    attempts.clear()
    load(session, files[0][0], parallel=True)
    colliding = {"NOVA-1", "D0003"}  # new in b.csv / missing from b.csv, both of company 1
    monkeypatch.setattr(dunning.snapshot, "hash", raising=False, value=lambda key: builtins.hash(
        "collision" if key[1] in colliding else key))
    report = load(session, files[1][0], parallel=True, now=LATER)
    assert attempts == [False, False, True]
    assert report == expected_reports[1]
    assert content(db_path) == expected


# --- 6. quoted line breaks and lone CRs --------------------------------------------------------

def unsplittable(kind: str, lines: list[str]) -> bytes:
    """``lines`` as a file that cannot be cut: quoted names and a pix code holding a line break
    (row D0029 spans two lines), or lone CRs ending lines 40 and 50 (a line each, as csv reads
    them)."""
    if kind == "quoted":
        quoted = [lines[0]]
        for line in lines[1:]:
            cells = line.split(";")
            if line:
                cells[4] = f'"{cells[4]}"'
                if cells[9] == "D0029":
                    cells[16] = '"0002\n0126 ""PIX"""'
            quoted.append(";".join(cells))
        return "\r\n".join(quoted).encode("utf-8") + b"\r\n"
    return ("\r\n".join(lines[:40]) + "\r" + "\r\n".join(lines[40:50]) + "\r"
            + "\r\n".join(lines[50:]) + "\r\n").encode("utf-8")


@pytest.mark.parametrize("kind", ["quoted", "lone CR"])
def test_quoted_line_breaks_and_lone_crs_keep_line_numbers(kind, session, db_path, migrated_db,
                                                           tmp_path, children):
    lines = export(120, blank_after=(60,))
    raw = unsplittable(kind, lines)
    path = tmp_path / "inteiro.csv"
    path.write_bytes(raw)

    report = load(session, path, parallel=True)
    assert len(children) == 1, "still a child process"
    with other_database(migrated_db, tmp_path) as (other, other_path):
        assert load(other, path, parallel=False) == report
    assert content(db_path) == content(other_path)
    assert report.rows == 120 and report.invoices_new == 120
    if kind == "quoted":
        pix = {row[1]: row[10] for row in content(db_path)["invoice"]}
        assert pix["D0029"] == '0002\n0126 "PIX"'

    # An error after the multi-line field (or the lone CR) names its physical line.
    row = line_of(lines, "D0100") - 1
    cells = lines[row].split(";")
    cells[12] = "32/13/2026"
    path.write_bytes(unsplittable(kind, lines[:row] + [";".join(cells)] + lines[row + 1:]))
    before = dump(db_path)
    error = rejection(session, path, parallel=True)
    assert len(children) == 2
    expected_line = {"quoted": 104, "lone CR": 103}[kind]  # 103 in ``lines``; +1 for D0029's field
    assert [(e.line, e.column, e.value) for e in error.errors] == [
        (expected_line, "vencimento", "32/13/2026")]
    assert rejection(session, path, parallel=False).errors == error.errors
    assert dump(db_path) == before


# --- 7. connection pragmas ---------------------------------------------------------------------

def pragmas(driver) -> tuple:
    return tuple(driver.execute(f"PRAGMA {name}").fetchone()[0]
                 for name in ("foreign_keys", "cache_size", "threads"))


@pytest.mark.parametrize("case", ["accepted", "rejected", "repeat via Retry"])
def test_pragmas_are_restored_on_the_pooled_connection(case, session, db_path, tmp_path, children,
                                                        monkeypatch):
    seen = []
    writer = dunning.importing.Writer

    def spy(conn, *args, **kwargs):  # each attempt's connection, as the writing starts
        driver = conn.connection.driver_connection
        seen.append((driver, pragmas(driver)[0]))
        return writer(conn, *args, **kwargs)

    monkeypatch.setattr(dunning.importing, "Writer", spy)

    if case == "accepted":
        lines = export()
    elif case == "rejected":
        lines = export(r250={"due": "31/02/2026"})
    else:
        lines = export(r278={"document": "D0008"})
    path = write(tmp_path, lines)
    if case == "accepted":
        load(session, path, parallel=True)
    else:
        rejection(session, path, parallel=True)
    assert seen and children
    assert {fk for _, fk in seen} == {0}, "foreign-key checks are off while the import writes"
    for driver in {driver for driver, _ in seen}:
        assert pragmas(driver) == (1, -2000, 0)
    assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(IntegrityError):
        session.execute(text("INSERT INTO account (company_id, code, name) VALUES (424242, 'X', '')"))
        session.commit()
    session.rollback()


# --- 8. the CLI --------------------------------------------------------------------------------

def test_cli_uses_children_above_parallel_bytes(runner, db_path, migrated_db, tmp_path, monkeypatch,
                                                children):
    lines = export()
    path = write(tmp_path, lines)
    monkeypatch.setattr(dunning.parsing, "PARALLEL_BYTES", 1)
    result = runner.invoke(args=["import-invoices", str(path)])
    assert result.exit_code == 0, result.output
    assert len(children) == 1
    assert "Importado: 300 linhas (UTF-8, separador ';')." in result.output
    assert "Faturas: 300 novas, 0 atualizadas, 0 baixadas (ausentes do arquivo)." in result.output
    assert "Clientes: 23 novos, 0 atualizados. Empresas novas: 3." in result.output
    assert "Avisos (3):" in result.output
    assert (f"linha {first_line_with(lines, LATE_BAD_CNPJ)}, coluna cpf_cnpj: CPF/CNPJ com dígitos "
            f"verificadores inválidos (importado assim mesmo) '{LATE_BAD_CNPJ}'") in result.output
    with other_database(migrated_db, tmp_path) as (other, other_path):
        with open(path, "rb") as stream:
            import_invoices(other, stream, parallel=False)
    imported, expected = content(db_path), content(other_path)
    unstamped = lambda tables: [row[:12] for row in tables["invoice"]]  # noqa: E731 (the clock)
    assert unstamped(imported) == unstamped(expected)
    assert {t: v for t, v in imported.items() if t != "invoice"} == \
        {t: v for t, v in expected.items() if t != "invoice"}

    bad = write(tmp_path, export(r240={"due": "31/02/2026"}), name="ruim.csv")
    before = dump(db_path)
    result = runner.invoke(args=["import-invoices", str(bad)])
    assert result.exit_code == 1 and len(children) == 2 * 1
    assert "linha 244, coluna vencimento: data inválida" in result.output
    assert dump(db_path) == before


def test_upload_streams_are_parsed_in_process(session, tmp_path, children):
    data = write(tmp_path, export(60)).read_bytes()
    report = import_invoices(session, io.BytesIO(data), parallel=True, now=NOW)
    assert report.rows == 60 and children == []


# --- 9. reading a file without quotes -----------------------------------------------------------

QUOTE_CASES = {
    "CRLF": (b"a;b\r\n1;2\r\n3;4\r\n", False),
    "LF": (b"a;b\n1;2\n3;4", False),
    "lone CR": (b"a;b\r\n1;2\r3;4\r\n", False),
    "quoted cell": (b"a;b\r\n1;\"2\"\r\n3;4\r\n", True),
    "quote in the header": (b"\"a\";b\n1;2\n", True),
    "quote in the last byte": (b"a;b\n1;2\"", True),
}


@pytest.mark.parametrize("chunk", [1 << 20, 1, 2, 3, 5], ids=lambda c: f"chunk{c}")
@pytest.mark.parametrize("case", QUOTE_CASES, ids=list(QUOTE_CASES))
def test_detect_encoding_tells_whether_a_file_has_quotes(case, chunk, monkeypatch):
    data, quoted = QUOTE_CASES[case]
    monkeypatch.setattr(dunning.csvfile, "_CHUNK", chunk)
    stream = io.BytesIO(data)
    assert detect_encoding(stream) == ("utf-8-sig", quoted)
    assert stream.tell() == 0
    assert detect_encoding(io.BytesIO(data.replace(b"1", "é".encode("cp1252")))) == ("cp1252", quoted)


LINE_BREAKS = {"CRLF": b"a;b\r\n1;2\r\n3;4\r\n5;6\r\n",
               "LF": b"a;b\n1;2\n3;4\n5;6\n",
               "lone CRs": b"a;b\r\n1;2\r3;4\r5;6\r\n",
               "blank lines": b"a;b\r\n\r\n1;2\n\r3;4\r\n\r\n5;6\r\n"}


@pytest.mark.parametrize("size", [1, 2, 3, 5000])
@pytest.mark.parametrize("case", LINE_BREAKS, ids=list(LINE_BREAKS))
def test_a_file_without_quotes_reads_as_the_csv_module_reads_it(case, size):
    """The plain split gives the csv module's rows and line numbers, in chunks of any size."""
    data = LINE_BREAKS[case]
    source = CsvSource(io.BytesIO(data))
    assert not source.quoted
    plain = [row for chunk in source.chunks(size) for row in chunk]
    assert plain == list(CsvSource(io.BytesIO(data))._csv_rows())
    assert plain[-1] == ({"CRLF": 4, "LF": 4, "lone CRs": 4, "blank lines": 7}[case], ["5", "6"])


# --- 10. a column at a time or row by row: the same rows --------------------------------------

CELLS = {
    "valor": ["1.234,56", "10,00", "0,50", "1234,56", "1234.56", "", "R$ 7,00", " 3,30 "],
    "saldo": ["1.234,56", "10,00", "0,00", "5", "2.000,01", " 10,00"],
    "vencimento": ["01/10/2026", "2026-10-02", "1/2/2026", " 15/11/2026"],
    "emissao": ["", "01/09/2026", "2026-09-02"],
    "nome": ["", "Cliente A", "Cliente B", "  Cliente A  "],
    "email": ["", "a@x.com.br", "b@y.com.br; c@y.com.br", "ruim@"],
    "grupo": ["", "G1", "G2"],
    "cpf_cnpj": ["", "529.982.247-25", "123.456.789-00"],
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 5), *(st.sampled_from(v) for v in CELLS.values()),
                          st.integers(0, 3)), min_size=1, max_size=40),
       st.sampled_from([1, 3, 7, 250]))
def test_columns_and_rows_parse_alike(rows, width):
    """``parse_columns`` gives what ``parse`` gives row by row (the same tuples, master data,
    warnings and ids), whatever the mix of usual and unusual rows and the slice width."""
    header = "empresa;cliente;documento;parcela;conta;" + ";".join(CELLS)
    lines = [header] + [f"{c % 2 + 1};C{c};D{n};{n % 2};{account};" + ";".join(cells)
                        for n, (c, *cells, account) in enumerate(rows)]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def parse(columns_first: bool) -> list:
        source = CsvSource(io.BytesIO(data))
        columns, _, _ = source.map_columns(dunning.parsing.COLUMNS, dunning.parsing.REQUIRED)
        ids = dunning.parsing.Ids({"2": 7}, {}, {"C3": 40}, 8, 1, 41)
        parser = dunning.parsing.RowParser(columns, source.header, ids, "2026-11-20 08:00:00")
        if not columns_first:
            parser.parse_columns = lambda lines, cells: None
        return list(dunning.parsing.parse_batches(source.chunks(width), parser, lambda: 0))

    assert parse(True) == parse(False)
