"""The browser side against another web site and a password guesser (issue 10, items 1-4):
where a login may lead, which Host names are answered, throttling, sessions that really end."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest

from app import create_app
from models import LoginThrottle, db

PASSWORD = "senha-segura-1"


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _add_user(app, name="caixa", password=PASSWORD):
    from dunning.users import create_user
    with app.app_context():
        create_user(db.session, name, password)


def _login(client, username="caixa", password=PASSWORD, next_value=None, **kwargs):
    query = {"next": next_value} if next_value is not None else {}
    return client.post("/entrar", query_string=query,
                       data={"username": username, "password": password}, **kwargs)


@pytest.fixture
def user_app(app):
    """The app with CSRF off (the forms' tokens are tested elsewhere) and one user."""
    app.config["WTF_CSRF_ENABLED"] = False
    _add_user(app)
    return app


# --- 1. login redirect -------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example/x", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "http://evil.example/", "https:evil.example", "https:/evil.example", "HTTP://EVIL.EXAMPLE",
    "javascript:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)", "data:text/html,x",
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\x00/evil.example",
    "\x00/faturas/", "/faturas/\r\nSet-Cookie: x=1", "/faturas/\x7f", "/ /evil.example",
    "/\u2028/evil.example", "/\u00a0/evil.example", "/\u200b/evil.example", "/\u3000/evil.example",
    "/%09/evil.example", "/%2F/evil.example", "/%2f%2fevil.example", "/%5Cevil.example",
    "/%0d%0aLocation:%20http://evil.example", "%2F%2Fevil.example", "/%252F/evil.example",
    "evil.example", "faturas/", ".//evil.example", "/.//evil.example", "//", "/" * 5000,
    "/faturas/?" + "a" * 5000, "/sair", "/entrar?next=//evil.example", "/primeiro-acesso",
    "/static/style.css", "/nao-existe", "", " ", "/faturas/ ",
]


def test_login_next_only_leads_to_a_page_of_the_app(user_app, client):
    from blueprints.guards import safe_next
    with user_app.test_request_context("/entrar"):
        assert [v for v in HOSTILE_NEXT if safe_next(v) is not None] == []
    # Through the real form (a password check costs ~0.3 s: a sample of each kind).
    for value in HOSTILE_NEXT[::4] + ["/\t/evil.example", "/faturas/\r\nSet-Cookie: x=1"]:
        page = client.get("/entrar", query_string={"next": value})
        assert page.status_code == 200, repr(value)
        response = _login(client, next_value=value)
        assert response.status_code == 302, repr(value)
        assert response.headers["Location"] == "/", repr(value)
        client.post("/sair")


def test_login_next_keeps_a_local_page(user_app, client):
    for value, expected in [("/faturas/", "/faturas/"),
                            ("/clientes/?q=posto&page=2", "/clientes/?q=posto&page=2"),
                            ("/clientes/?q=S%C3%A3o", "/clientes/?q=S%C3%A3o"),
                            ("/clientes/?q=São", "/clientes/?q=S%C3%A3o"),
                            ("/configuracoes/#smtp", "/configuracoes/#smtp")]:
        response = _login(client, next_value=value)
        assert response.headers["Location"] == expected
        client.post("/sair")


def test_login_required_redirect_round_trips(user_app, client):
    """The next value Flask-Login writes is one our check accepts."""
    to_login = client.get("/clientes/?q=posto")
    assert to_login.status_code == 302
    login_url = to_login.headers["Location"]
    response = client.post(login_url, data={"username": "caixa", "password": PASSWORD})
    assert response.headers["Location"] == "/clientes/?q=posto"


# --- 2. Host header ----------------------------------------------------------------------------

GOOD_HOSTS = ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:8080",
              "LOCALHOST:8080", "[0:0:0:0:0:0:0:1]:8080"]
BAD_HOSTS = ["evil.example", "evil.example:8080", "localhost.", "localhost.:8080",
             "127.0.0.1.evil.example", "localhost.evil.example", "evil.localhost",
             "127.0.0.2:8080", "127.1:8080", "2130706433:8080", "0x7f000001", "[::ffff:127.0.0.1]",
             "[::1", "::1", "::1:8080", "localhost:99999", "localhost:0", "localhost:8080:80",
             "localhost:80a", "127.0.0.1:8080@evil.example", "evil.example#localhost",
             "local host", "localhost\x00", "a" * 1000, "", " "]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_unknown_host_names_are_refused_even_before_the_first_user(client, host):
    for path in ("/primeiro-acesso", "/entrar", "/", "/static/style.css", "/nao-existe"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, (path, host)
        assert "Primeiro acesso" not in response.get_data(as_text=True)
    post = client.post("/primeiro-acesso", headers={"Host": host}, data={
        "username": "intruso", "password": "12345678", "confirm": "12345678"})
    assert post.status_code == 400


@pytest.mark.parametrize("host", BAD_HOSTS[:8])
def test_unknown_host_names_are_refused_to_a_logged_in_browser(user_app, client, host):
    _login(client)
    assert client.get("/", headers={"Host": "localhost:8080"}).status_code == 200
    response = client.get("/clientes/", headers={"Host": host})
    assert response.status_code == 400
    assert "Pedido inválido" in response.get_data(as_text=True)


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_loopback_names_are_answered(client, host):
    response = client.get("/primeiro-acesso", headers={"Host": host})
    assert response.status_code == 200
    assert "Primeiro acesso" in response.get_data(as_text=True)


def test_forwarded_host_is_ignored(user_app, client):
    response = client.get("/", headers={"Host": "evil.example", "X-Forwarded-Host": "localhost"})
    assert response.status_code == 400
    response = client.get("/", headers={"Host": "localhost", "X-Forwarded-Host": "evil.example",
                                        "Forwarded": "host=evil.example"})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]


def test_station_configured_names(db_url, tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": db_url,
                      "INSTANCE_PATH": str(tmp_path / "instance"),
                      "TRUSTED_HOSTS": ["posto.local", "192.168.0.10:8080"]})
    client = app.test_client()
    assert client.get("/primeiro-acesso", headers={"Host": "posto.local:8080"}).status_code == 200
    assert client.get("/primeiro-acesso", headers={"Host": "Posto.Local"}).status_code == 200
    assert client.get("/primeiro-acesso", headers={"Host": "192.168.0.10:8080"}).status_code == 200
    assert client.get("/primeiro-acesso", headers={"Host": "192.168.0.10:9090"}).status_code == 400
    assert client.get("/primeiro-acesso", headers={"Host": "posto.local.evil"}).status_code == 400
    assert client.get("/primeiro-acesso", headers={"Host": "localhost:8080"}).status_code == 200
    with app.app_context():
        db.engine.dispose()


# --- 3. password guessing ----------------------------------------------------------------------

def test_five_failures_lock_the_user_even_for_the_right_password(user_app, client):
    _add_user(user_app, "gerente")
    for _ in range(4):
        assert "Usuário ou senha incorretos" in _login(client, password="errada").get_data(as_text=True)
    fifth = _login(client, password="errada").get_data(as_text=True)
    assert "Usuário bloqueado" in fifth
    response = _login(client)
    assert response.status_code == 200
    assert "Usuário bloqueado" in response.get_data(as_text=True)
    assert "senha certa também é recusada" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302                    # not logged in
    assert _login(client, "CAIXA ").status_code == 200           # any spelling of the name
    assert _login(client, "gerente").status_code == 302          # other users are not locked


def test_lock_holds_in_another_process_and_ends_after_its_time(user_app, client, db_url,
                                                                 tmp_path):
    for _ in range(5):
        _login(client, password="errada")
    other = create_app({"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
                        "SQLALCHEMY_DATABASE_URI": db_url,
                        "INSTANCE_PATH": str(tmp_path / "instance2")})
    assert "Usuário bloqueado" in _login(other.test_client()).get_data(as_text=True)
    with other.app_context():
        row = db.session.get(LoginThrottle, "caixa")
        assert row.locked_until > datetime.now() + timedelta(minutes=14)
        row.locked_until = datetime.now() - timedelta(seconds=1)  # the 15 minutes have passed
        db.session.commit()
        db.engine.dispose()
    assert _login(client).status_code == 302


def test_failures_outside_the_window_do_not_add_up(user_app, client):
    for _ in range(4):
        _login(client, password="errada")
    with user_app.app_context():
        db.session.get(LoginThrottle, "caixa").window_start -= timedelta(minutes=16)
        db.session.commit()
    for _ in range(4):
        _login(client, password="errada")
    assert _login(client).status_code == 302


def test_unknown_names_lock_alike(user_app, client):
    """The lock message cannot be used to tell which names exist."""
    for _ in range(5):
        _login(client, "ninguem", password="errada")
    assert "Usuário bloqueado" in _login(client, "ninguem").get_data(as_text=True)


def test_failures_per_client_address_are_limited(user_app, client):
    assert user_app.config.get("LOGIN_ADDRESS_LIMIT", "20 per 15 minutes") == "20 per 15 minutes"
    user_app.config["LOGIN_ADDRESS_LIMIT"] = "6 per 15 minutes"  # the default is 20: fewer hashes
    for n in range(6):  # 6 names, 1 failure each: no name is locked
        assert _login(client, f"nome{n}", "errada").status_code == 200
    refused = _login(client)
    assert refused.status_code == 429
    assert "Muitas tentativas" in refused.get_data(as_text=True)
    # Another computer is not affected; the successful login does not count.
    elsewhere = _login(client, environ_base={"REMOTE_ADDR": "192.168.0.7"})
    assert elsewhere.status_code == 302


def test_unknown_user_costs_the_time_of_a_known_one(user_app, client):
    def slowest_of_fastest(name: str) -> float:
        times = []
        for n in range(3):
            started = time.perf_counter()
            _login(client, f"{name}{n}" if name == "ninguem" else name, "errada")
            times.append(time.perf_counter() - started)
        return min(times)

    known, unknown = slowest_of_fastest("caixa"), slowest_of_fastest("ninguem")
    assert 0.33 < unknown / known < 3, (known, unknown)


# --- 4. sessions -------------------------------------------------------------------------------

def _copied_cookie_client(app, client):
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def test_logout_ends_that_session_for_good(user_app, client):
    _login(client)
    copy = _copied_cookie_client(user_app, client)
    assert copy.get("/").status_code == 200
    assert client.post("/sair").status_code == 302
    assert copy.get("/").status_code == 302
    assert copy.get("/clientes/").headers["Location"].startswith("/entrar")


def test_password_change_ends_the_other_sessions(user_app, client):
    other_browser = user_app.test_client()
    _login(client)
    _login(other_browser)
    copy = _copied_cookie_client(user_app, client)
    page = client.get("/senha")
    assert "Trocar senha" in page.get_data(as_text=True)
    wrong = client.post("/senha", data={"current": "errada", "password": "nova-senha-123",
                                        "confirm": "nova-senha-123"})
    assert "Senha atual incorreta" in wrong.get_data(as_text=True)
    done = client.post("/senha", data={"current": PASSWORD, "password": "nova-senha-123",
                                       "confirm": "nova-senha-123"})
    assert done.status_code == 302
    assert client.get("/").status_code == 200            # this session goes on
    assert other_browser.get("/").status_code == 302     # the others end
    client.post("/sair")
    assert copy.get("/").status_code == 302
    assert _login(user_app.test_client(), password="nova-senha-123").status_code == 302


def test_set_password_command_ends_every_session(user_app, client, runner):
    _login(client)
    result = runner.invoke(args=["set-password", "caixa", "--password-stdin"],
                           input="outra-senha-99\n")
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    assert _login(client, password="outra-senha-99").status_code == 302
    short = runner.invoke(args=["set-password", "caixa", "--password-stdin"], input="curta\n")
    assert short.exit_code == 1 and "8 caracteres" in short.output
    missing = runner.invoke(args=["set-password", "ninguem", "--password-stdin"], input="x" * 9)
    assert missing.exit_code == 1 and "não encontrado" in missing.output
