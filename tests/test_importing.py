"""The ERP invoice import (SPEC §5), through the real CLI and on a real SQLite file."""
from __future__ import annotations

import io
import sqlite3
from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dunning.csvfile import FileRejected
from dunning.importing import import_invoices
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, db)

HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;grupo;conta;documento;"
          "parcela;emissao;vencimento;valor;saldo")
ROWS = [
    "1;Auto Posto Estrela;11.222.333/0001-81;C001;Transportadora Rápida;12.ABC.345/01DE-35;"
    "fin@rapida.com.br;FROTAS;7;F1001;1;01/09/2026;01/10/2026;1.500,00;1.234,56",
    "1;Auto Posto Estrela;11.222.333/0001-81;C001;Transportadora Rápida;12.ABC.345/01DE-35;"
    "fin@rapida.com.br;FROTAS;7;F1001;2;01/09/2026;01/11/2026;1.500,00;1.500,00",
    "1;Auto Posto Estrela;11.222.333/0001-81;C002;José da Silva ME;529.982.247-25;;;;F1002;;"
    "15/10/2026;14/11/2026;320,40;320,40",
    "2;Posto Filial Centro;11.222.333/0002-62;C001;Transportadora Rápida;12.ABC.345/01DE-35;"
    "fin@rapida.com.br;FROTAS;3;F2001;;20/10/2026;05/11/2026;210,00;210,00",
]


def dump(db_path) -> list[str]:
    """The whole content of the database file, as SQL statements."""
    with sqlite3.connect(db_path) as conn:
        # The import history and the import lock record every attempt: bookkeeping, not data.
        return [line for line in conn.iterdump()
                if not line.startswith(('INSERT INTO "import_record"', 'INSERT INTO "run_lock"'))]


def write(tmp_path, lines: list[str], encoding: str = "cp1252", name: str = "faturas.csv",
          newline: str = "\r\n"):
    """An export file as the ERP writes it."""
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def run(runner, path):
    return runner.invoke(args=["import-invoices", str(path)])


def get_invoice(session, company: str, document: str, installment: str = "") -> Invoice | None:
    """The stored item (empresa, documento, parcela), read afresh."""
    session.expire_all()
    return session.scalar(db.select(Invoice).join(Company, Company.id == Invoice.company_id)
                          .where(Company.code == company, Invoice.document == document,
                                 Invoice.installment == installment))


def customer(session, code: str) -> Customer:
    session.expire_all()
    return session.scalar(db.select(Customer).where(Customer.code == code))


# --- accepted formats -------------------------------------------------------------------------

def test_windows_1252_semicolon_brazilian_numbers_and_dates(runner, session, tmp_path):
    result = run(runner, write(tmp_path, [HEADER, *ROWS], encoding="cp1252"))
    assert result.exit_code == 0, result.output
    assert "Importado: 4 linhas (Windows-1252, separador ';')" in result.output
    assert "4 novas, 0 atualizadas, 0 baixadas" in result.output
    assert "Clientes: 2 novos" in result.output
    first = get_invoice(session, "1", "F1001", "1")
    assert (first.balance_cents, first.amount_cents) == (123456, 150000)
    assert (first.issue_date, first.due_date) == (date(2026, 9, 1), date(2026, 10, 1))
    assert first.settled_at is None
    assert first.account.code == "7" and first.customer.code == "C001"
    c002 = customer(session, "C002")
    assert (c002.name, c002.tax_id, c002.group) == ("José da Silva ME", "529.982.247-25", None)
    c001 = customer(session, "C001")
    assert (c001.name, c001.emails, c001.group.code) == ("Transportadora Rápida", ["fin@rapida.com.br"],
                                                         "FROTAS")
    assert c001.send_email == "herdar" and c001.tolerance_days is None
    assert get_invoice(session, "1", "F1002").account.code == ""


def test_utf8_bom_comma_quoted_fields_dot_decimals_iso_dates(runner, session, tmp_path):
    lines = ["empresa,cliente,nome,email,documento,parcela,emissao,vencimento,valor,saldo",
             '1,C010,"Silva, Souza & Cia","a@x.com.br, b@y.com.br",F9,1,2026-09-01,2026-10-01,'
             '1234.56,"1234.5"',
             '1,C011,"Posto ""Boa Viagem""",,"F10",,2026-09-02,2026-10-02,12,0.99']
    path = tmp_path / "utf8.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert "(UTF-8, separador ',')" in result.output
    f9 = get_invoice(session, "1", "F9", "1")
    assert (f9.amount_cents, f9.balance_cents, f9.due_date) == (123456, 123450, date(2026, 10, 1))
    assert get_invoice(session, "1", "F10").balance_cents == 99
    assert customer(session, "C010").name == "Silva, Souza & Cia"
    assert customer(session, "C010").emails == ["a@x.com.br", "b@y.com.br"]
    assert customer(session, "C011").name == 'Posto "Boa Viagem"'


def test_aliased_headers_ignore_case_accents_spaces_and_underscores(runner, session, tmp_path):
    lines = ["Filial;Cód_Cliente;Razão Social;E-mail;Número;Prestação;Dt_Vencimento;VALOR ABERTO;"
             "Valor Original;Cod Conta",
             "1;C020;Frota Ágil;frota@agil.com.br;N77;2;05/12/2026;99,90;100;4"]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 0, result.output
    n77 = get_invoice(session, "1", "N77", "2")
    assert (n77.balance_cents, n77.amount_cents, n77.due_date) == (9990, 10000, date(2026, 12, 5))
    assert n77.account.code == "4"
    c020 = customer(session, "C020")
    assert (c020.name, c020.emails) == ("Frota Ágil", ["frota@agil.com.br"])


def test_trailing_delimiters_and_short_rows(runner, session, tmp_path):
    lines = ["empresa;cliente;documento;vencimento;saldo;nome;", "1;C1;D1;01/12/2026;10,00;;;",
             "1;C2;D2;01/12/2026;20,00", "1;C3;D3;01/12/2026;30,00;Posto Três;;;;"]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 0, result.output
    assert [get_invoice(session, "1", d).balance_cents for d in ("D1", "D2", "D3")] == [1000, 2000, 3000]
    assert customer(session, "C3").name == "Posto Três"


def test_example_file_imports(runner, session):
    result = run(runner, "examples/faturas.csv")
    assert result.exit_code == 0, result.output
    assert "5 novas" in result.output
    assert "Avisos" not in result.output


# --- rejected input ---------------------------------------------------------------------------

def _replace(row: int, column: str, value: str) -> list[str]:
    """The sample file with one cell changed (row counts from 0, i.e. file line row + 2)."""
    names = HEADER.split(";")
    cells = ROWS[row].split(";")
    cells[names.index(column)] = value
    return [HEADER, *ROWS[:row], ";".join(cells), *ROWS[row + 1:]]


REJECTED = {
    "bad date": (_replace(1, "vencimento", "31/02/2026"),
                 "linha 3, coluna vencimento: data inválida", "'31/02/2026'"),
    "bad ISO date": (_replace(0, "emissao", "2026-13-01"), "linha 2, coluna emissao: data inválida",
                     "'2026-13-01'"),
    "bad amount": (_replace(2, "saldo", "12,345"), "linha 4, coluna saldo: valor inválido", "'12,345'"),
    "US amount": (_replace(2, "valor", "1,234.56"), "linha 4, coluna valor: valor inválido",
                  "'1,234.56'"),
    "negative saldo": (_replace(3, "saldo", "-10,00"), "linha 5, coluna saldo: saldo negativo",
                       "'-10,00'"),
    "missing required value": (_replace(0, "documento", ""),
                               "linha 2, coluna documento: campo obrigatório vazio", ""),
    "missing saldo value": (_replace(3, "saldo", " "), "linha 5, coluna saldo: campo obrigatório vazio",
                            ""),
    "missing required column": ([HEADER.replace(";saldo", ""), *(r.rsplit(";", 1)[0] for r in ROWS)],
                                "linha 1, coluna saldo: coluna obrigatória ausente", ""),
    "same invoice twice": ([HEADER, *ROWS, ROWS[0]], "linha 6, coluna documento: fatura repetida no "
                                                     "arquivo (já aparece na linha 2)", "'F1001 parcela 1'"),
    "too many cells": ([HEADER, *ROWS[:2], ROWS[2] + ";extra"], "linha 4: a linha tem 16 campos", ""),
    "header only": ([HEADER], "o arquivo não tem linhas de dados", ""),
}


@pytest.fixture
def loaded(runner, db_path):
    """A database that already holds the example file, so "unchanged" means something."""
    result = run(runner, "examples/faturas.csv")
    assert result.exit_code == 0, result.output
    return dump(db_path)


@pytest.mark.parametrize("case", REJECTED, ids=list(REJECTED))
def test_rejected_file_changes_nothing(case, runner, db_path, loaded, tmp_path):
    lines, message, value = REJECTED[case]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 1
    assert "Arquivo recusado; nada foi alterado." in result.output
    assert message in result.output
    assert value in result.output
    assert "Traceback" not in result.output
    assert dump(db_path) == loaded


@pytest.mark.parametrize("content, message", [
    (b"", "o arquivo está vazio"),
    (b"\r\n  \r\n", "o arquivo está vazio"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "não é um CSV de texto"),
    (bytes(range(0x80, 0x100)) * 4, "não é texto UTF-8 nem Windows-1252"),
    (b"\x89PNG\r\n\x1a\n garbage \xff\xfe", "coluna obrigatória ausente"),
], ids=["empty", "blank lines", "zip", "undecodable", "png-like"])
def test_empty_and_binary_files_are_rejected(content, message, runner, db_path, loaded, tmp_path):
    path = tmp_path / "lixo.csv"
    path.write_bytes(content)
    result = run(runner, path)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert dump(db_path) == loaded


def test_unclosed_quote_is_reported(runner, db_path, loaded, tmp_path):
    lines = [HEADER, ROWS[0], ROWS[1].replace("Transportadora", '"Transportadora'),
             *[ROWS[2].replace("F1002", f"G{i}") + " " * 200 for i in range(700)]]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 1
    assert "linha 3: CSV malformado: um campo passa de 128 mil caracteres" in result.output
    assert dump(db_path) == loaded


def test_missing_path_and_directory_give_clear_messages(runner, tmp_path):
    result = run(runner, tmp_path / "nao-existe.csv")
    assert result.exit_code == 1
    assert "arquivo não encontrado" in result.output
    result = run(runner, tmp_path)
    assert result.exit_code == 1
    assert "é uma pasta, não um arquivo" in result.output


def test_more_than_100_errors_reports_the_first_100(runner, db_path, loaded, tmp_path):
    bad = [f"1;;;C9;;;;;;D{i};;;99/99/2026;1,00;1,00" for i in range(150)]
    result = run(runner, write(tmp_path, [HEADER, *bad]))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("  linha ")]
    assert len(errors) == 100
    assert errors[0].startswith("  linha 2, coluna vencimento") and "'99/99/2026'" in errors[0]
    assert errors[-1].startswith("  linha 101,")
    assert "primeiros 100 erros" in result.output
    assert dump(db_path) == loaded


def test_every_error_of_a_row_is_named(runner, db_path, loaded, tmp_path):
    row = "1;;;;;;;;;F1;;01/01/2026;aaaa;-5,00;x"
    result = run(runner, write(tmp_path, [HEADER, row]))
    assert result.exit_code == 1
    for expected in ("linha 2, coluna cliente: campo obrigatório vazio",
                     "linha 2, coluna vencimento: data inválida (use dd/mm/aaaa ou aaaa-mm-dd) 'aaaa'",
                     "linha 2, coluna saldo: valor inválido (use 1.234,56, 1234,56 ou 1234.56) 'x'",
                     "linha 2, coluna valor: valor negativo '-5,00'"):
        assert expected in result.output
    assert dump(db_path) == loaded


def test_line_numbers_count_blank_lines_and_multiline_fields(runner, db_path, loaded, tmp_path):
    lines = [HEADER, ROWS[0], "", ROWS[1].replace("Transportadora Rápida", '"Transportadora\nRápida"'),
             ROWS[2].replace("14/11/2026", "14/11/26")]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 1
    assert "linha 6, coluna vencimento: data inválida" in result.output


# --- snapshot semantics -----------------------------------------------------------------------

def test_snapshot_settles_missing_items_of_the_files_companies_only(runner, session, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    # Company 1 again: F1001/1 paid (saldo 0), F1001/2 still open, F1002 gone; company 2 absent.
    paid = ROWS[0].rsplit(";", 1)[0] + ";0,00"
    result = run(runner, write(tmp_path, [HEADER, paid, ROWS[1]], name="b.csv"))
    assert result.exit_code == 0, result.output
    assert "0 novas, 1 atualizadas, 1 baixadas" in result.output
    f1001_1 = get_invoice(session, "1", "F1001", "1")
    assert f1001_1.balance_cents == 0 and f1001_1.settled_at is not None
    assert get_invoice(session, "1", "F1001", "2").balance_cents == 150000
    f1002 = get_invoice(session, "1", "F1002")
    assert f1002 is not None, "settled, not deleted"
    assert f1002.balance_cents == 0 and f1002.settled_at is not None
    f2001 = get_invoice(session, "2", "F2001")
    assert f2001.balance_cents == 21000 and f2001.settled_at is None


def test_reopened_item_is_open_again(runner, session, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    assert run(runner, write(tmp_path, [HEADER, ROWS[1]], name="b.csv")).exit_code == 0
    assert get_invoice(session, "1", "F1002").settled_at is not None
    result = run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv"))
    assert "0 novas, 2 atualizadas, 0 baixadas" in result.output
    f1002 = get_invoice(session, "1", "F1002")
    assert f1002.balance_cents == 32040 and f1002.settled_at is None


def test_new_item_with_saldo_zero_is_stored_settled(runner, session, tmp_path):
    row = ROWS[2].rsplit(";", 1)[0] + ";0"
    assert run(runner, write(tmp_path, [HEADER, row])).exit_code == 0
    f1002 = get_invoice(session, "1", "F1002")
    assert f1002.balance_cents == 0 and f1002.settled_at is not None


def test_reimporting_the_same_file_changes_nothing(runner, db_path, tmp_path):
    path = write(tmp_path, [HEADER, *ROWS])
    assert run(runner, path).exit_code == 0
    before = dump(db_path)
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert "Faturas: 0 novas, 0 atualizadas, 0 baixadas" in result.output
    assert "Clientes: 0 novos, 0 atualizados. Empresas novas: 0." in result.output
    assert dump(db_path) == before


def test_reimport_after_a_snapshot_settlement_changes_nothing(runner, db_path, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    second = write(tmp_path, [HEADER, ROWS[0]], name="b.csv")
    assert run(runner, second).exit_code == 0
    before = dump(db_path)
    assert "0 novas, 0 atualizadas, 0 baixadas" in run(runner, second).output
    assert dump(db_path) == before


def indexes(db_path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                            "ORDER BY name").fetchall()


def test_first_load_rebuilds_the_indexes_it_drops(runner, db_path, tmp_path):
    before = indexes(db_path)
    assert any(name.startswith("ix_invoice") for name, _ in before)
    assert run(runner, write(tmp_path, [HEADER, *ROWS])).exit_code == 0  # more rows than the table
    assert indexes(db_path) == before
    assert run(runner, write(tmp_path, [HEADER, ROWS[0]], name="b.csv")).exit_code == 0
    assert indexes(db_path) == before


# --- master data and dunning settings ---------------------------------------------------------

def test_dunning_settings_are_never_touched(runner, session, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    c001 = customer(session, "C001")
    c001.send_email, c001.tolerance_days = "nao", 5
    account = session.scalar(db.select(Account.id).where(Account.code == "7"))
    group = c001.group
    group.send_email, group.tolerance_days = True, 3
    session.add_all([CustomerAccountRule(customer_id=c001.id, account_id=account, send_email=False),
                     GroupAccountRule(group_id=group.id, account_id=account, send_email=True),
                     BillingAccount(customer_id=c001.id, account_id=account)])
    session.commit()
    changed = [row.replace("FROTAS", "OUTRO").replace("1.234,56", "1.000,00") for row in ROWS]
    result = run(runner, write(tmp_path, [HEADER, *changed], name="b.csv"))
    assert result.exit_code == 0, result.output
    c001 = customer(session, "C001")
    assert (c001.send_email, c001.tolerance_days) == ("nao", 5)
    assert c001.group.code == "OUTRO" and c001.group.send_email is False
    assert [(r.account_id, r.send_email) for r in c001.account_rules] == [(account, False)]
    assert [b.account_id for b in c001.billing_accounts] == [account]
    frotas = session.scalar(db.select(CustomerGroup).where(CustomerGroup.code == "FROTAS"))
    assert (frotas.send_email, frotas.tolerance_days) == (True, 3)
    assert [(r.account_id, r.send_email) for r in frotas.account_rules] == [(account, True)]


def test_empty_cells_do_not_erase_customer_data(runner, session, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    blank = []
    for row in ROWS:
        cells = row.split(";")
        cells[1:3] = ["", ""]  # empresa_nome, empresa_cnpj
        cells[4:8] = ["", "", "", ""]  # nome, cpf_cnpj, email, grupo
        blank.append(";".join(cells))
    result = run(runner, write(tmp_path, [HEADER, *blank], name="b.csv"))
    assert result.exit_code == 0, result.output
    assert "Clientes: 0 novos, 0 atualizados" in result.output
    c001 = customer(session, "C001")
    assert (c001.name, c001.tax_id, c001.emails, c001.group.code) == (
        "Transportadora Rápida", "12.ABC.345/01DE-35", ["fin@rapida.com.br"], "FROTAS")
    company = session.get(Company, get_invoice(session, "1", "F1001", "1").company_id)
    assert (company.name, company.tax_id) == ("Auto Posto Estrela", "11.222.333/0001-81")


def test_master_data_is_updated_from_the_file(runner, session, tmp_path):
    assert run(runner, write(tmp_path, [HEADER, *ROWS], name="a.csv")).exit_code == 0
    moved = [row.replace("fin@rapida.com.br", "contas@rapida.com.br cobranca@rapida.com.br")
             for row in ROWS]
    result = run(runner, write(tmp_path, [HEADER, *moved], name="b.csv"))
    assert "Clientes: 0 novos, 1 atualizados" in result.output
    assert customer(session, "C001").emails == ["contas@rapida.com.br", "cobranca@rapida.com.br"]


def test_warnings_for_doubtful_tax_ids_and_addresses(runner, session, tmp_path):
    rows = [ROWS[0].replace("12.ABC.345/01DE-35", "123.456.789-00"),
            ROWS[2].replace("529.982.247-25", "12.ABC.345/01DE-36").replace(";;;;F1002", ";fulano@;;;F1002"),
            ROWS[3]]
    result = run(runner, write(tmp_path, [HEADER, *rows]))
    assert result.exit_code == 0, result.output
    assert "Avisos (3):" in result.output
    assert "linha 2, coluna cpf_cnpj: CPF/CNPJ com dígitos verificadores inválidos" in result.output
    assert "'123.456.789-00'" in result.output
    assert "'12.ABC.345/01DE-36'" in result.output
    assert "linha 3, coluna email: e-mail inválido" in result.output and "'fulano@'" in result.output
    assert "12.ABC.345/01DE-35" not in result.output, "a valid alphanumeric CNPJ is no warning"
    assert customer(session, "C002").tax_id == "12.ABC.345/01DE-36", "imported as given"


def test_unknown_columns_are_a_warning(runner, tmp_path):
    lines = [HEADER + ";observacao", *(row + ";qualquer" for row in ROWS)]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 0, result.output
    assert "linha 1, coluna observacao: colunas desconhecidas ignoradas" in result.output


# --- the property -----------------------------------------------------------------------------

VALID_AMOUNTS = st.integers(0, 10**9).flatmap(lambda c: st.sampled_from([
    f"{c // 100:,}".replace(",", ".") + f",{c % 100:02d}", f"{c // 100},{c % 100:02d}",
    f"{c // 100}.{c % 100:02d}"]).map(lambda text, c=c: (text, c)))
VALID_DATES = st.dates(date(2000, 1, 1), date(2099, 12, 31)).flatmap(
    lambda d: st.sampled_from([d.strftime("%d/%m/%Y"), d.isoformat()]))
BAD_AMOUNTS = st.sampled_from(["-1,00", "abc", "1,234", "1.2.3", "12,3,4", "R$", "1e3"])
BAD_DATES = st.sampled_from(["31/02/2026", "2026-13-01", "1/1/26", "ontem", "00/01/2026"])


@st.composite
def export_rows(draw):
    """(empresa, documento, parcela, saldo text, saldo cents or None if invalid, vencimento)."""
    key = (draw(st.sampled_from(["1", "2"])), draw(st.sampled_from(["A", "B", "C", "D"])),
           draw(st.sampled_from(["", "1"])))
    bad = draw(st.integers(0, 9)) == 0
    which = draw(st.sampled_from(["saldo", "vencimento", "cliente"])) if bad else ""
    saldo, cents = draw(BAD_AMOUNTS) if which == "saldo" else draw(VALID_AMOUNTS), None
    if which != "saldo":
        saldo, cents = saldo
    due = draw(BAD_DATES if which == "vencimento" else VALID_DATES)
    client = "" if which == "cliente" else draw(st.sampled_from(["C1", "C2", "C3"]))
    return key, client, saldo, (None if bad else cents), due


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(export_rows(), min_size=1, max_size=8), st.sampled_from([";", ","]))
def test_any_file_imports_whole_or_changes_nothing(session, db_path, rows, sep):
    quote = (lambda text: f'"{text}"') if sep == "," else (lambda text: text)
    lines = [sep.join(["empresa", "documento", "parcela", "cliente", "saldo", "vencimento"])]
    lines += [sep.join([e, d, p, client, quote(saldo), due])
              for (e, d, p), client, saldo, _, due in rows]
    before = dump(db_path)
    keys = [key for key, *_ in rows]
    acceptable = all(cents is not None for *_, cents, _ in rows) and len(set(keys)) == len(keys)
    try:
        import_invoices(session, io.BytesIO("\n".join(lines).encode("cp1252")))
    except FileRejected as exc:
        event("rejected")
        assert not acceptable, exc.errors
        assert dump(db_path) == before
        return
    event("imported")
    assert acceptable, "a bad file was accepted"
    for (company, document, installment), _, _, cents, _ in rows:
        assert get_invoice(session, company, document, installment).balance_cents == cents
    companies = {key[0] for key in keys}
    for item in session.scalars(db.select(Invoice)):
        if item.company.code in companies and (item.company.code, item.document,
                                               item.installment) not in keys:
            assert item.balance_cents == 0 and item.settled_at is not None

