"""Manual re-send (issue 10 item 9) against a real SMTP server: it goes to the address on file
now, and the confirmation page names exactly the addresses it will use."""
from __future__ import annotations

from sqlalchemy import select

from dunning.delivery import run
from models import Customer, OutboxLine
from smtpserver import configure_station
from test_delivery import AS_OF, FAST, lines, load_customers


def test_a_resend_after_a_corrected_address_goes_to_the_new_address(app, session, smtp_server,
                                                                    staff):
    load_customers(session, 2)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c2@cliente.example.com", "550 5.1.1 Caixa postal inexistente", times=9)
    run(session, AS_OF, app.instance_path, options=FAST)
    line = lines(session)["C02"]
    assert line.status == "failed_permanent"
    customer = session.scalar(select(Customer).where(Customer.code == "C02"))
    customer.email_addresses = "novo@cliente.example.com, Financeiro@Cliente.example.com"
    session.commit()

    page = staff.get(f"/envios/linha/{line.id}/reenviar").get_data(as_text=True)
    assert "novo@cliente.example.com, Financeiro@Cliente.example.com</strong>" in page
    assert "O lembrete original foi para c2@cliente.example.com" in page
    response = staff.post(f"/envios/linha/{line.id}/reenviar", follow_redirects=True)

    assert "Lembrete reenviado para novo@cliente.example.com" in response.get_data(as_text=True)
    received = smtp_server.received[-1]
    assert received.rcpt_tos == ["novo@cliente.example.com", "Financeiro@Cliente.example.com"]
    message = received.message
    assert "c2@" not in message["To"] and "novo@cliente.example.com" in message["To"]
    assert message["Message-ID"] == line.message_id  # the same reminder
    assert message["Subject"] == line.subject
    session.expire_all()
    line = session.get(OutboxLine, line.id)
    assert (line.status, line.recipients) == (
        "sent", "novo@cliente.example.com, Financeiro@Cliente.example.com")
    assert not smtp_server.messages_to("c2@cliente.example.com")


def test_a_resend_for_a_customer_without_a_valid_address_offers_nothing(app, session,
                                                                        smtp_server, staff):
    load_customers(session, 1)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c1@cliente.example.com", "550 5.1.1 Caixa postal inexistente", times=9)
    run(session, AS_OF, app.instance_path, options=FAST)
    line = lines(session)["C01"]
    session.scalar(select(Customer)).email_addresses = "sem-arroba"
    session.commit()

    page = staff.get(f"/envios/linha/{line.id}/reenviar").get_data(as_text=True)
    assert "não tem nenhum e-mail válido" in page and "Sim, reenviar" not in page
    response = staff.post(f"/envios/linha/{line.id}/reenviar", follow_redirects=True)
    assert "não tem nenhum e-mail válido" in response.get_data(as_text=True)
    assert len(smtp_server.received) == 0
