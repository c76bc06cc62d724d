"""The data age guard (issue 9 item 2): a company whose invoice data is older than the limit, or
never imported, is held back from every message; the dry-run, preview, run, log and Painel say
so; and a real send dated in the future is refused (item 4)."""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from dunning.rules import plan
from models import Company, Customer, Run, StationSettings, db
from smtpserver import configure_station
from stations import complete_creditors

HEADER = "empresa;empresa_nome;empresa_cnpj;cliente;nome;email;documento;vencimento;saldo"
AS_OF = date(2026, 11, 27)


def export(path, rows, mtime: datetime):
    """An ERP export on disk, dated ``mtime`` (the data time of a file read from disk)."""
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def row(company: str, customer: str, document: str, due: str = "01/10/2026") -> str:
    return (f"{company};Posto {company};11.222.333/000{company}-81;{customer};Cliente {customer};"
            f"{customer.lower()}@cliente.example.com;{document};{due};100,00")


@pytest.fixture
def two_companies(runner, session, tmp_path):
    """Company 1 imported just now, company 2 three days ago; customer MIX has overdue invoices at
    both, ONLY2 only at company 2, ONLY1 only at company 1 (all enabled)."""
    now = datetime.now()
    old = export(tmp_path / "empresa2.csv", [row("2", "MIX", "B1"), row("2", "ONLY2", "B2")],
                 now - timedelta(days=3))
    new = export(tmp_path / "empresa1.csv", [row("1", "MIX", "A1"), row("1", "ONLY1", "A2")],
                 now - timedelta(minutes=5))
    for path in (old, new):
        result = runner.invoke(args=["import-invoices", str(path)])
        assert result.exit_code == 0, result.output
    session.execute(update(Customer).values(send_email="sim"))
    session.commit()
    complete_creditors(session)  # only the data age holds a company back here
    return now


def company_time(session, code: str) -> datetime:
    return session.scalar(select(Company.data_time).where(Company.code == code))


def test_the_limit_is_fresh_and_one_minute_more_is_stale_per_company(two_companies, session):
    taken = company_time(session, "1")
    session.execute(update(Company).where(Company.code == "2").values(data_time=taken))
    session.commit()
    at_limit = plan(session, AS_OF, now=taken + timedelta(hours=24))
    assert at_limit.held == []
    assert [r.customer_code for r in at_limit.reminders] == ["MIX", "ONLY1", "ONLY2"]
    # Company 2 a minute older than the limit: held back; company 1 exactly at it: not.
    session.execute(update(Company).where(Company.code == "2").values(
        data_time=taken - timedelta(minutes=1)))
    session.commit()
    over = plan(session, AS_OF, now=taken + timedelta(hours=24))
    assert [h.code for h in over.held] == ["2"]
    assert [r.customer_code for r in over.reminders] == ["MIX", "ONLY1"]
    mix = over.reminders[0]
    assert [(i.company_code, i.document) for i in mix.invoices] == [("1", "A1")]
    assert [(s.customer_code, s.reason) for s in over.skipped] == [("ONLY2", "stale_data")]
    # The age is the real clock's, not the run date's: any --date gives the same verdict.
    later = plan(session, date(2027, 1, 1), now=taken + timedelta(hours=24))
    assert [h.code for h in later.held] == ["2"]


def test_a_company_never_imported_by_a_recorded_import_is_held(two_companies, session):
    session.execute(update(Company).where(Company.code == "1").values(data_time=None))
    session.commit()
    result = plan(session, AS_OF, now=datetime.now())
    held = {h.code: h for h in result.held}
    assert set(held) == {"1", "2"}
    assert "nenhuma importação registrada contém esta empresa" in held["1"].detail
    assert "import-invoices" in held["1"].detail
    assert result.reminders == []
    assert {s.reason for s in result.skipped} == {"stale_data"}


def test_guard_off_holds_nothing(two_companies, runner, session):
    result = runner.invoke(args=["configure-import", "--max-age-hours", "0"])
    assert result.exit_code == 0 and "sem limite" in result.output
    assert plan(session, AS_OF, now=datetime.now()).held == []
    dry = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-11-27"])
    assert dry.exit_code == 0 and "retida" not in dry.output


def test_dry_run_table_and_json_name_the_company_its_age_and_the_fix(two_companies, runner):
    table = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-11-27"])
    assert table.exit_code == 1, table.output
    assert "Empresas retidas (faturas fora de todas as mensagens): 1" in table.output
    assert "2 Posto 2" in table.output and "dados de" in table.output
    assert "há 3 dias" in table.output and "limite: 24 horas" in table.output
    assert "importe uma exportação nova" in table.output
    assert "dados da empresa desatualizados" in table.output  # ONLY2's reason
    raw = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                              "--date", "2026-11-27"])
    assert raw.exit_code == 1
    data = json.loads(raw.output)
    assert set(data) >= {"date", "reminders", "skipped", "held"}
    [held] = data["held"]
    assert (held["empresa"], held["reason"]) == ("2", "stale_data")
    assert held["data_time"] and "há 3 dias" in held["detail"]
    assert {"customer": "ONLY2", "reason": "stale_data"} in data["skipped"]
    assert [i["empresa"] for r in data["reminders"] if r["customer"] == "MIX"
            for i in r["invoices"]] == ["1"]


def test_real_run_holds_back_names_it_in_summary_log_and_exits_1(
        two_companies, app, runner, session, smtp_server):
    configure_station(session, smtp_server, app.instance_path)
    result = runner.invoke(args=["email-pendencia-financeira", "--date", "2026-11-27"])
    assert result.exit_code == 1, result.output
    assert "2 enviados, 0 falhas, 1 ignorados" in result.output
    assert "Posto 2 (2): dados da empresa desatualizados, dados de" in result.output
    assert "dados da empresa desatualizados: 1" in result.output
    assert smtp_server.messages_to("only2@cliente.example.com") == []
    [mix] = smtp_server.messages_to("mix@cliente.example.com")
    body = mix.get_body(("plain",)).get_content()
    assert "A1" in body and "B1" not in body
    log = (open(os.path.join(app.instance_path, "logs", "envios.log"), encoding="utf-8").read())
    assert "empresa=2 retida=stale_data" in log and "importe uma exportação" in log
    session.expire_all()
    assert "Posto 2 (2): dados da empresa desatualizados" in session.scalar(select(Run.message))


def test_painel_shows_each_company_data_age_and_marks_stale_ones(two_companies, staff):
    page = staff.get("/").get_data(as_text=True)
    assert "Idade dos dados de faturas" in page
    assert "1 empresa com dados desatualizados" in page
    assert "desatualizada: retida" in page and "em dia" in page
    assert "3 dias" in page


def test_preview_and_send_now_confirmation_name_the_held_company(two_companies, staff):
    page = staff.get("/previa/?data=2026-11-27").get_data(as_text=True)
    assert "fora de todas as mensagens (1 empresa)" in page
    assert "Posto 2</a> (2): dados da empresa desatualizados" in page and "há 3 dias" in page


def test_settings_page_saves_the_limit_and_refuses_a_missing_folder(staff, session, tmp_path):
    saved = staff.post("/configuracoes/importacao", data={
        "import_folder": str(tmp_path), "import_pattern": "faturas_*.csv",
        "max_data_age_hours": "48"})
    assert saved.status_code == 302
    session.expire_all()
    settings = StationSettings.load(session)
    assert (settings.import_folder, settings.import_pattern, settings.max_data_age_hours) == (
        str(tmp_path), "faturas_*.csv", 48)
    bad = staff.post("/configuracoes/importacao", data={
        "import_folder": str(tmp_path / "nao-existe"), "import_pattern": "*.csv",
        "max_data_age_hours": "24"})
    assert bad.status_code == 400 and "não existe" in bad.get_data(as_text=True)
    page = staff.get("/configuracoes/").get_data(as_text=True)
    assert "Idade máxima dos dados de faturas (horas)" in page


def test_a_real_send_dated_in_the_future_is_refused(two_companies, app, runner, session,
                                                    smtp_server):
    configure_station(session, smtp_server, app.instance_path)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    result = runner.invoke(args=["email-pendencia-financeira", "--date", tomorrow])
    assert result.exit_code == 2
    assert "é futura" in result.output and "--dry-run" in result.output
    assert smtp_server.received == [] and session.scalar(select(Run.id)) is None
    dry = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", tomorrow])
    assert dry.exit_code in (0, 1) and "Simulação para" in dry.output
    today = runner.invoke(args=["email-pendencia-financeira", "--date", date.today().isoformat()])
    assert today.exit_code in (0, 1), today.output
