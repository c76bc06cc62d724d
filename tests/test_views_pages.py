"""The list and edit pages: what they show, what their forms save, their validation errors."""
from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest

from dunning.importing import import_invoices
from models import (Account, Company, Customer, CustomerGroup, OutboxLine, Run, SendEmail, db)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "faturas.csv"


@pytest.fixture
def loaded(app, staff):
    """The example ERP export imported; returns the logged-in client."""
    with app.app_context(), EXAMPLE.open("rb") as fh:
        import_invoices(db.session, fh)
    return staff


def _ids(app):
    with app.app_context():
        customer = db.session.scalar(db.select(Customer).where(Customer.code == "C001"))
        group = db.session.scalar(db.select(CustomerGroup).where(CustomerGroup.code == "FROTAS"))
        accounts = {(a.company.code, a.code): a.id for a in db.session.scalars(db.select(Account))}
        company = db.session.scalar(db.select(Company).where(Company.code == "1"))
        return customer.id, group.id, accounts, company.id


def test_every_page_renders_for_staff(loaded, app):
    customer_id, group_id, _accounts, company_id = _ids(app)
    for path in ["/", "/clientes/", f"/clientes/{customer_id}", "/grupos/", f"/grupos/{group_id}",
                 "/empresas/", f"/empresas/{company_id}", "/faturas/", "/importar/", "/envios/"]:
        response = loaded.get(path)
        assert response.status_code == 200, path
        assert "Clientes" in response.get_data(as_text=True)


def test_customers_search_and_overdue_filter(loaded):
    html = loaded.get("/clientes/?q=rápida").get_data(as_text=True)
    assert "C001" in html and "C002" not in html
    for typed in ("rapida", "RÁPIDA", "Rapida S.A"):        # accents and case don't matter
        html = loaded.get("/clientes/", query_string={"q": typed}).get_data(as_text=True)
        assert "C001" in html and "C003" not in html, typed
    assert "C003" in loaded.get("/clientes/?q=agropecuaria").get_data(as_text=True)
    assert "C002" in loaded.get("/clientes/?q=52998224725").get_data(as_text=True)   # CPF digits
    assert "C002" in loaded.get("/clientes/?q=529.982").get_data(as_text=True)
    html = loaded.get("/clientes/?q=C00").get_data(as_text=True)
    assert all(code in html for code in ("C001", "C002", "C003"))
    overdue = loaded.get("/clientes/?vencidas=1").get_data(as_text=True)
    # C003's only invoice is due on 30/12/2026, after the others.
    if date.today() < date(2026, 12, 30):
        assert "C003" not in overdue
    assert "R$ 2.944,56" in loaded.get("/clientes/?q=C001").get_data(as_text=True)


def test_search_follows_a_renamed_customer(loaded, app):
    renamed = EXAMPLE.read_text(encoding="utf-8").replace("Agropecuária Boa Vista", "Café São João")
    with app.app_context():
        import_invoices(db.session, io.BytesIO(renamed.encode()))
    assert "C003" in loaded.get("/clientes/?q=cafe sao").get_data(as_text=True)
    assert "C003" not in loaded.get("/clientes/?q=agropecuaria").get_data(as_text=True)


def test_customers_are_paginated(loaded, app):
    app.config["PER_PAGE"] = 2
    first = loaded.get("/clientes/").get_data(as_text=True)
    assert "Página 1 de 2" in first and "C001" in first and "C003" not in first
    second = loaded.get("/clientes/?page=2").get_data(as_text=True)
    assert "C003" in second and "C001" not in second


def test_customer_policy_form_saves(loaded, app):
    customer_id, _group, accounts, _company = _ids(app)
    form = loaded.get(f"/clientes/{customer_id}").get_data(as_text=True)
    assert "Enviar e-mail sobre atraso de pendências financeiras" in form
    assert "Dias de tolerância" in form and "Faturamento" in form
    response = loaded.post(f"/clientes/{customer_id}", data={
        "send_email": "sim", "tolerance_days": "5",
        "entries-0-account": str(accounts[("1", "7")]), "entries-0-send_email": "y",
        "entries-1-account": str(accounts[("2", "3")]),
        "billing-0-account": str(accounts[("1", "7")]),
    })
    assert response.status_code == 302
    with app.app_context():
        c = db.session.get(Customer, customer_id)
        assert c.send_email == SendEmail.YES.value and c.tolerance_days == 5
        assert {(r.account_id, r.send_email) for r in c.account_rules} == {
            (accounts[("1", "7")], True), (accounts[("2", "3")], False)}
        assert [b.account_id for b in c.billing_accounts] == [accounts[("1", "7")]]
        rule_ids = {r.account_id: r.id for r in c.account_rules}
    # Edit one entry (checkbox on), remove the other, empty tolerance = inherit, drop billing.
    response = loaded.post(f"/clientes/{customer_id}", data={
        "send_email": "herdar", "tolerance_days": "",
        "entries-0-account": str(accounts[("1", "7")]),
        "entries-1-account": str(accounts[("2", "3")]), "entries-1-send_email": "y",
        "entries-0-remove": "y",
        "billing-0-account": str(accounts[("1", "7")]), "billing-0-remove": "y",
    })
    assert response.status_code == 302
    with app.app_context():
        c = db.session.get(Customer, customer_id)
        assert c.send_email == "herdar" and c.tolerance_days is None
        assert [(r.id, r.account_id, r.send_email) for r in c.account_rules] == [
            (rule_ids[accounts[("2", "3")]], accounts[("2", "3")], True)]
        assert c.billing_accounts == []


def test_customer_policy_validation_errors(loaded, app):
    customer_id, _group, accounts, _company = _ids(app)
    response = loaded.post(f"/clientes/{customer_id}", data={
        "send_email": "talvez", "tolerance_days": "-1",
        "entries-0-account": str(accounts[("1", "7")]),
        "entries-1-account": str(accounts[("1", "7")]),
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Informe um número de dias entre 0 e 3650" in html
    assert "Corrija os campos indicados" in html
    response = loaded.post(f"/clientes/{customer_id}", data={
        "send_email": "sim", "tolerance_days": "abc"})
    assert "O valor inteiro não é válido" in response.get_data(as_text=True)
    response = loaded.post(f"/clientes/{customer_id}", data={
        "send_email": "sim", "entries-0-account": str(accounts[("1", "7")]),
        "entries-1-account": str(accounts[("1", "7")])})
    assert "já está em outra linha" in response.get_data(as_text=True)
    with app.app_context():
        c = db.session.get(Customer, customer_id)
        assert c.send_email == "herdar" and c.account_rules == []


def test_customer_emails_form(loaded, app):
    customer_id, *_ = _ids(app)
    bad = loaded.post(f"/clientes/{customer_id}/emails", data={"addresses": "ok@x.com.br\nsem-arroba"})
    assert "E-mail inválido: sem-arroba" in bad.get_data(as_text=True)
    good = loaded.post(f"/clientes/{customer_id}/emails",
                       data={"addresses": "a@rapida.com.br\nb@rapida.com.br, a@rapida.com.br"})
    assert good.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, customer_id).emails == ["a@rapida.com.br", "b@rapida.com.br"]


def test_customer_page_shows_invoices_and_history(loaded, app):
    customer_id, *_ = _ids(app)
    with app.app_context():
        run = Run(as_of=date(2026, 11, 20), started_at=datetime(2026, 11, 20, 8), status="finished")
        db.session.add(run)
        db.session.flush()
        db.session.add(OutboxLine(run_id=run.id, customer_id=customer_id, as_of=run.as_of,
                                  status="failed_permanent", smtp_code=550, smtp_reply="mailbox unavailable"))
        db.session.commit()
    html = loaded.get(f"/clientes/{customer_id}").get_data(as_text=True)
    assert "F1001" in html and "R$ 1.234,56" in html and "01/10/2026" in html
    assert "550 mailbox unavailable" in html and "falha permanente" in html


def test_group_vencimentos_form(loaded, app):
    _customer, group_id, accounts, _company = _ids(app)
    html = loaded.get(f"/grupos/{group_id}").get_data(as_text=True)
    assert "Vencimentos" in html
    response = loaded.post(f"/grupos/{group_id}", data={
        "send_email": "y", "tolerance_days": "3",
        "entries-0-account": str(accounts[("1", "7")]), "entries-0-send_email": "y"})
    assert response.status_code == 302
    with app.app_context():
        g = db.session.get(CustomerGroup, group_id)
        assert g.send_email is True and g.tolerance_days == 3
        assert [(r.account_id, r.send_email) for r in g.account_rules] == [(accounts[("1", "7")], True)]
    bad = loaded.post(f"/grupos/{group_id}", data={"tolerance_days": "-2"})
    assert "Informe um número de dias" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CustomerGroup, group_id).tolerance_days == 3
    assert "FROTAS" in loaded.get("/grupos/?q=frot").get_data(as_text=True)


def test_company_form(loaded, app):
    _c, _g, accounts, company_id = _ids(app)
    bad = loaded.post(f"/empresas/{company_id}", data={"name": "Posto", "tax_id": "11.222.333/0001-00",
                                                        "email": "nope"})
    html = bad.get_data(as_text=True)
    assert "CNPJ inválido" in html and "E-mail inválido" in html
    good = loaded.post(f"/empresas/{company_id}", data={
        "name": "Auto Posto Estrela Ltda", "tax_id": "11.222.333/0001-81",
        "address": "Av. Brasil, 100 - Centro, Brasília/DF", "phone": "(61) 3333-4444",
        "email": "financeiro@posto.com.br", f"account-{accounts[('1', '7')]}": "Frotas"})
    assert good.status_code == 302
    with app.app_context():
        c = db.session.get(Company, company_id)
        assert c.address.startswith("Av. Brasil") and c.phone == "(61) 3333-4444"
        assert db.session.get(Account, accounts[("1", "7")]).name == "Frotas"
    assert "Av. Brasil" in loaded.get("/empresas/").get_data(as_text=True)


def test_invoices_filters(loaded, app):
    _c, _g, _a, company_id = _ids(app)
    html = loaded.get("/faturas/").get_data(as_text=True)
    assert all(doc in html for doc in ("F1001", "F1002", "F1003", "F2001"))
    html = loaded.get(f"/faturas/?empresa={company_id}").get_data(as_text=True)
    assert "F2001" not in html and "F1001" in html
    html = loaded.get("/faturas/?cliente=C002").get_data(as_text=True)
    assert "F1002" in html and "F1001" not in html
    html = loaded.get("/faturas/?cliente=ZZZ").get_data(as_text=True)
    assert "Nenhum cliente com o código ZZZ" in html
    if date.today() < date(2026, 12, 30):
        assert "F1003" not in loaded.get("/faturas/?vencidas=1").get_data(as_text=True)


def test_import_invoices_upload(staff, app):
    response = staff.post("/importar/faturas", data={"faturas-file": (EXAMPLE.open("rb"), "faturas.csv")},
                          content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Faturas importadas" in html and "Faturas novas" in html and ">5<" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Customer.id))) == 3


def test_import_rejected_file_shows_errors_and_changes_nothing(staff, app):
    bad = ("empresa;cliente;documento;vencimento;saldo\n1;C1;F1;31/02/2026;10,00\n"
           "1;C2;F2;01/03/2026;-5\n").encode()
    response = staff.post("/importar/faturas", data={"faturas-file": (io.BytesIO(bad), "ruim.csv")},
                          content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Arquivo recusado" in html and "31/02/2026" in html and "vencimento" in html
    assert "saldo negativo" in html and ">3<" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Customer.id))) == 0


def test_import_without_file_shows_field_error(staff):
    response = staff.post("/importar/faturas", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Escolha um arquivo CSV" in response.get_data(as_text=True)


def test_dashboard_totals_and_chart(loaded):
    html = loaded.get("/").get_data(as_text=True)
    assert "Total em aberto" in html and "R$ 4.244,96" in html
    assert "<svg" in html and "1-30 dias" in html and "90+ dias" in html
    assert "Nenhum envio ainda" in html


def test_runs_pages(loaded, app):
    customer_id, *_ = _ids(app)
    with app.app_context():
        run = Run(as_of=date(2026, 11, 20), started_at=datetime(2026, 11, 20, 8, 0, 5),
                  finished_at=datetime(2026, 11, 20, 8, 0, 9), status="finished", sent_count=1,
                  failed_count=1)
        db.session.add(run)
        db.session.flush()
        db.session.add_all([
            OutboxLine(run_id=run.id, customer_id=customer_id, as_of=run.as_of, status="unknown",
                       recipients="financeiro@rapida.com.br", smtp_reply=""),
        ])
        db.session.commit()
        run_id = run.id
        line_id = db.session.scalar(db.select(OutboxLine.id))
    html = loaded.get("/envios/").get_data(as_text=True)
    assert "20/11/2026 08:00:05" in html and "20/11/2026 08:00:09" in html
    assert f'/envios/{run_id}"' in html
    html = loaded.get(f"/envios/{run_id}").get_data(as_text=True)
    assert "incerto" in html and "Reenviar" in html
    html = loaded.get(f"/envios/{run_id}?situacao=sent").get_data(as_text=True)
    assert "Nenhuma linha" in html
    confirm = loaded.get(f"/envios/linha/{line_id}/reenviar").get_data(as_text=True)
    assert "pode já ter recebido" in confirm and "Sim, reenviar" in confirm
    dashboard = loaded.get("/").get_data(as_text=True)
    assert f"Envio nº {run_id}" in dashboard and "incerto" in dashboard


def test_customers_of_a_group(loaded, app):
    _c, group_id, _a, _co = _ids(app)
    assert f"/clientes/?grupo={group_id}" in loaded.get(f"/grupos/{group_id}").get_data(as_text=True)
    html = loaded.get(f"/clientes/?grupo={group_id}").get_data(as_text=True)
    assert "C001" in html and "C003" in html and "C002" not in html   # C002 has no group
    assert "só o grupo FROTAS" in html


def test_security_headers(loaded):
    response = loaded.get("/")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
