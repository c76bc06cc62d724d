"""The sending commands end to end: flask CLI, `python app.py --email_pendencia_financeira` in a real
process (killed with SIGKILL mid-batch, or racing another run), configure-smtp, send-test-email."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from dunning.crypto import KEY_FILE, decrypt_secret
from dunning.delivery import run
from models import OutboxLine, StationSettings
from smtpserver import PASSWORD, USER, configure_station
from test_delivery import AS_OF, FAST, counts, lines, load_customers

ROOT = Path(__file__).resolve().parent.parent
DATE = ["--date", AS_OF.isoformat()]


@pytest.fixture
def fast_app(app):
    app.config.update(SMTP_BACKOFF=0.01)
    return app


def start_job(db_url: str, instance_path: str) -> subprocess.Popen:
    """The scheduler's command line, in a process of its own."""
    env = {**os.environ, "DATABASE_URL": db_url, "APPLIANCE_INSTANCE": instance_path}
    return subprocess.Popen([sys.executable, "app.py", "--email_pendencia_financeira", *DATE],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_cli_run_summary_json_and_exit_codes(fast_app, runner, session, smtp_server):
    addresses = load_customers(session, 3)
    result = runner.invoke(args=["email-pendencia-financeira", *DATE])
    assert result.exit_code == 2 and "SMTP não está configurado" in result.output

    configure_station(session, smtp_server, fast_app.instance_path)
    smtp_server.script("c3@cliente.example.com", "550 5.1.1 Usuário desconhecido", times=5)
    result = runner.invoke(args=["email-pendencia-financeira", *DATE])

    assert result.exit_code == 1, result.output
    assert "2 enviados, 1 falhas, 0 ignorados" in result.output
    assert ("C03 c3@cliente.example.com: recusado pelo servidor — o endereço do destinatário não "
            "existe nesse domínio (confira o e-mail do cliente); não adianta tentar de novo sem "
            "corrigir (550 5.1.1 Usuário desconhecido)") in result.output
    again = runner.invoke(args=["email-pendencia-financeira", *DATE, "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.output)
    assert (data["date"], data["sent"], data["skipped"]) == ("2026-11-27", 0, 3)
    assert {line["reason"] for line in data["lines"]} == {"recently_sent", "failed_permanent"}
    assert counts(smtp_server, addresses) == [1, 1, 0]


def test_cli_unknown_customer_and_bad_date_exit_2(fast_app, runner, session, smtp_server):
    load_customers(session, 1)
    configure_station(session, smtp_server, fast_app.instance_path)
    assert runner.invoke(args=["email-pendencia-financeira", "--customer", "X9"]).exit_code == 2
    assert runner.invoke(args=["email-pendencia-financeira", "--date", "28/11/2026"]).exit_code == 2
    result = runner.invoke(args=["email-pendencia-financeira", *DATE, "--customer", "C01"])
    assert result.exit_code == 0 and "1 enviados" in result.output


def test_configure_smtp_then_send_test_email(app, runner, session, smtp_tls_server):
    result = runner.invoke(args=[
        "configure-smtp", "--server", smtp_tls_server.host, "--port", str(smtp_tls_server.port),
        "--security", "starttls", "--user", USER, "--password-stdin",
        "--sender", "cobranca@posto.example.com", "--sender-name", "Auto Posto"],
        input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "criptografada" in result.output
    settings = StationSettings.load(session)
    assert PASSWORD not in settings.smtp_password_encrypted
    assert decrypt_secret(app.instance_path, settings.smtp_password_encrypted) == PASSWORD
    if sys.platform != "win32":
        assert (Path(app.instance_path) / KEY_FILE).stat().st_mode & 0o077 == 0

    result = runner.invoke(args=["send-test-email", "eu@posto.example.com"])
    assert result.exit_code == 0, result.output
    assert [m["Subject"] for m in smtp_tls_server.messages_to("eu@posto.example.com")] == [
        "Teste de envio de e-mail"]
    assert runner.invoke(args=["send-test-email", "nao-e-email"]).exit_code == 2


def test_configure_smtp_rejects_a_bad_sender(runner, session):
    result = runner.invoke(args=["configure-smtp", "--server", "smtp.example.com", "--port", "587",
                                 "--security", "starttls", "--sender", "sem-arroba"])
    assert result.exit_code == 2 and "--sender" in result.output
    result = runner.invoke(args=["configure-smtp", "--server", "smtp.example.com", "--port", "587",
                                 "--security", "starttls", "--sender", "cobrança@posto.com.br"])
    assert result.exit_code == 2 and "sem acentos" in result.output
    assert not StationSettings.load(session).smtp_configured


def test_send_test_email_reports_a_refusal(app, runner, session, smtp_server):
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.script("eu@posto.example.com", "550 5.7.1 Relay negado", times=1)
    result = runner.invoke(args=["send-test-email", "eu@posto.example.com"])
    assert result.exit_code == 1 and "550" in result.output and "Relay negado" in result.output


def test_python_app_py_entry_point_in_a_real_process(app, session, db_url, smtp_server):
    addresses = load_customers(session, 2)
    configure_station(session, smtp_server, app.instance_path)

    proc = start_job(db_url, app.instance_path)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 0, err
    assert "2 enviados, 0 falhas, 0 ignorados" in out
    assert counts(smtp_server, addresses) == [1, 1]
    log = Path(app.instance_path) / "logs" / "envios.log"
    assert len(log.read_text(encoding="utf-8").splitlines()) == 2


def test_sigkill_mid_batch_next_run_marks_unknown_and_sends_the_rest(app, session, db_url,
                                                                      smtp_server):
    addresses = load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    smtp_server.delay = 1.0

    proc = start_job(db_url, app.instance_path)
    smtp_server.wait_for(lambda s: s.handler.data_started >= 2, timeout=180)  # C02 on the wire
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert lines(session)["C02"].status == "sending"
    smtp_server.delay = 0

    report = run(session, AS_OF, app.instance_path, options=FAST)

    assert report.marked_unknown == 1 and report.sent == 1
    by_customer = lines(session)
    assert {c: by_customer[c].status for c in ("C01", "C02", "C03")} == {
        "C01": "sent", "C02": "unknown", "C03": "sent"}
    smtp_server.wait_for(lambda s: s.handler.data_started >= 3)
    c1, c2, c3 = counts(smtp_server, addresses)
    assert (c1, c3) == (1, 1) and c2 <= 1  # C02 may have arrived: never twice
    assert run(session, AS_OF, app.instance_path, options=FAST).sent == 0


def test_two_runs_at_once_the_second_exits_2_and_sends_nothing(fast_app, runner, session, db_url,
                                                               smtp_server):
    addresses = load_customers(session, 3)
    configure_station(session, smtp_server, fast_app.instance_path)
    smtp_server.delay = 0.4

    proc = start_job(db_url, fast_app.instance_path)
    smtp_server.wait_for(lambda s: s.handler.data_started >= 1, timeout=180)
    second = runner.invoke(args=["email-pendencia-financeira", *DATE])
    out, err = proc.communicate(timeout=180)

    assert second.exit_code == 2 and "Outro envio está em andamento" in second.output
    assert proc.returncode == 0, err
    assert counts(smtp_server, addresses) == [1, 1, 1]
    session.expire_all()
    assert len(session.scalars(select(OutboxLine).where(OutboxLine.status == "sent")).all()) == 3


def test_database_unreachable_exit_2(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.db",
           "APPLIANCE_INSTANCE": str(tmp_path / "instance")}
    proc = subprocess.run([sys.executable, "app.py", "--email_pendencia_financeira"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "não foi possível abrir o banco de dados" in proc.stderr
    assert "Traceback" not in proc.stderr and "sqlalche.me" not in proc.stderr
