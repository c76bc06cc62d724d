"""Access to the browser forms: first user, login, logout, CSRF, error pages, upload limit."""
from __future__ import annotations

import io
import re

import pytest

from models import User, db

PAGES = ["/", "/clientes/", "/grupos/", "/empresas/", "/faturas/", "/importar/", "/previa/",
         "/envios/", "/configuracoes/", "/importar/politicas.csv"]


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _add_user(app, name="caixa", password="senha-segura-1"):
    from dunning.users import create_user
    with app.app_context():
        create_user(db.session, name, password)


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_login(app, client, path):
    _add_user(app)
    response = client.get(path)
    assert response.status_code == 302
    assert "/entrar" in response.headers["Location"]


def test_first_run_page_only_while_no_user(app, client):
    assert client.get("/clientes/").headers["Location"].endswith("/primeiro-acesso")
    assert client.get("/entrar").headers["Location"].endswith("/primeiro-acesso")
    page = client.get("/primeiro-acesso").get_data(as_text=True)
    assert "Primeiro acesso" in page
    response = client.post("/primeiro-acesso", data={
        "csrf_token": _token(page), "username": "gerente", "password": "segredo-123",
        "confirm": "segredo-123"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(db.select(User))
        assert user.username == "gerente"
        assert "segredo-123" not in user.password_hash and user.check_password("segredo-123")
    assert client.get("/").status_code == 200          # logged in right away
    assert client.get("/primeiro-acesso").status_code == 404


def test_first_run_validation_errors(client):
    page = client.get("/primeiro-acesso").get_data(as_text=True)
    response = client.post("/primeiro-acesso", data={
        "csrf_token": _token(page), "username": "x", "password": "curta", "confirm": "outra"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ao menos 8 caracteres" in html and "As senhas não conferem" in html


def test_login_logout(app, client):
    _add_user(app)
    page = client.get("/entrar").get_data(as_text=True)
    bad = client.post("/entrar", data={"csrf_token": _token(page), "username": "caixa",
                                       "password": "errada"})
    assert "Usuário ou senha incorretos" in bad.get_data(as_text=True)
    good = client.post("/entrar?next=/faturas/", data={
        "csrf_token": _token(page), "username": "CAIXA", "password": "senha-segura-1"})
    assert good.headers["Location"] == "/faturas/"
    home = client.get("/").get_data(as_text=True)
    assert client.post("/sair", data={"csrf_token": _token(home)}).status_code == 302
    assert client.get("/").status_code == 302


def test_login_never_redirects_off_site(app, client):
    _add_user(app)
    page = client.get("/entrar").get_data(as_text=True)
    response = client.post("/entrar?next=//evil.example/x", data={
        "csrf_token": _token(page), "username": "caixa", "password": "senha-segura-1"})
    assert response.headers["Location"] == "/"


def test_session_cookie_flags(app, client):
    _add_user(app)
    page = client.get("/entrar").get_data(as_text=True)
    response = client.post("/entrar", data={"csrf_token": _token(page), "username": "caixa",
                                            "password": "senha-segura-1"})
    cookie = ";".join(response.headers.getlist("Set-Cookie")).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize("path,data", [
    ("/sair", {}),
    ("/entrar", {"username": "caixa", "password": "senha-segura-1"}),
    ("/importar/faturas", {}),
    ("/clientes/1", {"send_email": "sim"}),
    ("/grupos/1", {"send_email": "y"}),
    ("/empresas/1", {"name": "X"}),
    ("/configuracoes/smtp", {}),
    ("/configuracoes/teste", {"address": "a@b.com.br"}),
    ("/configuracoes/envio", {"resend_interval_days": "1"}),
    ("/configuracoes/modelos", {"subject": "x"}),
    ("/configuracoes/modelos/padrao", {}),
    ("/clientes/1/emails", {"addresses": "a@b.com.br"}),
    ("/importar/politicas", {}),
    ("/previa/enviar", {}),
    ("/envios/linha/1/reenviar", {}),
    ("/primeiro-acesso", {"username": "x", "password": "12345678", "confirm": "12345678"}),
])
def test_post_without_csrf_token_is_refused(app, staff, path, data):
    app.config["WTF_CSRF_ENABLED"] = True
    response = staff.post(path, data=data)
    assert response.status_code == 400
    assert "Formulário expirado" in response.get_data(as_text=True)


def test_friendly_404(staff):
    response = staff.get("/nao-existe")
    assert response.status_code == 404
    assert "Página não encontrada" in response.get_data(as_text=True)


def test_upload_over_the_limit_gets_413_page(app, staff):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = staff.post("/importar/faturas", data={
        "faturas-file": (io.BytesIO(b"x" * 5000), "grande.csv")}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Arquivo grande demais" in response.get_data(as_text=True)


def test_500_page_hides_details(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/quebra")
    def broken():
        raise RuntimeError("segredo interno")

    _add_user(app)
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/entrar", data={"username": "caixa", "password": "senha-segura-1"})
    response = client.get("/quebra")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Erro interno" in html and "segredo interno" not in html


def test_create_user_command(app, runner):
    result = runner.invoke(args=["create-user", "gerente", "--password-stdin"], input="segredo-123\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(db.select(User)).check_password("segredo-123")
    again = runner.invoke(args=["create-user", "Gerente", "--password-stdin"], input="outra-senha\n")
    assert again.exit_code == 1 and "Já existe" in again.output
    short = runner.invoke(args=["create-user", "novo", "--password-stdin"], input="abc\n")
    assert short.exit_code == 1 and "8 caracteres" in short.output
