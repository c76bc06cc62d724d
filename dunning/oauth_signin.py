"""The one-time OAuth 2.0 authorization that gives the station its refresh token.

Microsoft 365: the device-code flow (msal). The app asks Microsoft for a short code; staff open
the verification page on any device, type the code and sign in with the mailbox's account; msal
polls until that is done. Nothing has to reach the station's PC, so it works from the browser
page and from the command line alike.

Google: the installed-app flow with a loopback redirect (google-auth-oauthlib). Google sends
the browser back to ``http://127.0.0.1:PORT/...`` with a code; the code plus the PKCE verifier
are exchanged for the tokens. In the browser that loopback address is this app's own page
(see blueprints/oauth.py); on the command line it is the library's one-request local server.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from dunning.crypto import encrypt_secret
from dunning.oauth import (GOOGLE_SCOPES, MICROSOFT_SCOPES, AuthorizationRevoked, Client,
                           ProviderUnreachable, Tokens, google_tokens, microsoft_tokens)
from models.settings import StationSettings

# Answers of the device-code flow that staff can act on, in Portuguese.
DEVICE_FLOW_ERRORS = {
    "authorization_declined": "a autorização foi recusada na página da Microsoft",
    "expired_token": "o código expirou antes de a autorização ser concluída; comece de novo",
    "bad_verification_code": "código de verificação inválido; comece de novo",
}


@dataclass
class DeviceFlow:
    """A started device-code authorization: what staff must see, and msal's state."""

    user_code: str
    verification_uri: str
    expires_at: float
    app: object = field(repr=False)
    flow: dict = field(repr=False)

    def cancel(self) -> None:
        """Make a waiting ``finish_device_flow`` return at its next poll."""
        self.flow["expires_at"] = 0


def start_device_flow(client: Client) -> DeviceFlow:
    """Ask Microsoft for a device code; raises ProviderUnreachable or AuthorizationRevoked."""
    import requests

    app = client.msal_app()
    try:
        flow = app.initiate_device_flow(scopes=MICROSOFT_SCOPES)
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnreachable(f"Sem conexão com a Microsoft: {exc}") from exc
    if "user_code" not in flow:
        microsoft_tokens(flow)  # raises with Microsoft's reason (unknown client, tenant...)
    return DeviceFlow(flow["user_code"], flow["verification_uri"], flow["expires_at"], app, flow)


def finish_device_flow(device: DeviceFlow) -> Tokens:
    """Wait until staff have signed in (or the code expires); the tokens, or
    AuthorizationRevoked with the reason."""
    import requests

    try:
        result = device.app.acquire_token_by_device_flow(device.flow)
    except requests.RequestException as exc:
        raise ProviderUnreachable(f"Sem conexão com a Microsoft: {exc}") from exc
    error = result.get("error", "")
    if error in DEVICE_FLOW_ERRORS or (error == "authorization_pending"):
        raise AuthorizationRevoked(DEVICE_FLOW_ERRORS.get(error, DEVICE_FLOW_ERRORS[
            "expired_token"]))
    return microsoft_tokens(result)


def google_flow(client: Client, redirect_uri: str):
    """google-auth-oauthlib's flow for this client and loopback redirect (PKCE on)."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    config = {"installed": {"client_id": client.client_id, "client_secret": client.client_secret,
                            "auth_uri": client.endpoints.google_auth_uri,
                            "token_uri": client.endpoints.google_token_uri,
                            "redirect_uris": ["http://127.0.0.1", "http://localhost"]}}
    return InstalledAppFlow.from_client_config(config, scopes=GOOGLE_SCOPES,
                                               redirect_uri=redirect_uri)


# ``access_type=offline`` asks for a refresh token; ``prompt=consent`` makes Google hand one out
# even to an account that authorized this client before.
GOOGLE_AUTH_OPTIONS = {"access_type": "offline", "prompt": "consent"}


def google_authorization_url(flow) -> tuple[str, str]:
    """(the address staff open, the state to check on the way back)."""
    return flow.authorization_url(**GOOGLE_AUTH_OPTIONS)


def finish_google_flow(flow, code: str) -> Tokens:
    """Exchange the code Google sent back for the tokens."""
    import requests
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    try:
        flow.fetch_token(code=code)
    except OAuth2Error as exc:
        raise AuthorizationRevoked(f"Google recusou a autorização ({exc.error}: "
                                   f"{exc.description or ''})".replace(": )", ")")) from exc
    except requests.RequestException as exc:
        raise ProviderUnreachable(f"Sem conexão com o Google: {exc}") from exc
    return google_tokens(flow.credentials)


def store_authorization(session: Session, instance_path: str | os.PathLike, tokens: Tokens,
                        when: datetime) -> str:
    """Keep the refresh token (encrypted) and who authorized; a blank SMTP user becomes that
    account. Returns a pt-BR warning when the account differs from the SMTP user ('' if not)."""
    if not tokens.refresh_token:
        raise AuthorizationRevoked("o provedor não entregou um token de renovação (refresh "
                                   "token); confira as permissões do aplicativo e tente de novo")
    settings = StationSettings.load(session)
    settings.oauth_refresh_token_encrypted = encrypt_secret(instance_path, tokens.refresh_token)
    settings.oauth_account = tokens.account or settings.smtp_user
    settings.oauth_refreshed_at, settings.oauth_failed_at, settings.oauth_error = when, None, ""
    if not settings.smtp_user and tokens.account:
        settings.smtp_user = tokens.account
    warning = ""
    if tokens.account and settings.smtp_user.lower() != tokens.account.lower():
        warning = (f"Atenção: a conta autorizada ({tokens.account}) é diferente do usuário SMTP "
                   f"({settings.smtp_user}); o servidor só aceita o envio se as duas forem a "
                   f"mesma caixa de correio.")
    session.commit()
    return warning


class SignInJob:
    """A device-code authorization waiting in a background thread, for the browser page that
    polls it. ``state``: "waiting", "done" or "error"; ``message`` says what happened."""

    def __init__(self, device: DeviceFlow):
        self.device = device
        self.state = "waiting"
        self.message = ""
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def finish(self, state: str, message: str) -> None:
        with self._lock:
            if self.state == "waiting":
                self.state, self.message = state, message

    def as_json(self) -> dict:
        with self._lock:
            return {"state": self.state, "message": self.message,
                    "user_code": self.device.user_code,
                    "verification_uri": self.device.verification_uri}
