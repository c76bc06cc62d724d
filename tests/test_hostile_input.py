"""No 500 and no traceback for bad input (issue 10, item 13): every page with hostile query
values and ids, dates out of range on pages and in the CLI, oversized CSV fields and lines,
dates outside 1900-2100 in imports, a read-only database."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_delivery import HEADER, load_customers

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999999999"
HOSTILE_VALUES = [HUGE, "-" + HUGE, "-1", "0", "abc", "1e999", "nan", "inf", "1.5", "", " ",
                  "\x00", "%00", "'\"<>", "ção", "0001-01-01", "0000-00-00", "9999-12-31",
                  "10000-01-01", "2026-02-30", "-2026-01-01", "2026-13-01", "99999-99-99",
                  "x" * 100_000, "1" * 5000]
HOSTILE_IDS = ["0", HUGE, "1" * 400]


def _query_names() -> set[str]:
    """Every query parameter a view reads (found in the source, so new views are covered)."""
    names = set()
    for path in (ROOT / "blueprints").glob("*.py"):
        names |= set(re.findall(r"request\.args\.(?:get|getlist)\(\s*[\"'](\w+)[\"']",
                                path.read_text(encoding="utf-8")))
    return names | {"page", "q", "data"}


def _get_routes(app) -> list:
    return [rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and rule.endpoint not in ("static", "auth.logout")]


def _urls(rule, ids) -> list[str]:
    """``rule``'s path with each of ``ids`` for its parameters."""
    if not rule.arguments:
        return [rule.rule]
    return [re.sub(r"<(?:\w+:)?\w+>", value, rule.rule) for value in ids]


@pytest.fixture
def data_staff(app, session, staff):
    load_customers(session, 3)
    return staff


def test_every_page_survives_hostile_query_values_and_ids(app, data_staff):
    from flask import got_request_exception
    app.config["PROPAGATE_EXCEPTIONS"] = False
    names = sorted(_query_names())
    failures = []

    def record(sender, exception, **extra):
        failures.append(f"{type(exception).__name__}: {str(exception)[:120]}")

    got_request_exception.connect(record, app)
    try:
        for rule in _get_routes(app):
            for url in _urls(rule, ["1", *HOSTILE_IDS]):
                for value in HOSTILE_VALUES:
                    for query in ({name: value for name in names}, {"page": value}):
                        response = data_staff.get(url, query_string=query)
                        if response.status_code >= 500:
                            failures.append((url[:60], sorted(query)[:1], value[:30]))
    finally:
        got_request_exception.disconnect(record, app)
    assert sorted(set(map(str, failures))) == []


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01",
                                   "0000-01-01", "20261-01-01", "x", "2026-02-30"])
def test_preview_date_out_of_range_is_a_form_error(data_staff, value):
    response = data_staff.get("/previa/", query_string={"data": value})
    assert response.status_code == 200
    assert "Data inválida" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01", "x",
                                   "2026-02-30", "+2026-01-01", " 2026-01-01"])
def test_cli_date_out_of_range_exits_2_with_a_message(runner, session, value):
    load_customers(session, 1)
    for extra in (["--dry-run"], ["--dry-run", "--json"], []):
        result = runner.invoke(args=["email-pendencia-financeira", "--date", value, *extra])
        assert result.exit_code == 2, (value, extra, result.output)
        assert "Data inválida" in result.output and "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("column,value", [("vencimento", "01/01/1899"), ("vencimento", "0001-01-01"),
                                          ("vencimento", "31/12/2101"), ("vencimento", "9999-12-31"),
                                          ("emissao", "01/01/0001"), ("emissao", "2101-01-01")])
def test_import_refuses_dates_outside_1900_2100(runner, tmp_path, column, value):
    header = "empresa;cliente;documento;vencimento;saldo;emissao\n"
    row = {"vencimento": "01/10/2026", "emissao": "01/09/2026"}
    row[column] = value
    path = tmp_path / "faturas.csv"
    path.write_text(header + f"1;C1;F1;{row['vencimento']};10,00;{row['emissao']}\n",
                    encoding="utf-8")
    result = runner.invoke(args=["import-invoices", str(path)])
    assert result.exit_code == 1, result.output
    assert "linha 2" in result.output and column in result.output and value in result.output
    assert "1900" in result.output and "2100" in result.output


def _oversized_files(tmp_path) -> dict[str, Path]:
    big = "x" * 200_000                         # over csv's default field limit (131072)
    files = {
        "header field": HEADER.rstrip("\n") + ";" + big + "\n",
        "data field": HEADER + f"1;P;11.222.333/0001-81;C1;{big};a@b.example.com;F1;1;01/10/2026;1,00;;;\n",
        "quoted field": HEADER + f'1;P;11.222.333/0001-81;C1;"{big}";a@b.example.com;F1;1;01/10/2026;1,00;;;\n',
        "one giant line": "empresa;" + ";".join(f"c{n}" for n in range(300_000)),
        "giant line, no delimiter": "a" * 3_000_000,
        "unclosed quote": HEADER + '1;P;11.222.333/0001-81;C1;"Nome;a@b.example.com;F1;1;01/10/2026;1,00\n' * 3,
    }
    paths = {}
    for name, text in files.items():
        path = tmp_path / (name.replace(" ", "_").replace(",", "") + ".csv")
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


def test_oversized_csv_fields_and_lines_are_refused_with_a_message(runner, tmp_path):
    for name, path in _oversized_files(tmp_path).items():
        for command in ("import-invoices", "import-policies"):
            result = runner.invoke(args=[command, str(path)])
            assert result.exit_code == 1, (name, command, result.output[-300:])
            assert "recusado" in result.output.lower() or "Erro" in result.output, (name, command)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                name, command, repr(result.exception))


def test_oversized_csv_uploads_are_refused_with_a_page(app, data_staff, tmp_path):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for name, path in _oversized_files(tmp_path).items():
        for field, url in (("faturas-file", "/importar/faturas"),
                           ("politicas-file", "/importar/politicas")):
            response = data_staff.post(url, data={field: (io.BytesIO(path.read_bytes()), "f.csv")},
                                       content_type="multipart/form-data")
            assert response.status_code < 500, (name, url)
            assert response.status_code in (200, 400, 422), (name, url, response.status_code)


def test_read_only_database_gives_a_clear_page(app, session, db_path, tmp_path):
    """SQLite opened read-only (as a file without write permission behaves, even for root)."""
    from app import create_app
    from dunning.users import create_user
    from models import db
    create_user(session, "caixa", "senha-segura-1")
    db.engine.dispose()
    read_only = create_app({"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
                            "PROPAGATE_EXCEPTIONS": False, "INSTANCE_PATH": str(tmp_path / "ro"),
                            "SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{db_path}?mode=ro&uri=true"})
    client = read_only.test_client()
    response = client.post("/entrar", data={"username": "caixa", "password": "senha-segura-1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[-500:]
    assert "somente leitura" in html and "Nada foi alterado" in html and "Traceback" not in html
    with read_only.app_context():
        db.engine.dispose()


def test_read_only_database_in_a_real_process(tmp_path, migrated_db):
    """The CLI: a clear pt-BR message, exit 2, no traceback (SQLite opened read-only)."""
    import shutil
    db_file = tmp_path / "ro.db"
    shutil.copy(migrated_db, db_file)
    csv_file = tmp_path / "f.csv"
    csv_file.write_text(HEADER + "1;P;11.222.333/0001-81;C1;N;a@b.example.com;F1;1;01/10/2026;1,00;;;\n",
                        encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///file:{db_file}?mode=ro&uri=true",
           "APPLIANCE_INSTANCE": str(tmp_path / "instance")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "import-invoices",
                             str(csv_file)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "somente leitura" in result.stderr
