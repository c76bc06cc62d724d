"""Command-line OAuth 2.0 authorization of the SMTP mailbox: ``authorize-smtp``.

Registered on the ``cli`` blueprint (imported at the end of blueprints/cli.py).
"""
from __future__ import annotations

import sys
import webbrowser
from datetime import datetime

import click
from flask import current_app

from blueprints.cli import bp
from dunning.crypto import SecretUnreadable
from dunning.oauth import (AUTH_METHOD_LABELS, MICROSOFT, AuthorizationRevoked, Endpoints,
                           ProviderUnreachable, google_tokens, stored_client)
from dunning.oauth_signin import (GOOGLE_AUTH_OPTIONS, finish_device_flow, google_flow,
                                  start_device_flow, store_authorization)
from dunning.settings_registry import integer
from models import StationSettings, db

SUCCESS_PAGE = ("Autorização concluída. Pode fechar esta janela e voltar ao sistema de "
                "cobrança.")


@bp.cli.command("authorize-smtp")
@click.option("--no-browser", is_flag=True,
              help="Google: print the address to open instead of opening the browser")
@click.option("--port", default="0",
              help="Google: loopback port for the redirect (0 to 65535; 0 = any free port)")
def authorize_smtp_command(no_browser: bool, port: str) -> None:
    """Authorize the SMTP mailbox with OAuth 2.0 (Microsoft 365: device code; Google: browser)."""
    try:
        port = integer("--port", 0, 65535)(port)  # a pt-BR message, as `settings set` gives
    except ValueError as exc:
        _fail(str(exc))
    settings = StationSettings.load(db.session)
    db.session.commit()
    if not settings.uses_oauth:
        _fail("O SMTP usa usuário e senha; configure antes com `configure-smtp --auth-method "
              "microsoft` ou `--auth-method google`.")
    try:
        client = stored_client(settings, current_app.instance_path,
                               Endpoints.from_config(current_app.config))
    except SecretUnreadable as exc:
        _fail(str(exc))
    click.echo(f"Autorizando {AUTH_METHOD_LABELS[settings.smtp_auth_method]} para "
               f"{settings.smtp_user or 'a caixa de correio da estação'}.")
    try:
        if settings.smtp_auth_method == MICROSOFT:
            tokens = _microsoft(client)
        else:
            tokens = _google(client, no_browser, port)
    except (AuthorizationRevoked, ProviderUnreachable) as exc:
        click.echo(f"Autorização não concluída: {exc}", err=True)
        sys.exit(1)
    try:
        warning = store_authorization(db.session, current_app.instance_path, tokens,
                                      datetime.now())
    except AuthorizationRevoked as exc:
        click.echo(f"Autorização não concluída: {exc}", err=True)
        sys.exit(1)
    stored = StationSettings.load(db.session)
    click.echo(f"Autorização gravada (criptografada) para {stored.oauth_account or stored.smtp_user}."
               f" Teste com `flask --app app send-test-email ENDEREÇO`.")
    if warning:
        click.echo(warning, err=True)


def _microsoft(client):
    """The device-code flow: show the code and the address, wait for the sign-in."""
    device = start_device_flow(client)
    minutes = max(1, round((device.expires_at - datetime.now().timestamp()) / 60))
    click.echo(f"Em qualquer navegador, abra {device.verification_uri} e digite o código "
               f"{device.user_code}; entre com a conta da caixa de correio que envia.")
    click.echo(f"Aguardando a autorização (o código vale {minutes} minutos)...")
    return finish_device_flow(device)


def _google(client, no_browser: bool, port: int):
    """The installed-app flow: the library's one-request loopback server on this computer
    receives Google's redirect (so the browser must run on this computer)."""
    from google_auth_oauthlib.flow import WSGITimeoutError
    import requests
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    flow = google_flow(client, redirect_uri=None)
    try:
        credentials = flow.run_local_server(
            host="127.0.0.1", port=port, open_browser=not no_browser and _has_browser(),
            authorization_prompt_message="Abra este endereço no navegador deste computador e "
                                         "autorize com a conta que envia:\n{url}",
            success_message=SUCCESS_PAGE, timeout_seconds=600, **GOOGLE_AUTH_OPTIONS)
    except WSGITimeoutError as exc:
        raise AuthorizationRevoked("o navegador não voltou em 10 minutos; comece de novo") \
            from exc
    except OAuth2Error as exc:
        raise AuthorizationRevoked(f"Google recusou a autorização ({exc.error}: "
                                   f"{exc.description or ''})") from exc
    except requests.RequestException as exc:
        raise ProviderUnreachable(f"Sem conexão com o Google: {exc}") from exc
    except OSError as exc:
        _fail(f"Não foi possível abrir a porta local {port} para o retorno do Google: {exc}")
    return google_tokens(credentials)


def _has_browser() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _fail(message: str) -> None:
    click.echo(f"Erro: {message}", err=True)
    sys.exit(2)
