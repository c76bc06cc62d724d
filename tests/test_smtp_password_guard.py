"""The write-only SMTP password cannot be sent elsewhere (issue 10, item 5): changing where it
goes needs it typed again, and it never crosses a network in clear text (browser and CLI)."""
from __future__ import annotations

import pytest

from dunning.crypto import decrypt_secret
from models import StationSettings, db
from smtpserver import PASSWORD, USER

FORM = {"server": "smtp.posto.example.com", "port": "587", "security": "starttls",
        "user": "cobranca@posto.example.com", "password": "senha-smtp-123",
        "sender_name": "Auto Posto", "sender_address": "cobranca@posto.example.com",
        "reply_to": "", "bcc": "", "timeout": "10", "max_per_minute": ""}


def _settings(app) -> StationSettings:
    with app.app_context():
        row = StationSettings.load(db.session)
        db.session.expunge(row)
        return row


def _stored(app) -> tuple:
    row = _settings(app)
    return (row.smtp_server, row.smtp_port, row.smtp_security, row.smtp_user,
            decrypt_secret(app.instance_path, row.smtp_password_encrypted))


@pytest.fixture
def configured(staff, app):
    assert staff.post("/configuracoes/smtp", data=FORM).status_code == 302
    return staff


@pytest.mark.parametrize("change", [
    {"server": "smtp.atacante.example"}, {"server": "127.0.0.1"}, {"port": "2525"},
    {"security": "ssl"}, {"security": "none", "server": "localhost"},
    {"user": "outro@atacante.example"}, {"user": ""},
    {"server": "smtp.atacante.example", "port": "25", "security": "none", "user": "x"},
])
def test_moving_the_stored_password_needs_it_typed_again(configured, app, change):
    before = _stored(app)
    response = configured.post("/configuracoes/smtp", data={**FORM, "password": "", **change})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "digite a senha de novo" in html and "nada foi salvo" in html
    assert _stored(app) == before
    assert "senha-smtp-123" not in html


def test_what_keeps_the_destination_needs_no_password(configured, app):
    same = {"server": " SMTP.Posto.Example.com ", "user": "Cobranca@posto.example.com",
            "sender_name": "Outro nome", "timeout": "30"}
    assert configured.post("/configuracoes/smtp", data={**FORM, "password": "", **same}).status_code == 302
    assert _stored(app)[4] == "senha-smtp-123" and _settings(app).sender_name == "Outro nome"
    # Typing the password again, or dropping it, allows the move.
    moved = {**FORM, "server": "smtp.novo.example.com", "password": "nova-senha-9"}
    assert configured.post("/configuracoes/smtp", data=moved).status_code == 302
    assert _stored(app)[0] == "smtp.novo.example.com" and _stored(app)[4] == "nova-senha-9"
    dropped = {**FORM, "server": "smtp.terceiro.example.com", "password": "", "forget_password": "y"}
    assert configured.post("/configuracoes/smtp", data=dropped).status_code == 302
    assert _stored(app)[4] == ""


@pytest.mark.parametrize("server", ["smtp.posto.example.com", "192.168.0.10", "10.0.0.1",
                                    "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0",
                                    "::ffff:8.8.8.8"])
def test_no_password_in_clear_text_across_a_network(staff, app, server):
    data = {**FORM, "server": server, "security": "none", "port": "25"}
    response = staff.post("/configuracoes/smtp", data=data)
    assert response.status_code == 400
    assert "passaria pela rede sem criptografia" in response.get_data(as_text=True)
    assert _settings(app).smtp_server == ""


@pytest.mark.parametrize("server", ["127.0.0.1", "localhost", "LocalHost", "::1", "[::1]",
                                    "127.0.0.2"])
def test_clear_text_password_to_this_pc_is_allowed(staff, app, server):
    data = {**FORM, "server": server, "security": "none", "port": "25"}
    assert staff.post("/configuracoes/smtp", data=data).status_code == 302


def test_security_none_without_a_password_is_allowed_anywhere(staff, app):
    data = {**FORM, "server": "relay.rede.local", "security": "none", "port": "25", "user": "",
            "password": ""}
    assert staff.post("/configuracoes/smtp", data=data).status_code == 302


def _configure(runner, *extra, password=None):
    args = ["configure-smtp", "--server", "smtp.posto.example.com", "--port", "587",
            "--security", "starttls", "--user", USER, "--sender", "cobranca@posto.example.com"]
    args = [*args, *extra]
    if password is not None:
        args.append("--password-stdin")
    return runner.invoke(args=args, input=(password or "") + "\n")


def test_configure_smtp_needs_the_password_to_move_it(app, runner, session):
    assert _configure(runner, password=PASSWORD).exit_code == 0
    before = _stored(app)
    for extra in (["--server", "smtp.atacante.example"], ["--port", "2525"],
                  ["--security", "ssl"], ["--user", "outro"]):
        result = _configure(runner, *extra)
        assert result.exit_code == 2, result.output
        assert "digite a senha de novo" in result.output and "--password-stdin" in result.output
        assert _stored(app) == before
    kept = _configure(runner, "--sender-name", "Outro")
    assert kept.exit_code == 0 and "mantida" in kept.output
    moved = _configure(runner, "--server", "smtp.novo.example.com", password="nova-senha-9")
    assert moved.exit_code == 0 and _stored(app)[0] == "smtp.novo.example.com"


def test_configure_smtp_refuses_a_clear_text_password(app, runner, session):
    result = _configure(runner, "--security", "none", password=PASSWORD)
    assert result.exit_code == 2 and "sem criptografia" in result.output
    assert _settings(app).smtp_server == ""
    local = runner.invoke(args=["configure-smtp", "--server", "127.0.0.1", "--port", "25",
                                "--security", "none", "--user", USER, "--password-stdin",
                                "--sender", "cobranca@posto.example.com"], input=PASSWORD + "\n")
    assert local.exit_code == 0, local.output


def test_a_clear_text_password_stored_earlier_is_not_sent(app, runner, session):
    """Settings saved before this rule (or edited in the database) are refused at send time."""
    from dunning.crypto import encrypt_secret
    row = StationSettings.load(session)
    row.smtp_server, row.smtp_port, row.smtp_security = "smtp.posto.example.com", 25, "none"
    row.smtp_user, row.sender_address = USER, "cobranca@posto.example.com"
    row.smtp_password_encrypted = encrypt_secret(app.instance_path, PASSWORD)
    session.commit()
    result = runner.invoke(args=["send-test-email", "eu@posto.example.com"])
    assert result.exit_code == 1 and "sem criptografia" in result.output
