"""Régua de cobrança (issue 11): levels, multa/juros, bank calendar, creditor hold-back,
settings CLI, set-company, the dry-run JSON keys."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from dunning.charges import updated_cents
from dunning.delivery import run
from dunning.rules import load_details, plan
from dunning.statement import Templates, render, sample_reminder, validate_templates
from models import Company, OutboxLine, StationSettings
from smtpserver import configure_station
from test_delivery import FAST
from test_rules import build, inv

D = date(2026, 11, 25)   # a Wednesday; Fri 20 November is a national holiday


def one_customer(session, due: str, balance: int = 10000, station=None, **customer):
    build(session, customers=[dict(code="C1", send="sim", **customer)],
          invoices=[inv("C1", "F1", due, balance)], station=station)


# --- levels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("days_late, level", [
    (1, "Lembrete"), (14, "Lembrete"), (15, "Segundo aviso"), (29, "Segundo aviso"),
    (30, "Aviso final"), (200, "Aviso final")])
def test_level_by_the_most_days_late(session, days_late, level):
    build(session, customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "F1", (D - timedelta(days=days_late)).isoformat()),
                    inv("C1", "F2", (D - timedelta(days=1)).isoformat()),
                    inv("C1", "F3", (D + timedelta(days=40)).isoformat())])
    (reminder,) = plan(session, D).reminders
    assert reminder.level_name == level and reminder.kind == "overdue"


def test_level_counts_only_overdue_items_past_the_tolerance(session):
    # 20 days late but within a 25-day tolerance does not count; the 26-day one does.
    build(session, customers=[dict(code="C1", send="sim", tol=10)],
          invoices=[inv("C1", "F1", (D - timedelta(days=12)).isoformat())])
    (reminder,) = plan(session, D).reminders
    assert reminder.level_name == "Lembrete"


def test_each_level_has_its_wording_and_no_threats():
    base = SimpleNamespace(subject_template="", text_template="", html_template="",
                           contact_line="", sender_name="Posto")
    from dunning.levels import DEFAULT_LEVELS
    seen = set()
    for level in DEFAULT_LEVELS:
        reminder = sample_reminder(D)
        reminder.level = level
        subject, text, html = render(reminder, base, D)
        assert subject == "Pendências financeiras em aberto - Auto Posto Exemplo Ltda"
        assert f"{level.name}:" in text and f"<strong>{level.name}:</strong>" in html
        paragraph = text.split(f"{level.name}:")[1].split("\n")[0]
        seen.add(paragraph)
        for word in ("protesto", "SPC", "Serasa", "judicial", "negativ", "cartório"):
            assert word not in text
    assert len(seen) == 3


def test_level_recorded_on_the_outbox_line_and_shown_in_envios(app, session, smtp_server, staff):
    one_customer(session, "2026-10-01")
    configure_station(session, smtp_server, app.instance_path)
    report = run(session, D, app.instance_path, options=FAST)
    assert (report.exit_code, report.sent) == (0, 1)
    line = session.scalar(select(OutboxLine).where(OutboxLine.status == "sent"))
    assert (line.kind, line.level) == ("overdue", "Aviso final")
    page = staff.get(f"/envios/{report.run_id}").get_data(as_text=True)
    assert "Aviso final" in page
    page = staff.get(f"/clientes/{line.customer_id}").get_data(as_text=True)
    assert "Aviso final" in page


# --- multa and juros ------------------------------------------------------------------------

@pytest.mark.parametrize("balance, days, fee, interest, expected", [
    (100000, 30, 200, 100, 103000),            # R$ 1.000,00 + 2% + 1% (30 days) = R$ 1.030,00
    (1, 30, 200, 100, 1),                      # 1 centavo: R$ 0,0103 -> R$ 0,01
    (75, 1, 200, 0, 77),                       # R$ 0,765 -> half-up R$ 0,77 (not 0,76)
    (123456, 17, 200, 100, 126625),            # R$ 1.266,2470 -> R$ 1.266,25
    (100000000, 45, 200, 100, 103500000),      # R$ 1.000.000,00 -> R$ 1.035.000,00
    (100000, 1, 0, 100, 100033),               # R$ 1.000,3333 -> R$ 1.000,33
    (100000, 0, 200, 100, 100000),             # not late: no charge
    (100000, 10, 0, 0, 100000),                # nothing set
    (99999, 61, 150, 299, 107579),             # R$ 999,99 x (1 + 1,5% + 2,99% x 61/30) = 1.075,786
])
def test_updated_amount_exact_to_the_centavo(balance, days, fee, interest, expected):
    assert updated_cents(balance, days, fee, interest) == expected


def test_updated_amount_in_plan_json_and_message(session, runner, app):
    # Due Sat 21/11 -> effective Mon 23/11 (Fri 20 is a holiday); on 25/11: 4 days late.
    one_customer(session, "2026-11-21", 100000,
                 station=dict(late_fee_bp=200, interest_bp_month=150))
    (reminder,) = plan(session, D).reminders
    (invoice,) = reminder.invoices
    assert invoice.days_late == 4 and invoice.updated_cents == 102200   # 1000 x (1.02 + 0.002)
    on_effective_day = plan(session, date(2026, 11, 23))
    assert on_effective_day.reminders == []                            # not overdue yet
    out = json.loads(runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                                         "--date", D.isoformat()]).output)
    assert out["reminders"][0]["invoices"][0]["saldo_atualizado"] == "1022.00"
    assert out["reminders"][0]["invoices"][0]["vencimento_efetivo"] == "2026-11-23"
    settings = StationSettings.load(session)
    load_details(session, [reminder])
    _, text, html = render(reminder, settings, D)
    for body in (text, html):
        assert "R$ 1.022,00" in body and "valor estimado; o valor exato é confirmado no pagamento" in body
        assert "multa de 2,00% e juros de mora de 1,50% ao mês" in body
        assert "pagável sem acréscimo até 23/11/2026" in body


def test_no_saldo_atualizado_when_off(session, runner):
    one_customer(session, "2026-10-01")
    out = json.loads(runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                                         "--date", D.isoformat()]).output)
    assert "saldo_atualizado" not in out["reminders"][0]["invoices"][0]


# --- calendar -------------------------------------------------------------------------------

@pytest.mark.parametrize("due, station, effective", [
    ("2027-02-08", {}, "2027-02-10"),                                  # Carnaval Mon+Tue (bank)
    ("2027-02-08", {"bank_calendar": "nacional"}, "2027-02-08"),       # national only: as is
    ("2027-02-09", {}, "2027-02-10"),
    ("2027-02-10", {}, "2027-02-10"),                                  # Ash Wednesday: business
    ("2027-05-27", {}, "2027-05-28"),                                  # Corpus Christi
    ("2027-05-27", {"bank_calendar": "nacional"}, "2027-05-27"),
    ("2027-07-09", {}, "2027-07-09"),                                  # SP's holiday, no UF
    ("2027-07-09", {"state": "SP"}, "2027-07-12"),                     # ... with UF SP (Fri)
    ("2027-01-25", {"extra_holidays": "2027-01-25"}, "2027-01-26"),    # an extra (municipal) date
    ("2027-12-31", {}, "2028-01-03"),                                  # no bank service, weekend, ...
    ("2027-11-20", {"bank_calendar": "nacional"}, "2027-11-22"),       # national holiday (Sat)
    ("2027-02-08", {"shift_due_dates": False}, "2027-02-08"),          # moving switched off
])
def test_effective_due_date_by_calendar(session, due, station, effective):
    one_customer(session, due, station=station)
    (reminder,) = plan(session, date(2028, 3, 1)).reminders
    assert reminder.invoices[0].effective_due_date.isoformat() == effective


def test_carnaval_due_is_not_overdue_until_after_the_next_business_day(session):
    one_customer(session, "2027-02-08")
    assert plan(session, date(2027, 2, 10)).reminders == []
    (reminder,) = plan(session, date(2027, 2, 11)).reminders
    assert reminder.invoices[0].days_late == 3          # counted from the printed vencimento


# --- creditor identification (CDC art. 42-A) ------------------------------------------------

def test_incomplete_creditor_is_held_back(session, runner):
    build(session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", empresa="2"),
                    inv("C2", "F3", "2026-10-01", empresa="2")])
    company = session.scalar(select(Company).where(Company.code == "2"))
    company.address, company.tax_id = "", "11.111.111/1111-11"
    session.commit()
    result = plan(session, D)
    assert [[i.document for i in r.invoices] for r in result.reminders] == [["F1"]]
    assert [(s.customer_code, s.reason) for s in result.skipped] == [("C2", "creditor_incomplete")]
    assert [(h.code, h.reason, h.detail) for h in result.held] == [
        ("2", "creditor_incomplete", "falta CNPJ válido, endereço")]
    out = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json", "--date", "2026-11-25"])
    data = json.loads(out.output)
    assert data["held"] == [{"empresa": "2", "nome": "Posto 2", "reason": "creditor_incomplete",
                             "detail": "falta CNPJ válido, endereço"}]
    assert data["skipped"] == [{"customer": "C2", "reason": "creditor_incomplete"}]
    table = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-11-25"])
    assert "Empresas retidas" in table.output and "falta CNPJ válido, endereço" in table.output
    assert "empresa credora sem nome, CNPJ ou endereço" in table.output


def test_a_run_with_a_held_creditor_exits_1_and_says_so(app, session, smtp_server, runner):
    build(session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-10-01", empresa="2")])
    session.scalar(select(Company).where(Company.code == "2")).name = ""
    session.commit()
    configure_station(session, smtp_server, app.instance_path)
    result = runner.invoke(args=["email-pendencia-financeira", "--date", D.isoformat()])
    assert result.exit_code == 1, result.output
    assert "1 enviados" in result.output and "Empresa 2 (2)" in result.output
    assert "falta nome" in result.output
    log = (Path(app.instance_path) / "logs" / "envios.log").read_text(encoding="utf-8")
    assert "empresa=2 retida=creditor_incomplete" in log and "falta nome" in log
    assert len(smtp_server.received) == 1


def test_templates_without_the_creditor_or_the_invoices_are_refused():
    station = SimpleNamespace(subject_template="", text_template="", html_template="",
                              contact_line="", sender_name="Posto")
    errors = validate_templates(Templates(
        text="{% for c in companies %}{{ c.name }} {{ c.tax_id }}{% endfor %} {{ reminder.customer_name }}",
        html="<p>{% for c in companies %}{{ c.name }} {{ c.tax_id }} {{ c.address }}{% endfor %}</p>"),
        station, D)
    assert "o endereço do credor" in errors["text"] and "a lista de faturas" in errors["text"]
    assert "a lista de faturas" in errors["html"] and "endereço" not in errors["html"]
    assert "art. 42-A" in errors["text"]


# --- settings and set-company from the command line ------------------------------------------

def test_settings_list_and_set(runner, session):
    out = runner.invoke(args=["settings"])
    assert out.exit_code == 0
    for name in ("calendario", "uf", "feriados_extras", "multa_percentual", "juros_percentual_mes",
                 "aviso_vencimento_dias", "intervalo_reenvio", "smtp_servidor"):
        assert f"\n{name} " in "\n" + out.output
    assert "calendario" in out.output and "bancario" in out.output
    for name, value, shown in (("multa_percentual", "2", "2,00"), ("juros_percentual_mes", "1,5", "1,50"),
                               ("calendario", "nacional", "nacional"), ("uf", "sp", "SP"),
                               ("feriados_extras", "2027-01-25, 2026-12-08", "2026-12-08,2027-01-25"),
                               ("aviso_vencimento_dias", "3", "3"), ("intervalo_reenvio", "10", "10"),
                               ("uf", "", "(vazio)")):
        result = runner.invoke(args=["settings", "set", name, value])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"{name} = {shown}"
    session.expire_all()
    row = StationSettings.load(session)
    assert (row.late_fee_bp, row.interest_bp_month, row.bank_calendar, row.due_soon_days) == (
        200, 150, "nacional", 3)


@pytest.mark.parametrize("name, value, message", [
    ("multa_percentual", "2,01", "Multa por atraso: valor inválido '2,01'"),
    ("multa_percentual", "abc", "use um número de 0 a 2,00"),
    ("juros_percentual_mes", "1,234", "até duas casas decimais"),
    ("calendario", "municipal", "use 'bancario' ou 'nacional'"),
    ("uf", "XX", "UF inválida 'XX'"),
    ("feriados_extras", "2027-02-30", "Data inválida '2027-02-30'"),
    ("aviso_vencimento_dias", "-1", "Aviso de vencimento: valor inválido '-1'"),
    ("intervalo_reenvio", "400", "de 0 a 365"),
    ("remetente_email", "joão@posto.com.br", "e-mail inválido"),
    ("nao_existe", "1", "configuração desconhecida 'nao_existe'"),
])
def test_settings_set_refuses_bad_values(runner, session, name, value, message):
    before = {c.key: getattr(StationSettings.load(session), c.key)
              for c in StationSettings.__table__.columns}
    session.commit()
    result = runner.invoke(args=["settings", "set", name, value])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output
    session.expire_all()
    after = {c.key: getattr(StationSettings.load(session), c.key)
             for c in StationSettings.__table__.columns}
    assert after == before


def test_browser_form_uses_the_same_validation(staff, app):
    bad = staff.post("/configuracoes/regua", data={
        "calendario": "bancario", "uf": "", "feriados_extras": "", "multa_percentual": "2,01",
        "juros_percentual_mes": "1", "aviso_vencimento_dias": "0"})
    assert bad.status_code == 400
    assert "Multa por atraso: valor inválido &#39;2,01&#39;" in bad.get_data(as_text=True)
    ok = staff.post("/configuracoes/regua", data={
        "calendario": "nacional", "uf": "MG", "feriados_extras": "2027-01-25",
        "multa_percentual": "2", "juros_percentual_mes": "1", "aviso_vencimento_dias": "3"})
    assert ok.status_code == 302
    with app.app_context():
        from models import db
        row = StationSettings.load(db.session)
        assert (row.bank_calendar, row.state, row.extra_holidays, row.late_fee_bp,
                row.interest_bp_month, row.due_soon_days) == ("nacional", "MG", "2027-01-25",
                                                             200, 100, 3)


def test_set_company(runner, session):
    result = runner.invoke(args=["set-company", "9", "--name", "Auto Posto Nove Ltda",
                                 "--cnpj", "11.222.333/0001-81",
                                 "--address", "Rua Um, 1\\nCentro - Campinas/SP"])
    assert result.exit_code == 0, result.output
    assert "Empresa 9 salva: Auto Posto Nove Ltda." in result.output and "Atenção" not in result.output
    company = session.scalar(select(Company).where(Company.code == "9"))
    assert company.address == "Rua Um, 1\nCentro - Campinas/SP"
    bad = runner.invoke(args=["set-company", "9", "--cnpj", "11.222.333/0001-82", "--phone", "1"])
    assert bad.exit_code == 1 and "CNPJ inválido '11.222.333/0001-82'" in bad.output
    session.expire_all()
    assert session.scalar(select(Company.phone).where(Company.code == "9")) == ""
    partial = runner.invoke(args=["set-company", "10", "--name", "Filial"])
    assert partial.exit_code == 0 and "ainda falta CNPJ, endereço" in partial.output


# --- the pre-due notice ("Aviso de vencimento") --------------------------------------------

@pytest.mark.parametrize("due, as_of, notice", [
    ("2026-11-30", "2026-11-27", True),     # Mon: 3 calendar days before
    ("2026-11-30", "2026-11-26", False),    # 4 days before: not yet
    ("2026-11-30", "2026-11-28", False),    # 2 days before: that day has passed
    ("2026-11-28", "2026-11-27", True),     # Sat -> effective Mon 30: counted to the effective date
    ("2026-11-28", "2026-11-25", False),    # ... not to the printed one
    ("2026-11-20", "2026-11-20", True),     # Fri 20/11 holiday -> Mon 23: notice on the 20th
])
def test_pre_due_day(session, due, as_of, notice):
    one_customer(session, due, station=dict(due_soon_days=3))
    result = plan(session, date.fromisoformat(as_of))
    kinds = [(r.kind, r.level_name, [i.document for i in r.invoices]) for r in result.reminders]
    assert kinds == ([("due_soon", "", ["F1"])] if notice else [])
    if not notice:
        assert [s.reason for s in result.skipped] == ["nothing_overdue"]


def test_pre_due_is_off_by_default(session):
    one_customer(session, "2026-11-30")
    assert plan(session, date(2026, 11, 27)).reminders == []


def test_pre_due_lists_only_the_items_due_then_even_when_listing_only_overdue(session):
    build(session, customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "F1", "2026-11-30"), inv("C1", "F2", "2026-12-15")],
          station=dict(due_soon_days=3, only_overdue=True))
    (reminder,) = plan(session, date(2026, 11, 27)).reminders
    assert [i.document for i in reminder.invoices] == ["F1"] and reminder.overdue_cents == 0


def test_overdue_wins_on_the_same_day(session, runner):
    build(session, customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-11-30")],
          station=dict(due_soon_days=3))
    out = json.loads(runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                                         "--date", "2026-11-27"]).output)
    (reminder,) = out["reminders"]
    assert (reminder["kind"], reminder["level"]) == ("overdue", "Aviso final")
    assert [i["documento"] for i in reminder["invoices"]] == ["F1", "F2"]


def test_pre_due_skips_like_any_reminder(session):
    build(session, customers=[dict(code="C1", send="sim", emails=""),
                              dict(code="C2", send="sim", emails="nao-e-email")],
          invoices=[inv("C1", "F1", "2026-11-30"), inv("C2", "F2", "2026-11-30")],
          station=dict(due_soon_days=3))
    result = plan(session, date(2026, 11, 27))
    assert [(s.customer_code, s.reason) for s in result.skipped] == [
        ("C1", "no_email"), ("C2", "invalid_email")]


def test_pre_due_run_at_most_once_and_does_not_delay_the_overdue_reminder(app, session, smtp_server,
                                                                         runner):
    one_customer(session, "2026-11-30", station=dict(due_soon_days=3))
    configure_station(session, smtp_server, app.instance_path)
    first = run(session, date(2026, 11, 27), app.instance_path, options=FAST)
    assert (first.exit_code, first.sent) == (0, 1)
    (message,) = smtp_server.messages_to("c1@cliente.com.br")
    assert message["Subject"] == "Aviso de vencimento - Posto 1"
    text = message.get_body(("plain",)).get_content()
    assert "Aviso de vencimento:" in text and "vencimento 30/11/2026" in text and "Rua A, 1" in text
    line = session.scalar(select(OutboxLine).where(OutboxLine.status == "sent"))
    assert (line.kind, line.level) == ("due_soon", "")
    again = run(session, date(2026, 11, 27), app.instance_path, options=FAST)   # same date
    later = run(session, date(2026, 11, 28), app.instance_path, options=FAST)   # next day
    assert (again.sent, later.sent) == (0, 0)
    assert len(smtp_server.messages_to("c1@cliente.com.br")) == 1
    # Overdue on 1/12: the reminder goes although a message went out 4 days before.
    overdue = run(session, date(2026, 12, 1), app.instance_path, options=FAST)
    assert overdue.sent == 1
    subjects = [m["Subject"] for m in smtp_server.messages_to("c1@cliente.com.br")]
    assert subjects[-1] == "Pendências financeiras em aberto - Posto 1"
    table = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-12-02"])
    assert "lembrete já enviado" in table.output


# --- levels and templates edited in Configurações -------------------------------------------

LEGAL = ("{% for c in companies %}{{ c.name }} {{ c.tax_id }} {{ c.address }}"
         "{% for i in c.invoices %} {{ i.document }}{% endfor %}{% endfor %}")


def test_levels_edited_in_the_browser(staff, app):
    page = staff.get("/configuracoes/").get_data(as_text=True)
    assert 'value="Segundo aviso"' in page and 'value="15"' in page
    bad = staff.post("/configuracoes/niveis", data={"nome-1": "Lembrete", "dias-1": "1",
                                                    "nome-2": "Outro", "dias-2": "1",
                                                    "nome-3": "", "dias-3": "x"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "Nível 3: dias de atraso inválido &#39;x&#39;" in text
    ok = staff.post("/configuracoes/niveis", data={"nome-1": "Cordial", "dias-1": "5",
                                                   "nome-2": "Lembrete", "dias-2": "1"})
    assert ok.status_code == 302
    with app.app_context():
        from models import db
        from dunning.levels import load_levels
        assert [(lv.number, lv.name, lv.start_days) for lv in load_levels(db.session)] == [
            (1, "Lembrete", 1), (2, "Cordial", 5)]
    dup = staff.post("/configuracoes/niveis", data={"nome-1": "A", "dias-1": "3", "nome-2": "B",
                                                    "dias-2": "3"})
    assert dup.status_code == 400 and "já há um nível a partir de 3 dias" in dup.get_data(as_text=True)


def test_a_level_template_is_used_for_that_level_only(staff, app, session):
    form = {"target": "nivel-3", "subject": "Aviso final: {{ reminder.customer_code }}",
            "text": "Final. " + LEGAL, "html": "<p>Final.</p>" + LEGAL, "action": "save"}
    assert staff.post("/configuracoes/modelos", data=form).status_code == 302
    page = staff.get("/configuracoes/?modelo=nivel-3").get_data(as_text=True)
    assert "Aviso final: {{ reminder.customer_code }}" in page
    build(session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-11-20")])
    settings = StationSettings.load(session)
    reminders = plan(session, D).reminders
    load_details(session, reminders)
    by_code = {r.customer_code: render(r, settings, D) for r in reminders}
    assert by_code["C1"][0] == "Aviso final: C1" and by_code["C1"][1].startswith("Final. Posto 1")
    assert by_code["C2"][0] == "Pendências financeiras em aberto - Posto 1"     # a Lembrete
    assert staff.post("/configuracoes/modelos/padrao", data={"target": "nivel-3"}).status_code == 302
    session.expire_all()
    from models import EscalationLevel
    assert session.scalar(select(EscalationLevel.subject_template)
                          .where(EscalationLevel.start_days == 30)) == ""


def test_pre_due_template_checked_and_saved(staff, app):
    page = staff.get("/configuracoes/?modelo=aviso").get_data(as_text=True)
    assert "Aviso de vencimento - {{ company_names }}" in page
    bad = staff.post("/configuracoes/modelos", data={
        "target": "aviso", "subject": "Vence logo", "text": "Vence logo {{ reminder.customer_code }}",
        "html": "<p>" + LEGAL + "</p>", "action": "save"})
    assert bad.status_code == 400 and "o nome do credor" in bad.get_data(as_text=True)
    ok = staff.post("/configuracoes/modelos", data={
        "target": "aviso", "subject": "Vence logo", "text": "Vence logo " + LEGAL,
        "html": "<p>" + LEGAL + "</p>", "action": "save"})
    assert ok.status_code == 302
    with app.app_context():
        from models import db
        assert StationSettings.load(db.session).due_soon_subject_template == "Vence logo"


def test_common_template_is_checked_at_every_level(staff):
    bad = staff.post("/configuracoes/modelos", data={
        "target": "comum", "subject": "{{ level.name }} {{ level.nao_existe }}",
        "text": LEGAL, "html": LEGAL, "action": "save"})
    assert bad.status_code == 400 and "nao_existe" in bad.get_data(as_text=True)
