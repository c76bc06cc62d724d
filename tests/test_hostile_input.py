"""No 500 and no traceback for bad input (issue 10, item 13): every page with hostile query
values and ids, every form with hostile field values, every command with hostile arguments,
dates out of range on pages and in the CLI, oversized CSV fields and lines, dates outside
1900-2100 in imports, a read-only database (SQLite and PostgreSQL); and, surface by surface, the
station settings (`settings set`, `set-company`, `configure-smtp`, the régua, levels, templates
and backup forms) and backup/restore with bad paths: a pt-BR message, a non-zero exit or a form
error, and the data unchanged."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import click
import pytest
from flask.cli import with_appcontext

from dbdump import dump
from test_delivery import HEADER, load_customers, station  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999999999"
HOSTILE_VALUES = [HUGE, "-" + HUGE, "-1", "0", "abc", "1e999", "nan", "inf", "1.5", "", " ",
                  "\x00", "%00", "'\"<>", "ção", "0001-01-01", "0000-00-00", "9999-12-31",
                  "10000-01-01", "2026-02-30", "-2026-01-01", "2026-13-01", "99999-99-99",
                  "x" * 100_000, "1" * 5000]
HOSTILE_IDS = ["0", HUGE, "1" * 400, "%00", "²"]


def _query_names() -> set[str]:
    """Every query parameter a view reads (found in the source, so new views are covered)."""
    names = set()
    for path in (ROOT / "blueprints").glob("*.py"):
        names |= set(re.findall(r"request\.(?:args|values)\.(?:get|getlist)\(\s*[\"'](\w+)[\"']",
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
    assert not failures, "\n".join(sorted(set(map(str, failures))))


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


def _read_only(url: str) -> str:
    """``url`` opened read-only: SQLite's mode=ro (as a file without write permission behaves,
    even for root); PostgreSQL's read-only transactions (as on a standby server)."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return f"{url}{'&' if '?' in url else '?'}options=-c%20default_transaction_read_only%3Don"


def test_read_only_database_gives_a_clear_page(app, session, db_url, tmp_path):
    from app import create_app
    from dunning.users import create_user
    from models import db
    create_user(session, "caixa", "senha-segura-1")
    before = dump(db_url)
    db.engine.dispose()
    read_only = create_app({"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
                            "PROPAGATE_EXCEPTIONS": False, "INSTANCE_PATH": str(tmp_path / "ro"),
                            "SQLALCHEMY_DATABASE_URI": _read_only(db_url)})
    client = read_only.test_client()
    response = client.post("/entrar", data={"username": "caixa", "password": "senha-segura-1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[-500:]
    assert "somente leitura" in html and "Nada foi alterado" in html and "Traceback" not in html
    with read_only.app_context():
        db.engine.dispose()
    assert dump(db_url) == before


def test_read_only_database_in_a_real_process(tmp_path, db_url):
    """The CLI: a clear pt-BR message, exit 2, no traceback, nothing written."""
    csv_file = tmp_path / "f.csv"
    csv_file.write_text(HEADER + "1;P;11.222.333/0001-81;C1;N;a@b.example.com;F1;1;01/10/2026;1,00;;;\n",
                        encoding="utf-8")
    before = dump(db_url)
    env = {**os.environ, "DATABASE_URL": _read_only(db_url),
           "APPLIANCE_INSTANCE": str(tmp_path / "instance")}
    for args in (["import-invoices", str(csv_file)], ["settings", "set", "uf", "SP"],
                 ["set-company", "9", "--name", "Posto Nove"]):
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and "somente leitura" in result.stderr, args
    assert dump(db_url) == before


# --- Every form, every command ----------------------------------------------------------------

# What a form field or a command-line value may be sent instead of what it expects.
FORM_VALUES = [HUGE, "-1", "1" * 5000, "²", "a\x00b", "x" * 100_000, "", "'\"<>", "nan",
               "a\r\nb", "0001-01-01", "nivel-" + "1" * 5000]


class _Forms(HTMLParser):
    """The POST forms of a page: action, and each field's value as the page fills it in."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "",
                          "method": (a.get("method") or "get").lower(), "fields": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        fields, name = self._form["fields"], a.get("name")
        if tag == "option" and self._select and ("selected" in a or not fields[self._select]):
            fields[self._select] = a.get("value", "")
        elif not name:
            return
        elif tag == "input" and a.get("type") in ("checkbox", "radio"):
            fields[name] = a.get("value", "on") if "checked" in a else fields.get(name)
        elif tag == "input" and a.get("type") != "file":
            fields[name] = a.get("value") or ""
        elif tag in ("textarea", "select"):
            fields[name] = ""
            self._textarea, self._select = (name, None) if tag == "textarea" else (None, name)
        elif tag == "button":
            fields.setdefault(name, None)  # sent only when it is the field under test

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        self._textarea = None if tag == "textarea" else self._textarea
        self._select = None if tag == "select" else self._select


def _post_forms(client, app, ids=("1",)) -> dict[str, dict]:
    """Every POST form found on the GET pages (with ``ids`` in their addresses), by action,
    with its filled-in values."""
    found: dict[str, dict] = {}
    for rule in _get_routes(app):
        for url in _urls(rule, ids):
            response = client.get(url)
            if response.status_code != 200 or "html" not in response.content_type:
                continue
            parser = _Forms()
            parser.feed(response.get_data(as_text=True))
            for form in parser.forms:
                action = form["action"] or url
                if form["method"] == "post" and action not in ("/sair",):
                    found.setdefault(action, form["fields"])
    return found


def test_every_form_survives_hostile_field_values(app, session, runner, staff, station, tmp_path,
                                                 monkeypatch):
    """Each field of each form on its own gets each hostile value, the others as the page
    filled them in: never a 500 (a NUL is a 400 naming the field)."""
    from flask import got_request_exception
    from models import CustomerGroup, OutboxLine
    from sqlalchemy import select
    monkeypatch.chdir(tmp_path)  # a relative backup folder lands here
    app.config["PROPAGATE_EXCEPTIONS"] = False
    session.add(CustomerGroup(code="G1", name="Grupo 1"))
    session.commit()
    forms = _post_forms(staff, app)  # "Enviar agora" offered while C01..C03 are due
    assert runner.invoke(args=["email-pendencia-financeira", "--customer", "C01"]).exit_code == 0
    line = session.scalars(select(OutboxLine).where(OutboxLine.status == "sent")).one()
    line.status = "failed_permanent"  # as after a 550: the re-send form is offered
    session.commit()
    forms = {**_post_forms(staff, app, ("1", str(line.id))), **forms}
    expected = {"/configuracoes/regua", "/configuracoes/niveis", "/configuracoes/modelos",
                "/configuracoes/smtp", "/previa/enviar", "/grupos/1",
                f"/envios/linha/{line.id}/reenviar"}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        expected.add("/configuracoes/backup")  # on PostgreSQL backups are pg_dump's job
    assert expected <= set(forms), sorted(forms)
    failures = []
    got_request_exception.connect(lambda sender, exception, **extra: failures.append(
        f"{type(exception).__name__}: {str(exception)[:120]}"), app, weak=False)
    try:
        for action, fields in forms.items():
            for name in fields:
                if name == "csrf_token":
                    continue
                for value in FORM_VALUES:
                    data = {key: text for key, text in fields.items() if text is not None}
                    data[name] = value
                    response = staff.post(action, data=data)
                    if response.status_code >= 500:
                        failures.append((action, name, value[:20], response.status_code))
                    elif "\x00" in value:
                        assert response.status_code == 400, (action, name)
                        assert "caractere nulo" in response.get_data(as_text=True), (action, name)
    finally:
        got_request_exception.receivers.clear()
    assert not failures, "\n".join(sorted(set(map(str, failures))))


def _commands(app):
    """(words, command) of every command of ours, subcommands of groups included."""
    def walk(command, words):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*words, name])
        yield words, command
    for name, command in app.cli.commands.items():
        if name != "db":  # Flask-Migrate's
            yield from walk(command, [name])


def _cli_values(tmp_path) -> list[str]:
    """Hostile command-line values; every path among them is inside ``tmp_path``."""
    a_file = tmp_path / "um-arquivo"
    a_file.write_text("x", encoding="utf-8")
    a_folder = tmp_path / "uma-pasta"
    a_folder.mkdir()
    return [HUGE, "0", "1" * 5000, "²", "\udcff", "x" * 100_000, "", " ", "a\r\nb", "'\"<>",
            "0001-01-01", "nan", str(a_file), str(a_folder), str(tmp_path / "nao" / "existe"),
            str(a_file / "dentro"), str(tmp_path / ("n" * 300)), str(tmp_path / ("d" * 200 + "/")) * 30]


def test_every_command_survives_hostile_arguments(app, runner, session, tmp_path, monkeypatch):
    """Each value a command takes gets each hostile value (the others '1'): no traceback, and a
    bad value is refused in Portuguese, not by click in English ("Invalid value")."""
    monkeypatch.chdir(tmp_path)  # relative file and folder names land here
    values = _cli_values(tmp_path)
    failures = []
    for words, command in _commands(app):
        params = [p for p in command.params if not getattr(p, "is_flag", False)]
        flags = [p.opts[0] for p in command.params if getattr(p, "is_flag", False)
                 and p.name in ("yes", "dry_run", "password_stdin")]
        for param in params:
            for value in values:
                args = list(words)
                for other in params:
                    given = value if other is param else "1"
                    if isinstance(other, click.Argument):
                        args.append(given)
                    elif other is param or other.required:
                        args += [other.opts[0], given]
                result = runner.invoke(args=[*args, *flags], input="senha-muito-segura-1\n")
                session.rollback()  # what a new process would start from
                where = (" ".join(words), param.name, repr(value)[:30])
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    failures.append((*where, repr(result.exception)[:150]))
                elif "Invalid value" in result.output or "Traceback" in result.output:
                    failures.append((*where, result.output[-150:]))
                elif result.exit_code != 0 and not result.output.strip():
                    failures.append((*where, "refused without a message"))
    assert not failures, "\n".join(map(str, failures))


# --- The station settings, surface by surface: refused in pt-BR, the data unchanged -----------

# Refused by every station setting, every company field and every configure-smtp option.
REFUSED_EVERYWHERE = ["\x00", "\udcff", "1" * 5000, "x" * 100_000, "a\r\nb"]


def _data(db_url: str) -> list:
    """The database's content but the login bookkeeping (each request touches it). Take it
    after a first look at the settings, which writes their row when it is missing."""
    return [row for row in dump(db_url) if row[0] not in ("login_session", "login_throttle")]


def _refused(result, *, codes=(1, 2)) -> str:
    """The output of a command that refused its input as this file expects, for more checks."""
    assert result.exit_code in codes, result.output[-300:]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.startswith(("Erro", "Backup não feito", "Restauração recusada")), \
        result.output[-300:]
    assert "Traceback" not in result.output and "Invalid value" not in result.output
    assert len(result.output) < 2000, "a huge value is cut when quoted"
    return result.output


def test_settings_set_refuses_hostile_values_of_every_setting(runner, session, db_url):
    from dunning.settings_registry import REGISTRY
    before = _data(db_url)
    for name in REGISTRY:
        for value in REFUSED_EVERYWHERE:
            result = runner.invoke(args=["settings", "set", name, value])
            session.rollback()
            assert "Nada foi alterado" in _refused(result), (name, value[:10])
    for name, value in (("nao_existe", "1"), ("x" * 100_000, "1"), ("\udcff", "1")):
        _refused(runner.invoke(args=["settings", "set", name, value]))
        session.rollback()
    assert _data(db_url) == before


def test_set_company_refuses_hostile_values_of_every_field(runner, session, db_url):
    assert runner.invoke(args=["set-company", "1", "--name", "Posto Um"]).exit_code == 0
    before = _data(db_url)
    for option in ("--name", "--cnpj", "--address", "--phone", "--email"):
        for value in ("\x00", "\udcff", "x" * 100_000):
            result = runner.invoke(args=["set-company", "1", option, value])
            session.rollback()
            assert "Nada foi alterado" in _refused(result), (option, value[:10])
    for code in ("\x00", "\udcff", "x" * 100_000, "", " "):
        _refused(runner.invoke(args=["set-company", code, "--name", "Posto"]))
        session.rollback()
    assert _data(db_url) == before


def test_configure_smtp_refuses_hostile_values_in_portuguese(runner, session, db_url):
    good = {"--server": "smtp.example.com", "--port": "465", "--security": "ssl",
            "--sender": "cobranca@posto.example.com", "--user": "", "--sender-name": "",
            "--reply-to": "", "--bcc": "", "--timeout": "60", "--max-per-minute": ""}
    args = [item for pair in good.items() for item in pair]
    assert runner.invoke(args=["configure-smtp", *args]).exit_code == 0
    before = _data(db_url)
    for option in good:
        values = REFUSED_EVERYWHERE + (["0", "65536", "-1", "²", HUGE, "1.5"]
                                       if option in ("--port", "--timeout", "--max-per-minute")
                                       else ["SSLv2", "tls"] if option == "--security" else [])
        for value in values:
            changed = {**good, option: value}
            result = runner.invoke(args=["configure-smtp",
                                         *[item for pair in changed.items() for item in pair]])
            session.rollback()
            assert "Nada foi alterado" in _refused(result, codes=(2,)), (option, value[:10])
    assert _data(db_url) == before


COLLECTION = {"calendario": "bancario", "uf": "", "feriados_extras": "",
              "multa_percentual": "2,00", "juros_percentual_mes": "1,00",
              "aviso_vencimento_dias": "3"}
COLLECTION_REFUSED = [HUGE, "-1", "1" * 5000, "²", "١٢", "x" * 100_000, "nan", "inf", "1e999",
                      "0001-01-01", "9999-12-31", "a\r\nb", "'\"<>", "\x00"]


def test_regua_form_refuses_hostile_values_with_a_form_error(app, staff, db_url):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert staff.get("/configuracoes/").status_code == 200
    assert staff.post("/configuracoes/regua", data=COLLECTION).status_code == 302
    before = _data(db_url)
    for field in COLLECTION:
        for value in COLLECTION_REFUSED:
            response = staff.post("/configuracoes/regua", data={**COLLECTION, field: value})
            html = response.get_data(as_text=True)
            assert response.status_code == 400, (field, value[:10])
            assert ("nada foi salvo" in html if "\x00" not in value
                    else "caractere nulo" in html), (field, value[:10])
    # Extra dates: each one is checked, its value named, and the range enforced.
    for extra in ("2026-12-24, 0001-01-01", "2026-12-24\n2026-02-30", "24/12/2026"):
        html = staff.post("/configuracoes/regua",
                          data={**COLLECTION, "feriados_extras": extra}).get_data(as_text=True)
        assert "Data" in html and "nada foi salvo" in html, extra
    assert _data(db_url) == before


def test_levels_form_refuses_hostile_rows_and_changes_nothing(app, staff, db_url):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert staff.get("/configuracoes/").status_code == 200
    before = _data(db_url)
    for name, days in [("Lembrete", value) for value in FORM_VALUES if value.strip()] + [
            (value, "5") for value in ("x" * 100_000, "a\x00b")] + [("", "0"), ("A", "0")]:
        response = staff.post("/configuracoes/niveis", data={"nome-1": name, "dias-1": days})
        assert response.status_code == 400, (name[:10], days[:10])
        html = response.get_data(as_text=True)
        assert "Corrija os níveis" in html or "caractere nulo" in html, (name[:10], days[:10])
        assert len(html) < 200_000, "a huge value is cut when quoted"
    assert _data(db_url) == before


def test_templates_of_an_unknown_set_are_refused_not_saved_as_the_common_ones(app, staff, db_url):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert staff.get("/configuracoes/").status_code == 200
    before = _data(db_url)
    fields = {"subject": "Outro assunto", "text": "Outro texto", "html": "<p>Outro</p>"}
    for target in ("nivel-7", "nivel-0", "nivel-" + HUGE, "nivel-" + "1" * 5000, "nivel-²",
                   "nivel--1", "outro", "x" * 100_000):
        response = staff.post("/configuracoes/modelos", data={"target": target, **fields})
        assert response.status_code == 400, target[:20]
        assert "Esse conjunto de modelos não existe" in response.get_data(as_text=True)
        response = staff.post("/configuracoes/modelos/padrao", data={"target": target},
                              follow_redirects=True)
        assert "Esse conjunto de modelos não existe" in response.get_data(as_text=True)
        assert staff.get("/configuracoes/", query_string={"modelo": target}).status_code == 200
    assert _data(db_url) == before


def test_backup_settings_form_refuses_bad_folders_and_counts(app, staff, db_url, tmp_path):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert staff.get("/configuracoes/").status_code == 200
    a_file = tmp_path / "arquivo"
    a_file.write_text("x", encoding="utf-8")
    before = _data(db_url)
    cases = [({"folder": folder, "keep": "30"}, "Pasta") for folder in (
        "relativa", str(a_file), str(a_file / "dentro"), str(tmp_path / ("n" * 300)),
        "x" * 100_000)]
    cases += [({"folder": "", "keep": keep}, "Entre 1 e 3650") for keep in (
        "0", "-1", HUGE, "1" * 5000, "²", "nan", "")]
    for data, expected in cases:
        response = staff.post("/configuracoes/backup", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, data
        assert "nada foi salvo" in html, data
    assert _data(db_url) == before


def test_import_settings_refuse_bad_folders_patterns_and_ages(app, runner, staff, db_url, tmp_path):
    """The import folder's settings, from Configurações and from configure-import."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    a_file = tmp_path / "arquivo"
    a_file.write_text("x", encoding="utf-8")
    assert staff.get("/configuracoes/").status_code == 200
    before = _data(db_url)
    good = {"import_folder": "", "import_pattern": "*.csv", "max_data_age_hours": "24"}
    bad = {"import_folder": [str(a_file), str(a_file / "dentro"), str(tmp_path / "nao-existe"),
                             str(tmp_path / ("n" * 300)), "x" * 100_000],
           "import_pattern": ["x" * 201, "x" * 100_000],
           "max_data_age_hours": ["-1", "8761", HUGE, "1" * 5000, "²", "nan", ""]}
    options = {"import_folder": "--folder", "import_pattern": "--pattern",
               "max_data_age_hours": "--max-age-hours"}
    for field, values in bad.items():
        for value in values:
            response = staff.post("/configuracoes/importacao", data={**good, field: value})
            assert response.status_code == 400, (field, value[:20])
            assert "nada foi salvo" in response.get_data(as_text=True), (field, value[:20])
            result = runner.invoke(args=["configure-import", options[field], value])
            assert "Nada foi alterado" in _refused(result, codes=(1,)), (field, value[:20])
    for value in ("a\r\nb", "\udcff", "\x00"):
        _refused(runner.invoke(args=["configure-import", "--pattern", value]))
    assert _data(db_url) == before


# --- Backups and files named on the command line -----------------------------------------------

def _bad_paths(tmp_path) -> dict[str, Path]:
    """Places that are not what a command wants, all inside ``tmp_path``."""
    a_file = tmp_path / "arquivo"
    a_file.write_text("x", encoding="utf-8")
    garbage, foreign, cut, empty = (tmp_path / name for name in ("lixo", "outro-banco", "cortado",
                                                                 "vazia"))
    for folder in (garbage, foreign, cut, empty):
        folder.mkdir()
    (garbage / "appliance.db").write_bytes(b"isto nao e um banco" * 100)
    import sqlite3
    with sqlite3.connect(foreign / "appliance.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    return {"missing": tmp_path / "nao" / "existe", "a file": a_file, "under a file": a_file / "b",
            "no database": empty, "garbage database": garbage,
            "another program's database": foreign, "truncated backup": cut,
            "name too long": tmp_path / ("n" * 300), "path too long": tmp_path / (("d" * 200 + "/") * 30)}


@pytest.mark.sqlite_only  # backs up the SQLite file (PostgreSQL: pg_dump, a message and exit 2)
def test_restore_from_bad_places_is_refused_and_changes_nothing(app, runner, session, db_url,
                                                                tmp_path):
    load_customers(session, 2)
    assert runner.invoke(args=["backup", str(tmp_path / "bons")]).exit_code == 0
    [good] = (tmp_path / "bons").iterdir()
    paths = _bad_paths(tmp_path)
    data = (good / "appliance.db").read_bytes()
    (paths["truncated backup"] / "appliance.db").write_bytes(data[: len(data) // 3])
    keys = {p.name: p.read_bytes() for p in Path(app.instance_path).iterdir() if p.is_file()}
    before = _data(db_url)
    for what, path in paths.items():
        output = _refused(runner.invoke(args=["restore", str(path), "--yes"]), codes=(1,))
        assert "Restauração recusada" in output and "Nada foi alterado" in output, what
    assert _data(db_url) == before
    assert {p.name: p.read_bytes() for p in Path(app.instance_path).iterdir()
            if p.is_file() and p.name in keys} == keys


@pytest.mark.sqlite_only  # backs up the SQLite file (PostgreSQL: pg_dump, a message and exit 2)
def test_backup_to_bad_places_fails_in_portuguese_leaving_nothing(app, runner, tmp_path):
    paths = _bad_paths(tmp_path)
    for what in ("a file", "under a file", "name too long", "path too long"):
        output = _refused(runner.invoke(args=["backup", str(paths[what])]), codes=(1,))
        assert "Backup não feito" in output, what
        assert any(reason in output for reason in ("já existe", "não é uma pasta",
                                                   "longo demais")), (what, output)
    assert (tmp_path / "arquivo").read_text(encoding="utf-8") == "x"
    assert not [p for p in tmp_path.rglob("*") if "backup" in p.name]


def test_export_policies_to_bad_places_fails_in_portuguese(runner, session, tmp_path):
    paths = _bad_paths(tmp_path)
    for what in ("missing", "under a file", "no database", "name too long", "path too long"):
        output = _refused(runner.invoke(args=["export-policies", str(paths[what])]), codes=(1,))
        assert "não foi possível gravar" in output and "Nada foi exportado" in output, what
    assert (tmp_path / "arquivo").read_text(encoding="utf-8") == "x"


# --- The nets under the checks ----------------------------------------------------------------

def test_a_nul_character_is_refused_before_any_view_reads_it(app, data_staff, db_url):
    """PostgreSQL refuses a NUL in any text (a 500 half-way through a save, before): every
    request carrying one, in its address, query, form or a file name, gets a 400 naming it."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert data_staff.get("/configuracoes/").status_code == 200
    before = _data(db_url)
    for method, url, kwargs in [
            ("get", "/clientes/", {"query_string": {"q": "Posto\x00"}}),
            ("get", "/ajuda/img/a%00b.png", {}),
            ("post", "/empresas/1", {"data": {"name": "Posto\x00", "tax_id": "", "address": "",
                                              "phone": "", "email": ""}}),
            ("post", "/configuracoes/envio", {"data": {"resend_interval_days": "7",
                                                       "only_overdue": "todas",
                                                       "contact_line\x00": "x"}}),
            ("post", "/importar/faturas", {"data": {"faturas-file": (io.BytesIO(b"x"), "a\x00.csv")},
                                           "content_type": "multipart/form-data"})]:
        response = getattr(data_staff, method)(url, **kwargs)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert "caractere nulo" in html and "nada foi alterado" in html, url
    assert _data(db_url) == before


def test_a_value_the_database_refuses_is_a_400_and_exit_1_not_a_traceback(app, runner, db_url):
    """The net for a check still missing somewhere: PostgreSQL's DataError (a value it does
    not take) is a pt-BR 400 page, or exit 1 on the command line. (SQLite has no such error.)"""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite raises no DataError")
    from sqlalchemy import text
    from blueprints.cli_input import guard_commands
    from models import db

    def refused():
        db.session.execute(text("SELECT CAST('um' AS INTEGER)"))
        return "not reached"

    app.add_url_rule("/teste-de-valor", "value_test", refused)  # before the app's first request
    app.config.update(PROPAGATE_EXCEPTIONS=False, WTF_CSRF_ENABLED=False)
    from dunning.users import create_user
    with app.app_context():
        create_user(db.session, "caixa", "senha-segura-1")
    client = app.test_client()
    assert client.post("/entrar", data={"username": "caixa",
                                        "password": "senha-segura-1"}).status_code == 302
    response = client.get("/teste-de-valor")
    assert response.status_code == 400
    assert "O banco de dados recusou um dos valores" in response.get_data(as_text=True)

    group = click.Group("teste")
    group.command("valor")(with_appcontext(refused))
    guard_commands(group)
    result = runner.invoke(group, ["valor"])
    assert result.exit_code == 1 and "O banco de dados recusou um dos valores" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
