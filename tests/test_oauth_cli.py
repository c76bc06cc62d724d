"""configure-smtp with the OAuth 2.0 sign-in methods, and authorize-smtp: Microsoft's device-code
flow (msal) and Google's installed-app flow with the library's loopback server."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from dunning.crypto import decrypt_secret
from models import StationSettings
from oauthserver import GOOGLE_CLIENT, GOOGLE_SECRET, GOOGLE_USER, MS_CLIENT, MS_USER, TENANT
from test_delivery import AS_OF, load_customers

ROOT = Path(__file__).resolve().parent.parent
BASE = ["configure-smtp", "--server", "smtp.office365.com", "--port", "587", "--security",
        "starttls", "--sender", "cobranca@posto.example.com"]
MICROSOFT = [*BASE, "--auth-method", "microsoft", "--tenant", TENANT, "--client-id", MS_CLIENT,
             "--user", MS_USER]


def settings(session) -> StationSettings:
    session.expire_all()
    return StationSettings.load(session)


def approve_when_asked(token_server, user: str = MS_USER, deny: bool = False) -> threading.Thread:
    """The person at the verification page: types the code once the app has asked for one."""
    def sign_in() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with token_server.lock:
                codes = [flow["user_code"] for flow in token_server.device_codes.values()]
            if codes:
                (token_server.deny if deny else token_server.approve)(codes[0], *(
                    [] if deny else [user]))
                return
            time.sleep(0.05)
    thread = threading.Thread(target=sign_in, daemon=True)
    thread.start()
    return thread


def test_configure_smtp_stores_the_microsoft_method_and_asks_for_authorization(runner, session):
    result = runner.invoke(args=MICROSOFT)

    assert result.exit_code == 0, result.output
    assert "Microsoft 365 (OAuth 2.0)" in result.output and "authorize-smtp" in result.output
    row = settings(session)
    assert (row.smtp_auth_method, row.oauth_tenant, row.oauth_client_id, row.smtp_user) == (
        "microsoft", TENANT, MS_CLIENT, MS_USER)
    assert row.smtp_password_encrypted == "" and row.oauth_refresh_token_encrypted == ""


@pytest.mark.parametrize("args, message", [
    ([*BASE, "--auth-method", "microsoft", "--client-id", MS_CLIENT], "--tenant"),
    ([*BASE, "--auth-method", "microsoft", "--tenant", TENANT], "--client-id"),
    ([*MICROSOFT, "--password-stdin"], "--password-stdin não vale com OAuth"),
    ([*MICROSOFT, "--client-secret-stdin"], "--client-secret-stdin só vale"),
    ([*BASE, "--tenant", TENANT], "--tenant só vale"),
    ([*BASE, "--auth-method", "google", "--client-id", GOOGLE_CLIENT, "--user", GOOGLE_USER],
     "segredo do cliente OAuth"),
    ([*BASE, "--auth-method", "google", "--client-id", GOOGLE_CLIENT], "--user"),
])
def test_configure_smtp_refuses_incomplete_oauth_options(runner, session, args, message):
    result = runner.invoke(args=args, input="")

    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert settings(session).smtp_server == ""


def test_configure_smtp_google_keeps_the_client_secret_encrypted(runner, session, app):
    result = runner.invoke(args=[*BASE, "--auth-method", "google", "--client-id", GOOGLE_CLIENT,
                                 "--user", GOOGLE_USER, "--client-secret-stdin"],
                           input=GOOGLE_SECRET + "\n")

    assert result.exit_code == 0, result.output
    row = settings(session)
    assert GOOGLE_SECRET not in row.oauth_client_secret_encrypted
    assert decrypt_secret(app.instance_path, row.oauth_client_secret_encrypted) == GOOGLE_SECRET
    again = runner.invoke(args=[*BASE, "--auth-method", "google", "--client-id", GOOGLE_CLIENT,
                                "--user", GOOGLE_USER])   # the stored secret is kept
    assert again.exit_code == 0, again.output


def test_authorize_smtp_microsoft_device_code_then_the_run_sends(
        app, runner, session, token_server, oauth_smtp_server):
    app.config.update(token_server.config(), SMTP_ATTEMPTS=1)
    load_customers(session, count=2)
    assert runner.invoke(args=[*MICROSOFT, "--server", oauth_smtp_server.host, "--port",
                               str(oauth_smtp_server.port)]).exit_code == 0
    approve_when_asked(token_server)

    result = runner.invoke(args=["authorize-smtp"])

    assert result.exit_code == 0, result.output
    assert f"{token_server.base}/devicelogin" in result.output
    assert "digite o código" in result.output
    row = settings(session)
    assert row.oauth_account == MS_USER and row.oauth_refreshed_at is not None
    refresh_token = decrypt_secret(app.instance_path, row.oauth_refresh_token_encrypted)
    assert refresh_token in token_server.live_refresh_tokens()

    sent = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])
    assert sent.exit_code == 0, sent.output
    assert len(oauth_smtp_server.received) == 2


def test_authorize_smtp_fills_a_blank_user_with_the_account_that_signed_in(
        app, runner, session, token_server):
    app.config.update(token_server.config())
    assert runner.invoke(args=MICROSOFT[:-2]).exit_code == 0   # no --user
    approve_when_asked(token_server)

    assert runner.invoke(args=["authorize-smtp"]).exit_code == 0
    assert settings(session).smtp_user == MS_USER


def test_authorize_smtp_declined_stores_nothing(app, runner, session, token_server):
    app.config.update(token_server.config())
    assert runner.invoke(args=MICROSOFT).exit_code == 0
    approve_when_asked(token_server, deny=True)

    result = runner.invoke(args=["authorize-smtp"])

    assert result.exit_code == 1 and "recusada" in result.output, result.output
    assert settings(session).oauth_refresh_token_encrypted == ""


def test_authorize_smtp_with_password_sign_in_says_what_to_do(runner):
    assert runner.invoke(args=[*BASE, "--user", "u"]).exit_code == 0
    result = runner.invoke(args=["authorize-smtp"])
    assert result.exit_code == 2 and "--auth-method microsoft" in result.output


def test_changing_the_client_forgets_the_authorization(app, runner, session, token_server):
    app.config.update(token_server.config())
    assert runner.invoke(args=MICROSOFT).exit_code == 0
    approve_when_asked(token_server)
    assert runner.invoke(args=["authorize-smtp"]).exit_code == 0
    assert runner.invoke(args=MICROSOFT).exit_code == 0          # same values: kept
    assert settings(session).oauth_refresh_token_encrypted

    other = [*BASE, "--auth-method", "microsoft", "--tenant", TENANT, "--client-id",
             "99999999-2222-3333-4444-555555555555", "--user", MS_USER]
    result = runner.invoke(args=other)

    assert "autorização anterior descartada" in result.output
    assert settings(session).oauth_refresh_token_encrypted == ""


def test_authorize_smtp_google_through_the_loopback_redirect(
        app, runner, session, token_server, db_url, tmp_path):
    instance = tmp_path / "instance"
    (instance / "config.py").write_text(
        "".join(f"{k} = {v!r}\n" for k, v in token_server.config().items()))
    assert runner.invoke(args=[*BASE, "--auth-method", "google", "--client-id", GOOGLE_CLIENT,
                               "--user", GOOGLE_USER, "--client-secret-stdin"],
                         input=GOOGLE_SECRET + "\n").exit_code == 0
    env = {**os.environ, "DATABASE_URL": db_url,
           "APPLIANCE_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "authorize-smtp",
                             "--no-browser"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        for line in proc.stdout:
            if line.startswith(token_server.base):
                url = line.strip()
                break
        assert "access_type=offline" in url and "code_challenge=" in url
        # What the browser does: Google's consent page redirects to the loopback address.
        consent = requests.get(url, allow_redirects=False, timeout=10,
                               verify=str(token_server.cafile))
        assert consent.status_code == 302
        loopback = consent.headers["Location"]
        assert loopback.startswith("http://127.0.0.1:")
        page = requests.get(loopback, timeout=10)
        assert "Autorização concluída" in page.text
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Autorização gravada" in out
    row = settings(session)
    refresh_token = decrypt_secret(app.instance_path, row.oauth_refresh_token_encrypted)
    assert refresh_token in token_server.live_refresh_tokens()


def test_the_sign_in_method_and_ids_are_station_settings(runner, session):
    for name, value in (("smtp_entrada", "microsoft"), ("oauth_tenant", TENANT),
                        ("oauth_client_id", MS_CLIENT)):
        result = runner.invoke(args=["settings", "set", name, value])
        assert result.exit_code == 0, result.output
    row = settings(session)
    assert (row.smtp_auth_method, row.oauth_tenant, row.oauth_client_id) == (
        "microsoft", TENANT, MS_CLIENT)
    listed = runner.invoke(args=["settings"]).output
    assert "smtp_entrada" in listed and "microsoft" in listed

    refused = runner.invoke(args=["settings", "set", "smtp_entrada", "yahoo"])
    assert refused.exit_code != 0 and "senha" in refused.output
    assert settings(session).smtp_auth_method == "microsoft"


def test_pointing_the_station_at_another_server_forgets_the_authorization(
        app, runner, session, token_server):
    app.config.update(token_server.config())
    assert runner.invoke(args=MICROSOFT).exit_code == 0
    approve_when_asked(token_server)
    assert runner.invoke(args=["authorize-smtp"]).exit_code == 0

    result = runner.invoke(args=[*MICROSOFT, "--server", "smtp.outro.example.com"])

    assert "autorização anterior descartada" in result.output
    assert settings(session).oauth_refresh_token_encrypted == ""
