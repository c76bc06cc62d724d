"""Configurações › SMTP with OAuth 2.0: the form, Microsoft's device code on a page that finishes
by itself, Google's loopback redirect back to this app, and the Painel's authorization status."""
from __future__ import annotations

import re
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import expect

from dunning.crypto import decrypt_secret, encrypt_secret
from models import StationSettings, db
from oauthserver import GOOGLE_CLIENT, GOOGLE_SECRET, GOOGLE_USER, MS_CLIENT, MS_USER, TENANT
from test_e2e import browser, live_server, shot  # noqa: F401 - fixtures
from test_oauth_cli import approve_when_asked

FORM = {"server": "smtp.office365.com", "port": "587", "security": "starttls",
        "sender_address": "cobranca@posto.example.com", "timeout": "60"}
MICROSOFT_FORM = {**FORM, "auth_method": "microsoft", "oauth_tenant": TENANT,
                  "oauth_client_id": MS_CLIENT, "user": MS_USER}
GOOGLE_FORM = {**FORM, "server": "smtp.gmail.com", "auth_method": "google",
               "oauth_client_id": GOOGLE_CLIENT, "user": GOOGLE_USER,
               "oauth_client_secret": GOOGLE_SECRET}


def settings(app) -> SimpleNamespace:
    with app.app_context():
        row = StationSettings.load(db.session)
        values = SimpleNamespace(**{c.key: getattr(row, c.key)
                                    for c in StationSettings.__table__.columns})
        db.session.commit()
        return values


@pytest.fixture
def oauth_app(app, token_server):
    app.config.update(token_server.config())
    return app


def test_saving_the_microsoft_method_asks_for_authorization(staff, app):
    response = staff.post("/configuracoes/smtp", data=MICROSOFT_FORM, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Falta autorizar o envio" in html and "Ainda não autorizado" in html
    assert ">Autorizar</button>" in html
    row = settings(app)
    assert (row.smtp_auth_method, row.oauth_tenant, row.oauth_client_id) == (
        "microsoft", TENANT, MS_CLIENT)


@pytest.mark.parametrize("form, field, message", [
    ({**MICROSOFT_FORM, "oauth_tenant": ""}, "oauth_tenant", "ID do diretório"),
    ({**MICROSOFT_FORM, "oauth_client_id": " "}, "oauth_client_id", "ID do aplicativo"),
    ({**GOOGLE_FORM, "oauth_client_secret": ""}, "oauth_client_secret", "segredo do cliente"),
    ({**GOOGLE_FORM, "user": ""}, "user", "conta Google"),
    ({**MICROSOFT_FORM, "auth_method": "yahoo"}, "auth_method", ""),
])
def test_incomplete_oauth_settings_are_refused_field_by_field(staff, app, form, field, message):
    response = staff.post("/configuracoes/smtp", data=form)

    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert settings(app).smtp_server == ""


def test_the_google_client_secret_is_write_only_and_encrypted(staff, app):
    assert staff.post("/configuracoes/smtp", data=GOOGLE_FORM).status_code == 302
    html = staff.get("/configuracoes/").get_data(as_text=True)
    assert GOOGLE_SECRET not in html and "Há um segredo gravado" in html
    row = settings(app)
    assert decrypt_secret(app.instance_path, row.oauth_client_secret_encrypted) == GOOGLE_SECRET
    # Saving again without typing it keeps it.
    assert staff.post("/configuracoes/smtp", data={**GOOGLE_FORM, "oauth_client_secret": ""}
                      ).status_code == 302


def test_device_code_in_the_browser_status_endpoint(staff, oauth_app, token_server):
    staff.post("/configuracoes/smtp", data=MICROSOFT_FORM)

    started = staff.post("/configuracoes/oauth/autorizar")
    assert started.status_code == 302 and started.headers["Location"].endswith("/oauth/microsoft")
    page = staff.get("/configuracoes/oauth/microsoft").get_data(as_text=True)
    job = staff.get("/configuracoes/oauth/estado").get_json()
    assert job["state"] == "waiting"
    assert job["user_code"] in page and f"{token_server.base}/devicelogin" in page

    token_server.approve(job["user_code"])
    deadline = time.monotonic() + 20
    while job["state"] == "waiting" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = staff.get("/configuracoes/oauth/estado").get_json()

    assert job["state"] == "done" and MS_USER in job["message"]
    row = settings(oauth_app)
    assert decrypt_secret(oauth_app.instance_path, row.oauth_refresh_token_encrypted) \
        in token_server.live_refresh_tokens()
    html = staff.get("/configuracoes/").get_data(as_text=True)
    assert f"Autorizado para <strong>{MS_USER}</strong>" in html


def test_device_code_declined_is_reported_and_nothing_stored(staff, oauth_app, token_server):
    staff.post("/configuracoes/smtp", data=MICROSOFT_FORM)
    staff.post("/configuracoes/oauth/autorizar")
    job = staff.get("/configuracoes/oauth/estado").get_json()
    token_server.deny(job["user_code"])
    deadline = time.monotonic() + 20
    while job["state"] == "waiting" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = staff.get("/configuracoes/oauth/estado").get_json()
    assert job["state"] == "error" and "recusada" in job["message"]
    assert settings(oauth_app).oauth_refresh_token_encrypted == ""


def test_authorize_needs_an_oauth_method_and_the_csrf_token(staff, app):
    response = staff.post("/configuracoes/oauth/autorizar", follow_redirects=True)
    assert "Escolha Microsoft 365 ou Google" in response.get_data(as_text=True)
    staff.post("/configuracoes/smtp", data=MICROSOFT_FORM)
    app.config["WTF_CSRF_ENABLED"] = True
    assert staff.post("/configuracoes/oauth/autorizar").status_code == 400
    assert staff.get("/configuracoes/oauth/estado").get_json()["state"] == "none"


def test_the_pages_need_a_login(client, oauth_app):
    for path in ("/configuracoes/oauth/estado", "/configuracoes/oauth/microsoft",
                 "/configuracoes/oauth/google/retorno?state=x&code=y"):
        assert client.get(path).status_code == 302


def google_consent(staff, token_server) -> str:
    """Click Autorizar, then do what the browser does at Google: the path back to this app."""
    started = staff.post("/configuracoes/oauth/autorizar")
    assert started.status_code == 302
    url = started.headers["Location"]
    assert url.startswith(f"{token_server.base}/o/oauth2/auth?")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["http://localhost/configuracoes/oauth/google/retorno"]
    assert query["scope"] == ["https://mail.google.com/"]
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    consent = requests.get(url, allow_redirects=False, timeout=10, verify=str(token_server.cafile))
    back = urlsplit(consent.headers["Location"])
    return f"{back.path}?{back.query}"


def test_google_loopback_redirect_back_to_this_app(staff, oauth_app, token_server):
    staff.post("/configuracoes/smtp", data=GOOGLE_FORM)

    response = staff.get(google_consent(staff, token_server), follow_redirects=True)

    assert "Autorização do Google concluída" in response.get_data(as_text=True)
    row = settings(oauth_app)
    assert decrypt_secret(oauth_app.instance_path, row.oauth_refresh_token_encrypted) \
        in token_server.live_refresh_tokens()
    assert row.oauth_refreshed_at is not None and row.oauth_error == ""


def test_google_return_with_a_wrong_state_or_a_refusal(staff, oauth_app, token_server):
    staff.post("/configuracoes/smtp", data=GOOGLE_FORM)
    back = google_consent(staff, token_server)
    forged = re.sub(r"state=[^&]+", "state=forjado", back)
    assert "não reconhecida" in staff.get(forged, follow_redirects=True).get_data(as_text=True)
    # The real one still works once; a replay does not.
    assert staff.get(back).status_code == 302
    assert "não reconhecida" in staff.get(back, follow_redirects=True).get_data(as_text=True)

    again = google_consent(staff, token_server)
    denied = re.sub(r"code=[^&]+", "error=access_denied", again)
    assert "access_denied" in staff.get(denied, follow_redirects=True).get_data(as_text=True)


def test_google_from_another_computer_is_refused_with_the_loopback_address(
        staff, oauth_app, token_server):
    staff.post("/configuracoes/smtp", data=GOOGLE_FORM)
    oauth_app.config["ALLOWED_HOSTS"] = [*oauth_app.config["ALLOWED_HOSTS"], "192.168.0.10"]
    lan = "http://192.168.0.10:8080"
    staff.post("/entrar", base_url=lan, data={"username": "caixa", "password": "senha-segura-1"})
    response = staff.post("/configuracoes/oauth/autorizar", base_url=lan, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "volta para o próprio computador da estação" in html
    assert "http://127.0.0.1:8080 (não por 192.168.0.10:8080)" in html
    assert token_server.codes == {}


def test_changing_the_method_to_password_forgets_the_authorization(staff, app):
    staff.post("/configuracoes/smtp", data=MICROSOFT_FORM)
    with app.app_context():
        row = StationSettings.load(db.session)
        row.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, "rt-x")
        db.session.commit()

    response = staff.post("/configuracoes/smtp", data={**FORM, "auth_method": "password",
                                                       "user": MS_USER}, follow_redirects=True)

    assert "autorização OAuth 2.0 anterior foi descartada" in response.get_data(as_text=True)
    assert settings(app).oauth_refresh_token_encrypted == ""


def test_the_device_code_page_finishes_by_itself_in_a_real_browser(
        browser, live_server, oauth_app, token_server):  # noqa: F811
    from dunning.users import create_user
    with oauth_app.app_context():
        create_user(db.session, "gerente", "senha-do-gerente")
    from test_accessibility import Checker
    check = Checker()
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 800},
                                  locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto("/entrar")
        page.get_by_label("Usuário").fill("gerente")
        page.get_by_label("Senha").fill("senha-do-gerente")
        page.get_by_role("button", name="Entrar").click()
        page.goto("/configuracoes/#smtp")
        page.get_by_label("Forma de entrada").select_option("microsoft")
        page.get_by_label("Servidor SMTP").fill("smtp.office365.com")
        page.get_by_label("Usuário").fill(MS_USER)
        page.get_by_label("ID do diretório").fill(TENANT)
        page.get_by_label("ID do aplicativo").fill(MS_CLIENT)
        page.get_by_label("E-mail do remetente").fill("cobranca@posto.example.com")
        page.get_by_role("button", name="Salvar SMTP").click()
        expect(page.get_by_text("Falta autorizar o envio")).to_be_visible()
        page.get_by_role("button", name="Autorizar", exact=True).click()
        code = page.locator("#codigo").inner_text()
        expect(page.get_by_text("Aguardando a autorização")).to_be_visible()
        check(page, "autorizar Microsoft 365: aguardando")
        token_server.approve(code)
        expect(page.locator("#situacao")).to_contain_text(f"Autorização concluída para {MS_USER}")
        check(page, "autorizar Microsoft 365: concluída")
        shot(page, "oauth-microsoft-390px")
        page.goto("/configuracoes/#autorizacao")
        expect(page.get_by_text(f"Autorizado para {MS_USER}")).to_be_visible()
        check(page, "configurações com OAuth 2.0")
        shot(page, "oauth-configuracoes-390px")
        page.goto("/")
        expect(page.locator("#autorizacao-email")).to_contain_text("última renovação")
        check(page, "painel com OAuth 2.0")
        shot(page, "oauth-painel-390px")
        check.assert_clean()
    finally:
        context.close()


def test_the_painel_shows_the_last_refresh_and_warns_when_it_fails(
        staff, oauth_app, token_server, oauth_smtp_server):
    from dunning.delivery import CannotRun, run
    from test_delivery import AS_OF, load_customers
    from test_oauth_delivery import authorize_station, options

    with oauth_app.app_context():
        load_customers(db.session, count=1)
        authorize_station(oauth_app, db.session, oauth_smtp_server, token_server)
        html = staff.get("/").get_data(as_text=True)
        assert "Microsoft 365 (OAuth 2.0)" in html and "última renovação —" in html

        assert run(db.session, AS_OF, oauth_app.instance_path,
                   options=options(token_server)).sent == 1
        html = staff.get("/").get_data(as_text=True)
        refreshed = settings(oauth_app).oauth_refreshed_at.strftime("%d/%m/%Y %H:%M")
        assert f"autorizado para {MS_USER}; última renovação {refreshed}" in html
        assert "flash-error" not in html

        token_server.revoke()
        with pytest.raises(CannotRun):
            run(db.session, AS_OF, oauth_app.instance_path, options=options(token_server))
        html = staff.get("/").get_data(as_text=True)
        assert 'role="alert"' in html and "a autorização está falhando desde" in html
        assert "invalid_grant" in html and "Autorize novamente em Configurações" in html
        settings_page = staff.get("/configuracoes/").get_data(as_text=True)
        assert "A autorização está falhando" in settings_page


def test_the_painel_says_so_when_oauth_is_chosen_but_not_authorized(staff, app):
    staff.post("/configuracoes/smtp", data=MICROSOFT_FORM)
    html = staff.get("/").get_data(as_text=True)
    assert "ainda não autorizado" in html and "Autorizar em Configurações" in html


def test_the_painel_with_password_sign_in_shows_no_authorization(staff):
    assert "autorizacao-email" not in staff.get("/").get_data(as_text=True)
