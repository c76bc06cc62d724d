"""The daily run against a real SMTP server: outbox, at most once, retries, lock, exit codes."""
from __future__ import annotations

import io
import socket
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dunning.delivery import CannotRun, DeliveryOptions, run
from dunning.manual import resend_line
from dunning.importing import import_invoices
from dunning.runlock import acquire
from dunning.smtp import Throttle
from models import Company, Customer, OutboxLine, Run, RunLock
from smtpserver import configure_station, free_port
from stations import complete_creditors

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 27)
FAST = DeliveryOptions(attempts=3, backoff=0.01)
HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;email;documento;parcela;vencimento;saldo;"
          "linha_digitavel;pix;link_pagamento\n")


def load_customers(session, count: int = 3, extra_rows: str = "") -> list[str]:
    """``count`` customers C01.. with one overdue invoice each, all enabled; their addresses."""
    rows = [f"1;Auto Posto Teste Ltda;11.222.333/0001-81;C{n:02d};Cliente {n};c{n}@cliente.example.com;"
            f"F{n};1;01/10/2026;1.234,5{n % 10};34191.79001 01043.510047;pixcode{n};"
            f"https://pagar.example.com/F{n}\n" for n in range(1, count + 1)]
    report = import_invoices(session, io.BytesIO((HEADER + "".join(rows) + extra_rows).encode()))
    assert report.rows
    for customer in session.scalars(select(Customer)):
        customer.send_email = "sim"
    session.commit()
    complete_creditors(session)
    return [f"c{n}@cliente.example.com" for n in range(1, count + 1)]


def lines(session) -> dict[str, OutboxLine]:
    """The non-skipped outbox lines by customer code."""
    session.expire_all()
    return {line.customer.code: line for line in session.scalars(
        select(OutboxLine).where(OutboxLine.status != "skipped"))}


def counts(server, addresses) -> list[int]:
    return [len(server.messages_to(a)) for a in addresses]


@pytest.fixture
def station(app, session, smtp_server):
    """Three due customers and the station pointed at the plain test server."""
    addresses = load_customers(session)
    configure_station(session, smtp_server, app.instance_path, reply_to="financeiro@posto.example.com",
                      bcc="copia@posto.example.com")
    return addresses


def test_one_message_per_due_customer_with_the_right_content(app, session, smtp_server, station):
    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent, report.failed) == (0, 3, 0)
    assert counts(smtp_server, station) == [1, 1, 1]
    received = smtp_server.received[0]
    assert received.mail_from == "cobranca@posto.example.com"
    assert received.rcpt_tos == ["c1@cliente.example.com", "copia@posto.example.com"]
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    text_part, html_part = msg.get_payload()
    assert (text_part.get_content_type(), html_part.get_content_type()) == ("text/plain", "text/html")
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    assert msg["Subject"] == "Pendências financeiras em aberto - Auto Posto Teste Ltda"
    assert msg["From"] == "Auto Posto Teste <cobranca@posto.example.com>"
    assert msg["To"] == "Cliente 1 <c1@cliente.example.com>"
    assert msg["Reply-To"] == "financeiro@posto.example.com"
    assert "Bcc" not in msg  # the station's copy travels in the envelope only
    assert msg["Message-ID"].endswith("@posto.example.com>") and msg["Date"]
    text, html = text_part.get_content(), html_part.get_content()
    for body in (text, html):
        assert "R$ 1.234,51" in body and "01/10/2026" in body and "57 dias em atraso" in body
        assert "11.222.333/0001-81" in body and "Auto Posto Teste Ltda" in body
        assert "34191.79001 01043.510047" in body and "pixcode1" in body
        assert "https://pagar.example.com/F1" in body
        assert "Se você já efetuou o pagamento, por favor desconsidere esta mensagem." in body
        assert "27/11/2026" in body
    assert "<table" in html

    by_customer = lines(session)
    assert {line.status for line in by_customer.values()} == {"sent"}
    assert by_customer["C01"].message_id == msg["Message-ID"]
    assert by_customer["C01"].smtp_code == 250 and by_customer["C01"].message == ""
    record = session.get(Run, report.run_id)
    assert (record.status, record.sent_count, record.failed_count) == ("ok", 3, 0)
    log = (Path(app.instance_path) / "logs" / "envios.log").read_text(encoding="utf-8")
    assert len(log.splitlines()) == 3 and "cliente=C02 status=sent" in log


def test_second_run_on_the_same_date_sends_nothing(app, session, smtp_server, station):
    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 3
    again = run(session, AS_OF, app.instance_path, options=FAST)

    assert (again.exit_code, again.sent, again.skipped) == (0, 0, 3)
    assert {line.reason for line in again.lines} == {"recently_sent"}
    assert counts(smtp_server, station) == [1, 1, 1]


def test_skipped_customers_are_recorded_with_their_reason(app, session, smtp_server):
    load_customers(session, 2, extra_rows="1;;;C09;Sem Email;;F9;1;01/10/2026;10,00;;;\n")
    for customer in session.scalars(select(Customer)):
        customer.send_email = "sim"
    configure_station(session, smtp_server, app.instance_path)

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.sent, report.skipped) == (2, 1)
    skipped = session.scalars(select(OutboxLine).where(OutboxLine.status == "skipped")).all()
    assert [(s.customer.code, s.skip_reason) for s in skipped] == [("C09", "no_email")]


def test_451_is_retried_then_left_for_the_next_run_without_duplicates(app, session, smtp_server,
                                                                       station):
    smtp_server.script("c2@cliente.example.com", "451 4.7.1 Tente mais tarde", times=3)

    first = run(session, AS_OF, app.instance_path, options=FAST)

    assert (first.exit_code, first.sent, first.failed) == (1, 2, 1)
    line = lines(session)["C02"]
    assert (line.status, line.attempts, line.smtp_code) == ("failed_temporary", 3, 451)
    assert "Tente mais tarde" in line.smtp_reply
    second = run(session, AS_OF, app.instance_path, options=FAST)
    assert (second.exit_code, second.sent) == (0, 1)
    assert lines(session)["C02"].status == "sent" and lines(session)["C02"].attempts == 4
    assert counts(smtp_server, station) == [1, 1, 1]


def test_a_451_once_is_retried_within_the_run(app, session, smtp_server, station):
    smtp_server.script("c1@cliente.example.com", "451 4.3.0 Ocupado", times=1, stage="data")
    report = run(session, AS_OF, app.instance_path, options=FAST)
    assert (report.exit_code, report.sent) == (0, 3)
    assert lines(session)["C01"].attempts == 2
    assert counts(smtp_server, station) == [1, 1, 1]


def test_550_for_one_recipient_others_still_sent_exit_1(app, session, smtp_server, station):
    smtp_server.script("c2@cliente.example.com", "550 5.1.1 Caixa postal inexistente", times=9)

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent, report.failed) == (1, 2, 1)
    line = lines(session)["C02"]
    assert (line.status, line.attempts, line.smtp_code) == ("failed_permanent", 1, 550)
    assert "inexistente" in line.smtp_reply and line.message  # kept for a manual re-send
    again = run(session, AS_OF, app.instance_path, options=FAST)  # not retried automatically
    assert (again.sent, [l.reason for l in again.lines if l.customer == "C02"]) == (
        0, ["failed_permanent"])
    assert counts(smtp_server, station) == [1, 0, 1]


def test_421_mid_batch_reconnects_and_finishes(app, session, smtp_server, station):
    smtp_server.script("c2@cliente.example.com", "421 4.4.2 Encerrando a conexão", times=1)

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent) == (0, 3)
    assert smtp_server.connections == 2
    assert counts(smtp_server, station) == [1, 1, 1]


def test_connection_lost_after_the_message_is_unknown_not_resent(app, session, smtp_server,
                                                                 station):
    smtp_server.script("c1@cliente.example.com", "DROP", times=1, stage="data")

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent) == (1, 2)
    line = lines(session)["C01"]
    assert (line.status, line.attempts) == ("unknown", 1)
    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 0


def test_starttls_and_auth(app, session, smtp_tls_server):
    addresses = load_customers(session, 2)
    configure_station(session, smtp_tls_server, app.instance_path)

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent) == (0, 2)
    assert counts(smtp_tls_server, addresses) == [1, 1]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # TLS from connect
def test_implicit_tls_and_auth(app, session, tmp_path, monkeypatch):
    from smtpserver import SmtpServer
    server = SmtpServer(tmp_path, implicit_tls=True).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
        addresses = load_customers(session, 1)
        configure_station(session, server, app.instance_path)
        assert run(session, AS_OF, app.instance_path, options=FAST).sent == 1
        assert counts(server, addresses) == [1]
    finally:
        server.stop()


def test_an_untrusted_certificate_stops_the_run(app, session, smtp_tls_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    load_customers(session, 1)
    configure_station(session, smtp_tls_server, app.instance_path)
    report = run(session, AS_OF, app.instance_path, options=FAST)
    assert (report.status, report.exit_code) == ("stopped", 2)
    assert "TLS/SSL" in report.message and "certificate" in report.message
    assert smtp_tls_server.received == []


def test_535_stops_the_run_at_once(app, session, smtp_tls_server):
    addresses = load_customers(session, 2)
    configure_station(session, smtp_tls_server, app.instance_path, password="errada")

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.status, report.exit_code, report.sent) == ("stopped", 2, 0)
    assert "recusou o usuário e a senha" in report.message and "535" in report.message
    assert smtp_tls_server.connections == 1  # no retry that could lock the account
    assert {line.status for line in lines(session).values()} == {"pending"}
    configure_station(session, smtp_tls_server, app.instance_path)
    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 2  # resumed
    assert counts(smtp_tls_server, addresses) == [1, 1]


def test_server_down_clear_message_and_exit_2(app, session, smtp_server, station):
    configure_station(session, smtp_server, app.instance_path, smtp_port=free_port())

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.status, report.exit_code) == ("stopped", 2)
    assert "Servidor SMTP inacessível" in report.message
    assert {line.status for line in lines(session).values()} == {"pending"}


def test_no_smtp_settings_cannot_run(app, session):
    load_customers(session, 1)
    with pytest.raises(CannotRun, match="não está configurado"):
        run(session, AS_OF, app.instance_path, options=FAST)


def test_crlf_in_names_cannot_reach_a_header(app, session, smtp_server):
    load_customers(session, 1)
    customer = session.scalar(select(Customer))
    customer.name = "Cliente\r\nBcc: vitima@example.com\r\nSubject: oi"
    session.scalar(select(Company)).name = "Posto\r\nX-Injetado: sim"
    configure_station(session, smtp_server, app.instance_path, sender_name="Posto\nBcc: b@x.com")

    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 1

    received = smtp_server.received[0]
    assert received.rcpt_tos == ["c1@cliente.example.com"]
    msg = received.message
    assert "Bcc" not in msg and "X-Injetado" not in msg and len(msg.get_all("Subject")) == 1
    assert msg["Subject"] == "Pendências financeiras em aberto - Posto X-Injetado: sim"
    headers = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc" not in headers and b"\nX-Injetado" not in headers


def test_resend_line_sends_an_unknown_line_again_with_the_same_message_id(
        app, session, smtp_server, station):
    smtp_server.script("c1@cliente.example.com", "DROP", times=1, stage="data")
    run(session, AS_OF, app.instance_path, options=FAST)
    line = lines(session)["C01"]
    assert line.status == "unknown"

    result = resend_line(session, line.id, app.instance_path, options=FAST)

    assert result.status == "sent"
    assert [m["Message-ID"] for m in smtp_server.messages_to(station[0])] == [line.message_id]
    with pytest.raises(ValueError):
        resend_line(session, line.id, app.instance_path, options=FAST)  # sent: not again


def test_lines_left_sending_by_a_dead_run_become_unknown(app, session, smtp_server, station):
    run(session, AS_OF - timedelta(days=8), app.instance_path, options=FAST)
    line = lines(session)["C03"]
    line.status = "sending"  # as a run killed between its two commits leaves it
    session.commit()

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert report.marked_unknown == 1
    session.expire_all()
    assert session.get(OutboxLine, line.id).status == "unknown"


def test_a_live_lock_blocks_a_second_run(app, session, smtp_server, station):
    lease = acquire(session, datetime.now())  # this process, alive: another run in progress
    try:
        with pytest.raises(CannotRun, match="Outro envio está em andamento"):
            run(session, AS_OF, app.instance_path, options=FAST)
    finally:
        lease.release()
    assert smtp_server.received == []


def test_a_lock_of_a_dead_process_or_with_a_stale_heartbeat_is_taken_over(app, session):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = datetime.now()
    session.add(RunLock(id=1, token="abc", pid=dead.pid, host=socket.gethostname(),
                        acquired_at=now, heartbeat_at=now))
    session.commit()
    lease = acquire(session, now)
    assert lease.taken_over.pid == dead.pid
    lease.release()

    session.execute(RunLock.__table__.update().values(
        token="def", pid=1, host="outro-pc", heartbeat_at=now - timedelta(hours=1)))
    session.commit()
    acquire(session, now).release()
    session.execute(RunLock.__table__.update().values(token="ghi", pid=1, host="outro-pc",
                                                      heartbeat_at=now))
    session.commit()
    with pytest.raises(Exception, match="Outro envio"):
        acquire(session, now)


def test_throttle_caps_messages_per_minute():
    clock = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    throttle = Throttle(2, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        throttle.wait()
        clock[0] += 1
    assert waits == [58.0, 58.0]


def test_a_template_failing_on_real_data_fails_that_line_and_the_run_goes_on(
        app, session, smtp_server, station):
    from models import StationSettings
    StationSettings.load(session).text_template = "{{ 1 // (reminder.open_cents - 123451) }}"
    session.commit()

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.status, report.exit_code, report.sent) == ("failed", 1, 2)
    failed = lines(session)["C01"]
    assert failed.status == "failed_temporary" and "by zero" in failed.smtp_reply
    assert "Erro ao montar a mensagem" in failed.smtp_reply
    assert {lines(session)[c].status for c in ("C02", "C03")} == {"sent"}


def test_the_per_minute_cap_pauses_the_batch(app, session, smtp_server, station):
    configure_station(session, smtp_server, app.instance_path, max_per_minute=2)
    pauses = []
    options = DeliveryOptions(attempts=3, backoff=0.01, sleep=pauses.append)

    report = run(session, AS_OF, app.instance_path, options=options)

    assert report.sent == 3
    assert len(pauses) == 1 and 59 < pauses[0] <= 60  # the third message waits for the window


def test_a_lease_taken_over_stops_the_holder(app, session):
    from dunning.runlock import LockLost
    now = datetime.now()
    lease = acquire(session, now)
    assert lease.due(now + timedelta(seconds=31)) and not lease.due(now)
    session.execute(RunLock.__table__.update().values(token="someone-else"))
    session.commit()
    with pytest.raises(LockLost):
        lease.heartbeat(now + timedelta(seconds=31))


def test_lines_starting_with_a_dot_arrive_intact(app, session, smtp_server, station):
    from models import StationSettings
    StationSettings.load(session).text_template = ".\n.linha com ponto\n..dois\nfim"
    session.commit()
    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 3
    text = smtp_server.messages_to(station[0])[0].get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == ".\n.linha com ponto\n..dois\nfim"


def test_server_down_when_retrying_a_failed_line_stops_with_exit_2(app, session, smtp_server,
                                                                   station):
    smtp_server.script("c1@cliente.example.com", "451 4.7.1 Tente mais tarde", times=3)
    assert run(session, AS_OF, app.instance_path, options=FAST).exit_code == 1
    configure_station(session, smtp_server, app.instance_path, smtp_port=free_port())

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.status, report.exit_code) == ("stopped", 2)
    assert "Servidor SMTP inacessível" in report.message
    assert lines(session)["C01"].status == "failed_temporary"  # still retried by the next run


def test_non_ascii_local_parts_are_invalid_addresses_not_daily_failures(app, session,
                                                                         smtp_server):
    """Issue 10 item 12: accents before the @ need SMTPUTF8, which the sender does not use: such
    an address is `invalid_email` (skipped, or left out of the message), never a daily failure;
    a non-ASCII domain goes out in IDNA form."""
    load_customers(session, 3)
    customers = {c.code: c for c in session.scalars(select(Customer))}
    customers["C01"].email_addresses = "joão@cliente.example.com"
    customers["C02"].email_addresses = "financeiro@açaí.example.com, joão@cliente.example.com"
    configure_station(session, smtp_server, app.instance_path)

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.exit_code, report.sent, report.failed) == (0, 2, 0)
    assert [(l.customer, l.reason) for l in report.lines if l.status == "skipped"] == [
        ("C01", "invalid_email")]
    by_customer = lines(session)
    assert "C01" not in by_customer
    assert by_customer["C02"].recipients == "financeiro@açaí.example.com"
    received = smtp_server.messages_to("financeiro@xn--aa-4iaz.example.com")
    assert len(received) == 1 and "xn--aa-4iaz" in received[0]["To"]
    assert not smtp_server.messages_to("joão@cliente.example.com")


def test_a_sender_address_smtp_cannot_carry_cannot_run(
        app, session, smtp_server, station):
    configure_station(session, smtp_server, app.instance_path,
                      sender_address="cobrança@posto.example.com", reply_to="respostas@pôsto.com")
    with pytest.raises(CannotRun, match="remetente"):
        run(session, AS_OF, app.instance_path, options=FAST)
    assert lines(session) == {} and smtp_server.received == []
