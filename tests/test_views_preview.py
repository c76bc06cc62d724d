"""Pré-visualizar envio, "Enviar agora" against a real SMTP server, re-send, policies CSV pages."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from dunning.importing import import_invoices
from models import Company, Customer, OutboxLine, Run, db
from stations import complete_creditors


def erp_csv(today: date) -> bytes:
    """Two customers with invoices 40 days late, one with a bad address, one not late."""
    late = (today - timedelta(days=40)).strftime("%d/%m/%Y")
    later = (today + timedelta(days=20)).strftime("%d/%m/%Y")
    rows = [
        "empresa;empresa_nome;empresa_cnpj;cliente;nome;email;conta;documento;vencimento;saldo",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C001;Transportadora Rápida;fin@rapida.com.br;7;F1;{late};1.234,56",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C001;Transportadora Rápida;fin@rapida.com.br;7;F2;{later};100,00",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C002;José da Silva;jose@silva.com.br;7;F3;{late};50,00",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C003;Sem E-mail;;7;F4;{late};70,00",
    ]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def station(app, staff, smtp_server):
    """Invoices imported, C001 and C003 set to "Sim", SMTP pointing at the test server."""
    with app.app_context():
        import_invoices(db.session, io.BytesIO(erp_csv(date.today())))
        complete_creditors(db.session)
        ids = {c.code: c.id for c in db.session.scalars(db.select(Customer))}
    for code in ("C001", "C003"):
        assert staff.post(f"/clientes/{ids[code]}", data={"send_email": "sim"}).status_code == 302
    staff.post("/configuracoes/smtp", data={
        "server": "127.0.0.1", "port": str(smtp_server.port), "security": "none",
        "sender_name": "Auto Posto Estrela", "sender_address": "cobranca@posto.com.br",
        "timeout": "10"})
    return ids


def test_preview_shows_each_message_as_sent(staff, station):
    html = staff.get("/previa/").get_data(as_text=True)
    assert "Mensagens a enviar em" in html and date.today().strftime("%d/%m/%Y") in html
    assert "fin@rapida.com.br" in html and "Pendências financeiras em aberto - Auto Posto Estrela Ltda" in html
    assert "<iframe sandbox srcdoc=" in html and "R$ 1.234,56" in html
    assert "C002" not in html.split("Clientes habilitados")[0]        # not enabled: not previewed
    assert "sem e-mail" in html                                        # C003 is skipped, with why
    assert "Enviar agora" in html


def test_preview_holds_back_a_creditor_without_address(app, staff, station):
    warning = "Código de Defesa do Consumidor (art. 42-A)"
    with app.app_context():
        company = db.session.scalars(db.select(Company)).one()
        company.address = ""
        db.session.commit()
    html = staff.get("/previa/").get_data(as_text=True)
    assert warning in html and "Auto Posto Estrela Ltda</a>" in html and "falta endereço" in html
    assert "Nenhuma mensagem seria enviada" in html  # its invoices are in no message
    assert "empresa credora sem nome, CNPJ ou endereço" in html  # the customers' skip reason
    with app.app_context():
        company = db.session.scalars(db.select(Company)).one()
        company.address = "Av. Brasil, 1000 - Centro - Campinas/SP"
        db.session.commit()
    html = staff.get("/previa/").get_data(as_text=True)
    assert warning not in html and "Av. Brasil, 1000 - Centro - Campinas/SP" in html


def test_preview_other_date_and_bad_input(staff, station):
    early = (date.today() - timedelta(days=60)).isoformat()
    html = staff.get(f"/previa/?data={early}").get_data(as_text=True)
    assert "Nenhuma mensagem seria enviada" in html and "envia sempre com a data de hoje" in html
    html = staff.get("/previa/?data=2026-02-31").get_data(as_text=True)
    assert "Data inválida &#39;2026-02-31&#39;" in html
    html = staff.get("/previa/?cliente=NAOEXISTE").get_data(as_text=True)
    assert "Nenhum cliente com o código NAOEXISTE" in html


def test_send_now_confirms_then_runs_the_job(app, staff, station, smtp_server):
    confirm = staff.get("/previa/enviar").get_data(as_text=True)
    assert "Sim, enviar agora" in confirm and "<strong>1</strong> mensagem" in confirm
    assert smtp_server.received == []                                   # GET sends nothing
    response = staff.post("/previa/enviar")
    assert response.status_code == 302 and response.headers["Location"].endswith("/envios/")
    state = app.extensions["send_now"]
    state.thread.join(30)
    assert not state.running and state.error == ""
    assert [r.rcpt_tos for r in smtp_server.received] == [["fin@rapida.com.br"]]
    html = staff.get("/envios/").get_data(as_text=True)
    assert "navegador" in html and "concluído" in html
    with app.app_context():
        run = db.session.scalar(db.select(Run))
        assert run.trigger == "browser" and run.sent_count == 1
    # A second "Enviar agora" the same day sends nothing more.
    staff.post("/previa/enviar")
    app.extensions["send_now"].thread.join(30)
    assert len(smtp_server.received) == 1


def test_send_now_without_smtp_is_refused(app, staff):
    html = staff.post("/previa/enviar", follow_redirects=True).get_data(as_text=True)
    assert "Envio não iniciado" in html and "SMTP não está configurado" in html
    assert "send_now" not in app.extensions


def test_resend_failed_line(app, staff, station, smtp_server):
    smtp_server.script("fin@rapida.com.br", "550 5.1.1 Caixa postal inexistente", times=1)
    staff.post("/previa/enviar")
    app.extensions["send_now"].thread.join(30)
    with app.app_context():
        line = db.session.scalar(db.select(OutboxLine).where(OutboxLine.status == "failed_permanent"))
        line_id, run_id = line.id, line.run_id
    html = staff.get(f"/envios/{run_id}").get_data(as_text=True)
    assert "falha permanente" in html and "550" in html and "Caixa postal inexistente" in html
    assert "Sim, reenviar" in staff.get(f"/envios/linha/{line_id}/reenviar").get_data(as_text=True)
    html = staff.post(f"/envios/linha/{line_id}/reenviar", follow_redirects=True).get_data(as_text=True)
    assert "Lembrete reenviado para fin@rapida.com.br" in html
    assert len(smtp_server.received) == 1
    with app.app_context():
        assert db.session.get(OutboxLine, line_id).status == "sent"
    again = staff.post(f"/envios/linha/{line_id}/reenviar", follow_redirects=True).get_data(as_text=True)
    assert "Só é possível reenviar linhas com falha" in again


def test_policies_csv_round_trip_in_the_browser(app, staff, station):
    exported = staff.get("/importar/politicas.csv")
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    text = exported.get_data(as_text=True)
    assert text.splitlines()[0] == "tipo;codigo;empresa;conta;enviar_email;dias_tolerancia"
    assert "cliente;C001;;;sim;" in text
    new = text.replace("cliente;C001;;;sim;", "cliente;C001;;;nao;4")
    response = staff.post("/importar/politicas", data={
        "politicas-file": (io.BytesIO(new.encode()), "politicas.csv")}, content_type="multipart/form-data")
    assert response.status_code == 200 and "Políticas importadas" in response.get_data(as_text=True)
    with app.app_context():
        c = db.session.get(Customer, station["C001"])
        assert (c.send_email, c.tolerance_days) == ("nao", 4)
    bad = staff.post("/importar/politicas", data={
        "politicas-file": (io.BytesIO(b"tipo;codigo;empresa;conta;enviar_email;dias_tolerancia\n"
                                      b"cliente;ZZZ;;;talvez;-1\n"), "ruim.csv")},
        content_type="multipart/form-data")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Arquivo recusado" in html and "ZZZ" in html
    with app.app_context():
        assert db.session.get(Customer, station["C001"]).send_email == "nao"


def test_preview_works_without_smtp(app, staff):
    with app.app_context():
        import_invoices(db.session, io.BytesIO(erp_csv(date.today())))
        complete_creditors(db.session)
        customer_id = db.session.scalar(db.select(Customer.id).where(Customer.code == "C002"))
    staff.post(f"/clientes/{customer_id}", data={"send_email": "sim"})
    html = staff.get("/previa/").get_data(as_text=True)
    assert "jose@silva.com.br" in html and "SMTP ainda não está configurado" in html
    assert "Sim, enviar agora" not in staff.get("/previa/enviar").get_data(as_text=True)


def test_send_now_while_another_run_holds_the_lock(app, staff, station, smtp_server):
    from datetime import datetime

    from dunning.runlock import acquire
    with app.app_context():
        lease = acquire(db.session, datetime.now())        # "the scheduler" is running
        try:
            html = staff.post("/previa/enviar", follow_redirects=True).get_data(as_text=True)
        finally:
            lease.release()
    # Refused before any thread starts (issue 10 item 17): one message, no "Envio iniciado".
    assert "Envio não iniciado: já há um envio em andamento" in html
    assert "Envio iniciado" not in html and "send_now" not in app.extensions
    assert smtp_server.received == []
