"""How a run's outcome is reported (issue 10 items 10, 12, 14, 15), against a real SMTP server:
partial refusals, an unwritable log, exit codes for `unknown` lines, counts taken from the lines."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dunning.delivery import run
from models import Customer, OutboxLine, Run
from smtpserver import configure_station
from test_delivery import AS_OF, FAST, counts, lines, load_customers


def test_a_message_refused_for_some_recipients_is_a_partial_delivery(app, session, smtp_server,
                                                                     staff):
    """Item 12: accepted for one address and refused for the other: not a plain `sent`."""
    load_customers(session, 2)
    customer = session.scalar(select(Customer).where(Customer.code == "C02"))
    customer.email_addresses = "c2@cliente.example.com, errado@cliente.example.com"
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("errado@cliente.example.com", "550 5.1.1 Caixa postal inexistente")

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.sent, report.partial, report.failed, report.exit_code) == (2, 1, 0, 1)
    line = lines(session)["C02"]
    assert line.status == "sent"
    assert line.refused == "errado@cliente.example.com: 550 5.1.1 Caixa postal inexistente"
    assert "recusad" not in line.smtp_reply
    assert counts(smtp_server, ["c2@cliente.example.com", "errado@cliente.example.com"]) == [1, 0]
    record = session.get(Run, report.run_id)
    assert (record.sent_count, record.partial_count, record.status) == (2, 1, "ok")

    page = staff.get(f"/envios/{report.run_id}").get_data(as_text=True)
    assert "enviado em parte" in page and "errado@cliente.example.com: 550" in page
    failures = staff.get(f"/envios/{report.run_id}?situacao=failed").get_data(as_text=True)
    assert "C02" in failures and "C01" not in failures
    painel = staff.get("/").get_data(as_text=True)
    assert "errado@cliente.example.com: 550" in painel and "Nenhuma falha" not in painel
    assert "1 só para parte dos destinatários" in painel


def _break_log(instance: Path, how: str) -> None:
    logs = instance / "logs"
    if how == "folder-in-place-of-the-file":
        (logs / "envios.log").mkdir(parents=True)
    elif how == "file-in-place-of-the-folder":
        instance.mkdir(parents=True, exist_ok=True)
        logs.write_text("não é uma pasta")
    elif how == "disk-full":
        logs.mkdir(parents=True)
        os.symlink("/dev/full", logs / "envios.log")


@pytest.mark.parametrize("how", ["folder-in-place-of-the-file", "file-in-place-of-the-folder",
                                 "disk-full"])
def test_an_unwritable_log_warns_once_and_everything_is_sent(app, session, smtp_server, how,
                                                              runner):
    """Item 10: the log is a copy; losing it must not stop the run."""
    addresses = load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    _break_log(Path(app.instance_path), how)
    app.config.update(SMTP_BACKOFF=0.01)

    result = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])

    assert result.exit_code == 0, result.output
    assert counts(smtp_server, addresses) == [1, 1, 1]
    assert result.output.count("não foi possível gravar o registro de envios") == 1
    record = session.scalar(select(Run))
    assert record.sent_count == 3
    assert record.message.count("não foi possível gravar o registro de envios") == 1


def test_a_line_found_unknown_after_a_dead_run_makes_the_run_exit_1(app, session, smtp_server,
                                                                   runner):
    """Item 14: a run that leaves a line `unknown` exits 1 (here: found after a crash)."""
    load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    run(session, AS_OF - timedelta(days=8), app.instance_path, options=FAST)
    line = lines(session)["C03"]
    line.status = "sending"  # as a run killed between its two commits leaves it
    session.commit()

    result = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])

    assert result.exit_code == 1, result.output
    assert "situação desconhecida" in result.output


def test_a_line_unknown_after_a_lost_connection_makes_the_run_exit_1(app, session, smtp_server,
                                                                    runner):
    """Item 14: the connection died after the data was sent: `unknown`, exit 1."""
    load_customers(session, 1)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("c1@cliente.example.com", "DROP", times=1, stage="data")
    app.config.update(SMTP_BACKOFF=0.01)

    result = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])

    assert result.exit_code == 1, result.output
    assert "0 enviados, 0 falhas, 1 em situação incerta" in result.output


def test_a_run_stopped_by_a_wrong_password_shows_pending_not_failures(app, session, staff,
                                                                      smtp_tls_server):
    """Item 15: lines never tried are pending, everywhere: run, Envios, Painel."""
    load_customers(session, 3)
    configure_station(session, smtp_tls_server, app.instance_path, password="errada")

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert (report.sent, report.failed, report.pending, report.exit_code) == (0, 0, 3, 2)
    record = session.get(Run, report.run_id)
    assert (record.sent_count, record.failed_count, record.pending_count) == (0, 0, 3)
    page = staff.get(f"/envios/{record.id}").get_data(as_text=True)
    assert "0 enviados, 0 falhas, 3 pendentes (não tentados)" in page
    painel = staff.get("/").get_data(as_text=True)
    assert "3 pendentes (não tentados)" in painel and "3 falha" not in painel
    listing = staff.get("/envios/").get_data(as_text=True)
    assert "3 pendente(s)" in listing


def test_a_running_or_killed_run_is_counted_live_from_its_lines(app, session, staff,
                                                                smtp_server):
    """Item 15: a run still marked running (going, or killed before writing its counts) shows
    what its lines say; the next run settles it with the same figures."""
    load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    report = run(session, AS_OF - timedelta(days=8), app.instance_path, options=FAST)
    session.execute(update(Run).where(Run.id == report.run_id).values(  # as a kill leaves it
        status="running", finished_at=None, sent_count=0, failed_count=0, skipped_count=0))
    session.execute(update(OutboxLine).where(OutboxLine.customer_id == lines(session)["C03"]
                                             .customer_id).values(status="pending"))
    session.commit()

    page = staff.get(f"/envios/{report.run_id}").get_data(as_text=True)
    assert "2 enviados, 0 falhas, 1 pendentes (não tentados)" in page
    painel = staff.get("/").get_data(as_text=True)
    assert "2 enviados, 0 falhas, 1 pendentes" in painel

    run(session, AS_OF, app.instance_path, options=FAST)
    session.expire_all()
    record = session.get(Run, report.run_id)
    assert (record.status, record.sent_count, record.pending_count) == ("interrupted", 2, 1)


def test_an_address_with_accents_before_the_at_is_invalid_from_the_import_on(app, session,
                                                                             staff):
    """Item 12: one verdict everywhere: import warning, preview skip, `invalid_email`."""
    import io

    from dunning.importing import import_invoices
    from dunning.rules import plan
    from test_delivery import HEADER, complete_creditors
    report = import_invoices(session, io.BytesIO((
        HEADER + "1;Posto;11.222.333/0001-81;C01;Cliente 1;joão@cliente.example.com;F1;1;"
                 "01/10/2026;10,00;;;\n").encode()))
    assert [str(w) for w in report.warnings] == [
        "linha 2, coluna email: e-mail com acentos ou caracteres especiais antes do @, que o "
        "envio não usa (importado; o cliente não receberá nesse endereço) "
        "'joão@cliente.example.com'"]
    session.scalar(select(Customer)).send_email = "sim"
    session.commit()
    complete_creditors(session)
    assert [s.reason for s in plan(session, AS_OF).skipped] == ["invalid_email"]
    page = staff.get(f"/previa/?data={AS_OF.isoformat()}").get_data(as_text=True)
    assert "e-mail inválido" in page
