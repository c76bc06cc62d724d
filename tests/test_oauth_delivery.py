"""The run and the test e-mail signed in with OAuth 2.0 (XOAUTH2): msal and google-auth against a
local authority (tests/oauthserver.py), the SMTP server accepting only live tokens."""
from __future__ import annotations

import base64
import time
from datetime import datetime

import pytest
from sqlalchemy import select

from dunning.crypto import decrypt_secret, encrypt_secret
from dunning.delivery import CannotRun, DeliveryOptions, run
from dunning.manual import send_test_email
from dunning.oauth import Endpoints, xoauth2_base64
from models import OutboxLine, StationSettings
from oauthserver import GOOGLE_CLIENT, GOOGLE_SECRET, GOOGLE_USER, MS_CLIENT, MS_USER, TENANT
from smtpserver import configure_station
from test_delivery import AS_OF, load_customers, lines

REAUTHORIZE = "autorize novamente em configurações"


def options(token_server, **knobs) -> DeliveryOptions:
    return DeliveryOptions(attempts=2, backoff=0.01,
                           oauth_endpoints=Endpoints.from_config(token_server.config()), **knobs)


def hour_later_after_first_message(smtp):
    """A monotonic clock that jumps an hour once the server has the first message: the access
    token obtained at the start expires in the middle of the run, whatever the machine's load."""
    return lambda: time.monotonic() + (3600 if smtp.received else 0)


def authorize_station(app, session, smtp, token_server, method: str = "microsoft",
                      user: str | None = None) -> str:
    """Point the station at ``smtp`` with OAuth 2.0 sign-in and a refresh token already granted;
    returns that refresh token."""
    microsoft = method == "microsoft"
    client = MS_CLIENT if microsoft else GOOGLE_CLIENT
    account = MS_USER if microsoft else GOOGLE_USER
    refresh_token = token_server.grant(account, client)
    settings = configure_station(session, smtp, app.instance_path, smtp_user=user or account)
    settings.smtp_password_encrypted = ""
    settings.smtp_auth_method = method
    settings.oauth_client_id = client
    settings.oauth_tenant = TENANT if microsoft else ""
    settings.oauth_client_secret_encrypted = "" if microsoft else encrypt_secret(
        app.instance_path, GOOGLE_SECRET)
    settings.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, refresh_token)
    session.commit()
    return refresh_token


def stored(app, session) -> StationSettings:
    session.expire_all()
    return StationSettings.load(session)


def stored_refresh_token(app, session) -> str:
    return decrypt_secret(app.instance_path, stored(app, session).oauth_refresh_token_encrypted)


def test_xoauth2_initial_response_is_the_documented_string():
    expected = base64.b64encode(b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01")
    assert xoauth2_base64("someuser@example.com",
                          "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg") == expected.decode()


@pytest.mark.parametrize("method", ["microsoft", "google"])
def test_run_signs_in_with_a_fresh_token_and_stores_the_rotated_refresh_token(
        app, session, oauth_smtp_server, token_server, method):
    addresses = load_customers(session)
    first = authorize_station(app, session, oauth_smtp_server, token_server, method)

    report = run(session, AS_OF, app.instance_path, options=options(token_server))

    assert (report.exit_code, report.sent, report.failed) == (0, 3, 0)
    assert [len(oauth_smtp_server.messages_to(a)) for a in addresses] == [1, 1, 1]
    attempts = oauth_smtp_server.xoauth2_attempts
    assert len(attempts) == 1 and attempts[0][0] == (MS_USER if method == "microsoft"
                                                     else GOOGLE_USER) and attempts[0][2]
    # Rotation: the old refresh token no longer works; the new one is stored, encrypted.
    assert first not in token_server.live_refresh_tokens()
    kept = stored_refresh_token(app, session)
    assert kept != first and kept in token_server.live_refresh_tokens()
    assert kept not in stored(app, session).oauth_refresh_token_encrypted
    row = stored(app, session)
    assert row.oauth_refreshed_at is not None and row.oauth_error == ""


def test_a_provider_that_does_not_rotate_keeps_the_stored_refresh_token(
        app, session, oauth_smtp_server, token_server):
    load_customers(session, count=1)
    token_server.rotate = False
    first = authorize_station(app, session, oauth_smtp_server, token_server, "google")

    assert run(session, AS_OF, app.instance_path, options=options(token_server)).sent == 1
    assert stored_refresh_token(app, session) == first


def test_a_token_that_expires_mid_run_is_refreshed_and_the_run_goes_on(
        app, session, oauth_smtp_server, token_server):
    addresses = load_customers(session, count=3)
    authorize_station(app, session, oauth_smtp_server, token_server)

    report = run(session, AS_OF, app.instance_path, options=options(
        token_server, monotonic=hour_later_after_first_message(oauth_smtp_server)))

    assert (report.exit_code, report.sent) == (0, 3)
    assert [len(oauth_smtp_server.messages_to(a)) for a in addresses] == [1, 1, 1]
    attempts = oauth_smtp_server.xoauth2_attempts
    assert len(attempts) == 2 and all(ok for _, _, ok in attempts)
    assert attempts[0][1] != attempts[1][1]
    assert token_server.refreshes == 2
    assert oauth_smtp_server.connections == 2
    assert stored_refresh_token(app, session) in token_server.live_refresh_tokens()


@pytest.mark.parametrize("method", ["microsoft", "google"])
def test_a_revoked_authorization_stops_the_run_before_anything_is_queued(
        app, session, oauth_smtp_server, token_server, runner, method):
    load_customers(session)
    authorize_station(app, session, oauth_smtp_server, token_server, method)
    token_server.revoke()
    app.config.update(token_server.config())

    with pytest.raises(CannotRun, match="(?i)autorize novamente em Configurações"):
        run(session, AS_OF, app.instance_path, options=options(token_server))
    assert session.scalars(select(OutboxLine)).all() == []
    assert oauth_smtp_server.received == [] and oauth_smtp_server.xoauth2_attempts == []
    row = stored(app, session)
    assert "invalid_grant" in row.oauth_error and row.oauth_failed_at is not None

    result = runner.invoke(args=["email-pendencia-financeira", "--date", AS_OF.isoformat()])
    assert result.exit_code == 2
    assert REAUTHORIZE in result.output.lower() and "Traceback" not in result.output
    assert session.scalars(select(OutboxLine)).all() == []


def test_a_refresh_refused_mid_run_stops_it_at_once_with_exit_2(
        app, session, oauth_smtp_server, token_server):
    load_customers(session, count=3)
    authorize_station(app, session, oauth_smtp_server, token_server)
    token_server.refuse_after = 1           # the refresh after the first one: invalid_grant

    report = run(session, AS_OF, app.instance_path, options=options(
        token_server, monotonic=hour_later_after_first_message(oauth_smtp_server)))

    assert (report.exit_code, report.status, report.sent) == (2, "stopped", 1)
    assert REAUTHORIZE in report.message.lower() and "invalid_grant" in report.message
    assert len(oauth_smtp_server.received) == 1
    statuses = sorted(line.status for line in lines(session).values())
    assert statuses == ["pending", "pending", "sent"]   # nothing marked failed
    assert "invalid_grant" in stored(app, session).oauth_error


def test_a_token_the_smtp_server_refuses_stops_the_run_and_marks_nobody(
        app, session, oauth_smtp_server, token_server):
    load_customers(session)
    # The mailbox configured is not the one that authorized: the server refuses the token.
    authorize_station(app, session, oauth_smtp_server, token_server,
                      user="outra.caixa@posto.example.com")

    report = run(session, AS_OF, app.instance_path, options=options(token_server))

    assert report.exit_code == 2 and report.status == "stopped"
    assert REAUTHORIZE in report.message.lower() and "535" in report.message
    assert oauth_smtp_server.received == []
    assert len(oauth_smtp_server.xoauth2_attempts) == 1   # once: no hammering of the account
    assert {line.status for line in lines(session).values()} == {"pending"}
    assert "535" in stored(app, session).oauth_error


@pytest.mark.parametrize("method", ["microsoft", "google"])
def test_the_test_email_signs_in_with_oauth(app, session, oauth_smtp_server, token_server, method):
    authorize_station(app, session, oauth_smtp_server, token_server, method)

    code, _reply = send_test_email(session, "teste@posto.example.com", app.instance_path,
                                   datetime(2026, 11, 27, 9, 0), options(token_server))

    assert code == 250
    assert len(oauth_smtp_server.messages_to("teste@posto.example.com")) == 1
    assert stored(app, session).oauth_refreshed_at is not None


def test_the_test_email_with_a_revoked_authorization_says_to_authorize_again(
        app, session, oauth_smtp_server, token_server, runner):
    authorize_station(app, session, oauth_smtp_server, token_server)
    token_server.revoke()
    app.config.update(token_server.config())

    result = runner.invoke(args=["send-test-email", "teste@posto.example.com"])

    assert result.exit_code != 0
    assert REAUTHORIZE in result.output.lower() and "Traceback" not in result.output
    assert oauth_smtp_server.received == []


@pytest.mark.sqlite_only  # SQLite's whole-file write lock
def test_a_rotated_refresh_token_is_stored_even_while_an_import_holds_the_database(
        app, session, db_path, token_server):
    """The provider has already invalidated the old refresh token: if the new one could not be
    written because another writer (an import) holds the file, the station would be locked out.
    The write is retried until the lock goes."""
    import sqlite3
    import threading

    from sqlalchemy import create_engine

    from dunning.oauth import token_source

    first = token_server.grant(MS_USER, MS_CLIENT)
    row = StationSettings.load(session)
    row.smtp_auth_method, row.oauth_tenant, row.oauth_client_id = "microsoft", TENANT, MS_CLIENT
    row.smtp_user = MS_USER
    row.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, first)
    session.commit()
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0.2})
    tokens = token_source(row, app.instance_path, engine,
                          Endpoints.from_config(token_server.config()), busy_limit=30)
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # as an import's transaction does
    threading.Timer(1.5, holder.rollback).start()
    try:
        assert tokens.access_token()
    finally:
        engine.dispose()
        holder.close()

    kept = stored_refresh_token(app, session)
    assert kept != first and kept in token_server.live_refresh_tokens()
    assert first not in token_server.live_refresh_tokens()
