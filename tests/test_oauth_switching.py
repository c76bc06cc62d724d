"""Issue 10's rule (a stored password is only kept for its own server, port, security and user)
meets OAuth 2.0 sign-in (issue 12): with OAuth there is no password to type again, so changing
what an authorization was given for forgets it instead; switching between the methods forgets
what the new one does not use. Browser form, configure-smtp and `settings set` alike."""
from __future__ import annotations

import pytest

from dunning.crypto import decrypt_secret, encrypt_secret
from models import StationSettings, db
from oauthserver import MS_CLIENT, MS_USER, TENANT

SERVER = "smtp.office365.com"
PASSWORD_FORM = {"auth_method": "password", "server": SERVER, "port": "587",
                 "security": "starttls", "user": MS_USER, "password": "senha-antiga-1",
                 "sender_name": "Auto Posto", "sender_address": "cobranca@posto.example.com",
                 "timeout": "60"}
MICROSOFT_FORM = {**PASSWORD_FORM, "auth_method": "microsoft", "password": "",
                  "oauth_tenant": TENANT, "oauth_client_id": MS_CLIENT}
CLI = ["configure-smtp", "--server", SERVER, "--port", "587", "--security", "starttls",
       "--user", MS_USER, "--sender", "cobranca@posto.example.com"]
CLI_MICROSOFT = [*CLI, "--auth-method", "microsoft", "--tenant", TENANT, "--client-id", MS_CLIENT]


def _row(app) -> StationSettings:
    with app.app_context():
        row = StationSettings.load(db.session)
        db.session.expunge(row)
        return row


def _authorize(app, token: str = "rt-guardado") -> None:
    """The state after a finished authorization: a stored (encrypted) refresh token."""
    with app.app_context():
        row = StationSettings.load(db.session)
        row.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, token)
        row.oauth_account = MS_USER
        db.session.commit()


def _token(app) -> str:
    return decrypt_secret(app.instance_path, _row(app).oauth_refresh_token_encrypted)


# --- password -> OAuth: nothing to type again, the unused password is not kept -------------

def test_the_form_switching_to_oauth_elsewhere_needs_no_password_and_drops_it(staff, app):
    assert staff.post("/configuracoes/smtp", data=PASSWORD_FORM).status_code == 302
    assert decrypt_secret(app.instance_path, _row(app).smtp_password_encrypted) == "senha-antiga-1"

    # Another server and user at the same time: with a password this needs it typed again.
    response = staff.post("/configuracoes/smtp", follow_redirects=True, data={
        **MICROSOFT_FORM, "server": "smtp-hve.office365.com", "user": "outra@posto.example.com"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "digite a senha de novo" not in html
    assert "A senha gravada foi apagada" in html and "Falta autorizar o envio" in html
    row = _row(app)
    assert (row.smtp_auth_method, row.smtp_server, row.smtp_password_encrypted) == (
        "microsoft", "smtp-hve.office365.com", "")


def test_configure_smtp_switching_to_oauth_says_the_password_is_dropped(app, runner):
    assert runner.invoke(args=[*CLI, "--password-stdin"], input="senha-antiga-1\n").exit_code == 0

    result = runner.invoke(args=[*CLI_MICROSOFT, "--user", "outra@posto.example.com"])

    assert result.exit_code == 0, result.output
    assert "senha gravada apagada" in result.output and "authorize-smtp" in result.output
    assert _row(app).smtp_password_encrypted == ""


# --- OAuth: changing what the authorization was given for forgets it -----------------------

@pytest.mark.parametrize("change", [
    {"auth_method": "google", "oauth_tenant": "", "oauth_client_secret": "GOCSPX-x"},
    {"oauth_tenant": "outro-tenant.onmicrosoft.com"}, {"oauth_client_id": "outro-cliente"},
    {"user": "outra@posto.example.com"}, {"server": "smtp.atacante.example"}, {"port": "2525"},
    {"security": "ssl"},
])
def test_the_form_forgets_the_authorization_when_its_account_or_server_changes(
        staff, app, change):
    assert staff.post("/configuracoes/smtp", data=MICROSOFT_FORM).status_code == 302
    _authorize(app)

    response = staff.post("/configuracoes/smtp", data={**MICROSOFT_FORM, **change},
                          follow_redirects=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "digite a senha de novo" not in html
    assert "autorização OAuth 2.0 anterior foi descartada" in html
    row = _row(app)
    assert (row.oauth_refresh_token_encrypted, row.oauth_account) == ("", "")
    assert "Ainda não autorizado" in html


def test_the_form_keeps_the_authorization_for_the_same_account_and_server(staff, app):
    assert staff.post("/configuracoes/smtp", data=MICROSOFT_FORM).status_code == 302
    _authorize(app)
    same = {"server": " SMTP.Office365.com ", "user": MS_USER.upper(), "sender_name": "Outro",
            "timeout": "30", "max_per_minute": "30"}

    response = staff.post("/configuracoes/smtp", data={**MICROSOFT_FORM, **same},
                          follow_redirects=True)

    assert "descartada" not in response.get_data(as_text=True)
    assert _token(app) == "rt-guardado" and _row(app).sender_name == "Outro"


def test_switching_back_to_password_forgets_the_authorization_and_asks_nothing_stale(
        staff, app):
    assert staff.post("/configuracoes/smtp", data=PASSWORD_FORM).status_code == 302
    assert staff.post("/configuracoes/smtp", data=MICROSOFT_FORM).status_code == 302
    _authorize(app)

    # No password is stored any more, so none can be "kept" for a new server: saving without
    # one is allowed (like a first set-up), and a new one is stored when typed.
    response = staff.post("/configuracoes/smtp", follow_redirects=True, data={
        **PASSWORD_FORM, "password": "", "server": "smtp.outro.example.com"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "autorização OAuth 2.0 anterior foi descartada" in html
    row = _row(app)
    assert (row.smtp_auth_method, row.oauth_refresh_token_encrypted,
            row.smtp_password_encrypted) == ("password", "", "")
    assert "Nenhuma senha gravada" in html

    assert staff.post("/configuracoes/smtp", data={
        **PASSWORD_FORM, "server": "smtp.outro.example.com",
        "password": "senha-nova-2"}).status_code == 302
    assert decrypt_secret(app.instance_path, _row(app).smtp_password_encrypted) == "senha-nova-2"
    # From now on issue 10's rule holds again: moving it needs it typed again.
    moved = staff.post("/configuracoes/smtp", data={**PASSWORD_FORM, "password": ""})
    assert moved.status_code == 400 and "digite a senha de novo" in moved.get_data(as_text=True)


@pytest.mark.parametrize("extra", [
    ["--server", "smtp.atacante.example"], ["--port", "465", "--security", "ssl"],
    ["--user", "outra@posto.example.com"], ["--client-id", "outro-cliente"],
    ["--tenant", "outro-tenant.onmicrosoft.com"],
])
def test_configure_smtp_forgets_the_authorization_when_its_account_or_server_changes(
        app, runner, extra):
    assert runner.invoke(args=CLI_MICROSOFT).exit_code == 0
    _authorize(app)

    result = runner.invoke(args=[*CLI_MICROSOFT, *extra])

    assert result.exit_code == 0, result.output
    assert "autorização anterior descartada" in result.output
    assert "falta autorizar" in result.output
    assert _row(app).oauth_refresh_token_encrypted == ""


def test_configure_smtp_back_to_password_says_the_authorization_is_dropped(app, runner):
    assert runner.invoke(args=CLI_MICROSOFT).exit_code == 0
    _authorize(app)

    result = runner.invoke(args=[*CLI, "--password-stdin"], input="senha-nova-2\n")

    assert result.exit_code == 0, result.output
    assert "senha gravada (criptografada)" in result.output
    assert "autorização OAuth 2.0 descartada" in result.output
    row = _row(app)
    assert row.smtp_auth_method == "password" and row.oauth_refresh_token_encrypted == ""


# --- `settings set` goes through the same rules ----------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("smtp_servidor", "smtp.atacante.example"), ("smtp_porta", "2525"),
    ("smtp_seguranca", "ssl"), ("smtp_usuario", "outra@posto.example.com"),
    ("smtp_entrada", "google"), ("smtp_entrada", "senha"),
    ("oauth_tenant", "outro-tenant.onmicrosoft.com"), ("oauth_client_id", "outro-cliente"),
])
def test_settings_set_forgets_the_authorization_too(app, runner, name, value):
    assert runner.invoke(args=CLI_MICROSOFT).exit_code == 0
    _authorize(app)

    result = runner.invoke(args=["settings", "set", name, value])

    assert result.exit_code == 0, result.output
    assert "Atenção: A autorização OAuth 2.0 anterior foi descartada" in result.output
    assert _row(app).oauth_refresh_token_encrypted == ""


def test_settings_set_of_what_the_authorization_does_not_depend_on_keeps_it(app, runner):
    assert runner.invoke(args=CLI_MICROSOFT).exit_code == 0
    _authorize(app)
    for name, value in (("remetente_nome", "Outro nome"), ("smtp_tempo_limite", "30"),
                        ("smtp_servidor", "SMTP.office365.com")):
        result = runner.invoke(args=["settings", "set", name, value])
        assert result.exit_code == 0 and "Atenção" not in result.output, result.output
    assert _token(app) == "rt-guardado"


def test_settings_set_cannot_move_a_stored_password_either(app, runner):
    assert runner.invoke(args=[*CLI, "--password-stdin"], input="senha-antiga-1\n").exit_code == 0
    before = _row(app)

    for name, value in (("smtp_servidor", "smtp.atacante.example"), ("smtp_porta", "2525"),
                        ("smtp_usuario", "outro")):
        result = runner.invoke(args=["settings", "set", name, value])
        assert result.exit_code == 1, result.output
        assert "digite a senha de novo" in result.output and "--password-stdin" in result.output
        assert "Nada foi alterado" in result.output
    after = _row(app)
    assert (after.smtp_server, after.smtp_port, after.smtp_user, after.smtp_password_encrypted) == (
        before.smtp_server, before.smtp_port, before.smtp_user, before.smtp_password_encrypted)

    switched = runner.invoke(args=["settings", "set", "smtp_entrada", "microsoft"])
    assert switched.exit_code == 0
    assert "Atenção: A senha gravada foi apagada" in switched.output
    assert _row(app).smtp_password_encrypted == ""


# --- no access token in clear text across a network ------------------------------------------

@pytest.mark.parametrize("server", ["smtp.office365.com", "192.168.0.10", "127.0.0.1.nip.io"])
def test_oauth_without_encryption_to_another_computer_is_refused(staff, app, runner, server):
    response = staff.post("/configuracoes/smtp", data={
        **MICROSOFT_FORM, "server": server, "security": "none", "port": "25"})
    assert response.status_code == 400
    assert "o token de acesso passaria pela rede sem criptografia" in response.get_data(as_text=True)
    assert _row(app).smtp_server == ""

    result = runner.invoke(args=[*CLI_MICROSOFT, "--server", server, "--security", "none",
                                 "--port", "25"])
    assert result.exit_code == 2 and "token de acesso" in result.output
    assert "Nada foi alterado" in result.output and _row(app).smtp_server == ""


def test_oauth_without_encryption_to_this_computer_is_allowed(staff, app):
    assert staff.post("/configuracoes/smtp", data={
        **MICROSOFT_FORM, "server": "127.0.0.1", "security": "none", "port": "25"}).status_code == 302


def test_a_clear_text_oauth_setting_stored_earlier_is_not_used(app, runner, session, token_server):
    """A row written before this rule (or by hand): refused at send time, before any token is
    asked for (the token endpoint sees no request)."""
    app.config.update(token_server.config())
    row = StationSettings.load(session)
    row.smtp_server, row.smtp_port, row.smtp_security = "smtp.office365.com", 25, "none"
    row.smtp_user, row.sender_address = MS_USER, "cobranca@posto.example.com"
    row.smtp_auth_method, row.oauth_tenant, row.oauth_client_id = "microsoft", TENANT, MS_CLIENT
    row.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, "rt-guardado")
    session.commit()
    asked = len(token_server.token_requests)

    result = runner.invoke(args=["send-test-email", "eu@posto.example.com"])

    assert result.exit_code == 1 and "token de acesso passaria pela rede" in result.output
    assert len(token_server.token_requests) == asked
