"""Terminal output (issue 10, item 8): control characters from imported data never reach the
terminal raw: dry-run table and JSON, import warnings and errors, the run's summary, the log."""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Company, Customer
from smtpserver import configure_station

AS_OF = ["--date", "2026-11-27"]
HEADER = "empresa;empresa_nome;cliente;nome;email;documento;vencimento;saldo\n"
# Escape sequences (recolour, clear screen, retitle the window, CSI in C1), carriage return,
# backspace, bell, a bidi override, a line separator and a zero-width space.
HOSTILE = ["\x1b[31m", "\x1b[2J", "\x1b]0;titulo\x07", "\x9b31m", "\r", "\x08", "\x07",
           "\u202e", "\u2028", "\u200b", "\x7f"]
NAME = "Cliente " + "".join(HOSTILE) + "fim"


def _raw_controls(text: str) -> list[str]:
    """Characters in ``text`` that act on a terminal (newline and tab aside)."""
    return [hex(ord(c)) for c in text if c not in "\n\t" and (
        unicodedata.category(c) in ("Cc", "Zl", "Zp") or 0x200b <= ord(c) <= 0x200f
        or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069)]


@pytest.fixture
def hostile_file(tmp_path) -> Path:
    rows = [f'1;Posto\x1b[5m Piscante;C1;"{NAME}\nlinha forjada";c1@cliente.example.com;F1;01/10/2026;10,00\n',
            f"1;Posto;C2\x1b[8m;Outro\x1b[0m;\x1b[31mruim\x07@@x;F2;01/10/2026;10,00\n",
            "1;Posto;C3;Sem e-mail;;F3;01/10/2026;10,00\n"]
    path = tmp_path / "faturas.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _enable_everyone(session) -> None:
    """Every customer enabled, the creditor complete (CDC art. 42-A: name, CNPJ, address)."""
    for customer in session.scalars(select(Customer)):
        customer.send_email = "sim"
    for company in session.scalars(select(Company)):
        company.tax_id, company.address = "11.222.333/0001-81", "Av. Brasil, 1000 - São Paulo/SP"
    session.commit()


def test_import_warnings_and_dry_run_table_escape_control_characters(runner, session, hostile_file):
    imported = runner.invoke(args=["import-invoices", str(hostile_file)])
    assert imported.exit_code == 0, imported.output
    assert "Avisos" in imported.output and "\\x1b[31mruim\\x07@@x" in imported.output
    assert _raw_controls(imported.output) == []
    _enable_everyone(session)
    table = runner.invoke(args=["email-pendencia-financeira", "--dry-run", *AS_OF])
    assert table.exit_code == 0, table.output
    assert _raw_controls(table.output) == []
    assert "C1 Cliente \\x1b[31m" in table.output, table.output
    assert "\nlinha forjada" not in table.output            # a newline in a name forges no line
    assert "C2\\x1b[8m" in table.output
    as_json = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json", *AS_OF])
    assert _raw_controls(as_json.output) == []
    assert json.loads(as_json.output)["reminders"][0]["customer"] == "C1"


def test_import_errors_escape_control_characters(runner, tmp_path):
    path = tmp_path / "ruim.csv"
    path.write_text(HEADER + "1;Posto;C1;Nome;a@b.example.com;F1;\x1b[2J01/10/2026\u202e;10,00\n",
                    encoding="utf-8")
    refused = runner.invoke(args=["import-invoices", str(path)])
    assert refused.exit_code == 1
    assert "\\x1b[2J" in refused.output and _raw_controls(refused.output) == []


def test_run_summary_and_log_escape_control_characters(app, runner, session, hostile_file,
                                                       smtp_server):
    runner.invoke(args=["import-invoices", str(hostile_file)])
    _enable_everyone(session)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c1@cliente.example.com", "550 5.1.1 \x1b[2Jcaixa \x1b]0;x\x07inexistente",
                       times=5)
    result = runner.invoke(args=["email-pendencia-financeira", *AS_OF])
    assert result.exit_code == 1, result.output
    assert "Falhas:" in result.output and _raw_controls(result.output) == []
    as_json = runner.invoke(args=["email-pendencia-financeira", "--json", *AS_OF])
    assert _raw_controls(as_json.output) == []
    log = (Path(app.instance_path) / "logs" / "envios.log").read_text(encoding="utf-8")
    assert re.search(r"cliente=C1 status=failed_permanent", log)
    assert _raw_controls(log) == []
