"""OAuth 2.0 sign-in to the SMTP server (SASL XOAUTH2): the providers, the stored refresh token,
and the fresh access tokens a run needs.

Microsoft 365 through Microsoft's own library (msal), Google through Google's (google-auth);
each provider only turns a refresh token into an access token here. The one-time authorization
that yields the first refresh token lives in dunning/oauth_signin.py.

The refresh token is stored Fernet-encrypted like the password (dunning.crypto); a provider may
hand back a new one on every refresh (rotation) and invalidate the old, so a new one is stored at
once, before the access token is used.
"""
from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine

from dunning.crypto import decrypt_secret, encrypt_secret
from dunning.dberrors import retry_when_locked

PASSWORD, MICROSOFT, GOOGLE = "password", "microsoft", "google"
AUTH_METHODS = (PASSWORD, MICROSOFT, GOOGLE)
AUTH_METHOD_LABELS = {PASSWORD: "Usuário e senha", MICROSOFT: "Microsoft 365 (OAuth 2.0)",
                      GOOGLE: "Google (OAuth 2.0)"}
# Where each provider's mailbox is reached (STARTTLS on 587 for both).
PROVIDER_SERVERS = {MICROSOFT: "smtp.office365.com", GOOGLE: "smtp.gmail.com"}
# Delegated permission for SMTP AUTH in Exchange Online; msal adds offline_access (the refresh
# token), openid and profile by itself.
MICROSOFT_SCOPES = ["https://outlook.office.com/SMTP.Send"]
# Google has no narrower scope for SMTP.
GOOGLE_SCOPES = ["https://mail.google.com/"]
# An access token is renewed this long before it expires (Microsoft's and Google's last an hour);
# a short-lived one (tests) keeps a quarter of its life.
RENEW_MARGIN = 300
REAUTHORIZE = "Autorize novamente em Configurações › E-mail (SMTP)."


@dataclass(frozen=True)
class Endpoints:
    """The providers' addresses: the real ones unless the app config points elsewhere (tests)."""

    microsoft_authority_host: str = "https://login.microsoftonline.com"
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"

    @classmethod
    def from_config(cls, config) -> Endpoints:
        """Read OAUTH_MICROSOFT_AUTHORITY_HOST, OAUTH_GOOGLE_AUTH_URI, OAUTH_GOOGLE_TOKEN_URI."""
        default = cls()
        return cls(config.get("OAUTH_MICROSOFT_AUTHORITY_HOST") or default.microsoft_authority_host,
                   config.get("OAUTH_GOOGLE_AUTH_URI") or default.google_auth_uri,
                   config.get("OAUTH_GOOGLE_TOKEN_URI") or default.google_token_uri)


class AuthorizationRevoked(Exception):
    """The provider refused the refresh token (``invalid_grant``: consent revoked, token expired,
    account disabled) or the client: only a new authorization by staff helps."""


class ProviderUnreachable(Exception):
    """The provider could not be asked (network, timeout, 5xx): try again later."""


@dataclass(frozen=True)
class Tokens:
    """What a refresh yields: the access token, its lifetime, and the refresh token to keep."""

    access_token: str
    expires_in: float
    refresh_token: str
    account: str = ""


@dataclass(frozen=True)
class Client:
    """The station's OAuth client as stored in the settings (the secret decrypted)."""

    method: str
    client_id: str
    tenant: str = ""
    client_secret: str = ""
    endpoints: Endpoints = field(default_factory=Endpoints)

    @property
    def authority(self) -> str:
        return f"{self.endpoints.microsoft_authority_host.rstrip('/')}/{self.tenant}"

    def refresh(self, refresh_token: str) -> Tokens:
        """A new access token (and maybe a new refresh token) from the provider."""
        if self.method == MICROSOFT:
            return self._refresh_microsoft(refresh_token)
        return self._refresh_google(refresh_token)

    def msal_app(self):
        """msal's public client for this tenant (raises ProviderUnreachable when the tenant's
        OpenID configuration cannot be read)."""
        import msal
        import requests

        try:
            return msal.PublicClientApplication(
                self.client_id, authority=self.authority, timeout=30,
                # The real authority is known to msal; a test authority must not be looked up.
                validate_authority=self.endpoints == Endpoints(),
                instance_discovery=None if self.endpoints == Endpoints() else False)
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnreachable(f"Não foi possível consultar a Microsoft ({self.authority}): "
                                      f"{exc}") from exc

    def _refresh_microsoft(self, refresh_token: str) -> Tokens:
        import requests

        try:
            result = self.msal_app().acquire_token_by_refresh_token(refresh_token,
                                                                    MICROSOFT_SCOPES)
        except requests.RequestException as exc:
            raise ProviderUnreachable(f"Sem conexão com a Microsoft: {exc}") from exc
        return microsoft_tokens(result, refresh_token)

    def _refresh_google(self, refresh_token: str) -> Tokens:
        from google.auth import exceptions
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials

        credentials = Credentials(None, refresh_token=refresh_token,
                                  token_uri=self.endpoints.google_token_uri,
                                  client_id=self.client_id, client_secret=self.client_secret,
                                  scopes=GOOGLE_SCOPES)
        try:
            credentials.refresh(Request())
        except exceptions.RefreshError as exc:
            data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            if data.get("error") or not getattr(exc, "retryable", False):
                raise AuthorizationRevoked(_provider_error("Google", data, exc)) from exc
            raise ProviderUnreachable(f"Falha temporária no Google: {exc}") from exc
        except exceptions.TransportError as exc:
            raise ProviderUnreachable(f"Sem conexão com o Google: {exc}") from exc
        return google_tokens(credentials, refresh_token)


def microsoft_tokens(result: dict, refresh_token: str = "") -> Tokens:
    """msal's answer as Tokens, or AuthorizationRevoked / ProviderUnreachable."""
    if "access_token" not in result:
        if str(result.get("error", "")).startswith(("temporarily_unavailable", "server_error")):
            raise ProviderUnreachable(_provider_error("Microsoft", result))
        raise AuthorizationRevoked(_provider_error("Microsoft", result))
    claims = result.get("id_token_claims") or {}
    return Tokens(result["access_token"], float(result.get("expires_in", 3600)),
                  result.get("refresh_token") or refresh_token,
                  claims.get("preferred_username") or claims.get("email") or "")


def google_tokens(credentials, refresh_token: str = "") -> Tokens:
    """google-auth's credentials as Tokens."""
    expires_in = 3600.0
    if credentials.expiry is not None:
        expires_in = (credentials.expiry - _utcnow()).total_seconds()
    return Tokens(credentials.token, expires_in, credentials.refresh_token or refresh_token)


def _utcnow() -> datetime:
    from google.auth import _helpers
    return _helpers.utcnow()


def _provider_error(provider: str, data: dict, exc: Exception | None = None) -> str:
    """The provider's refusal in a sentence staff can forward to their IT."""
    code = data.get("error") or ""
    detail = str(data.get("error_description") or exc or "").splitlines()[0][:300] if (
        data.get("error_description") or exc) else ""
    return f"{provider} recusou a autorização ({code or 'erro'}: {detail})".replace(": )", ")")


def xoauth2_string(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response before base64 (smtplib encodes it)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def xoauth2_base64(user: str, access_token: str) -> str:
    """The same, base64-encoded as it travels on the wire."""
    return base64.b64encode(xoauth2_string(user, access_token).encode("ascii")).decode("ascii")


@dataclass
class Outcome:
    """A refresh's outcome, for the settings row: the token to keep, or the failure."""

    when: datetime
    refresh_token: str = ""
    error: str = ""


class TokenSource:
    """Fresh access tokens for one run (or one test e-mail): refreshes when there is none or it
    is about to expire, and reports every outcome (``on_outcome``) so the rotated refresh token
    and the status are stored at once."""

    def __init__(self, client: Client, refresh_token: str, on_outcome: Callable[[Outcome], None],
                 now: Callable[[], datetime] = datetime.now,
                 monotonic: Callable[[], float] = time.monotonic):
        self.client = client
        self._refresh_token = refresh_token
        self._on_outcome = on_outcome
        self._now = now
        self._monotonic = monotonic
        self._token = ""
        self._renew_at = 0.0
        self.refreshes = 0

    def access_token(self) -> str:
        """A token valid for a while yet; raises AuthorizationRevoked or ProviderUnreachable."""
        if not self._token or self.expiring():
            self._refresh()
        return self._token

    def expiring(self) -> bool:
        """Whether the current token is (about to be) expired: the connection made with it
        should be replaced before the next message."""
        return bool(self._token) and self._monotonic() >= self._renew_at

    def refused(self, message: str) -> None:
        """The SMTP server refused the token: record the failure (staff must authorize again)."""
        self._token = ""
        self._on_outcome(Outcome(self._now(), error=message))

    def _refresh(self) -> None:
        if not self._refresh_token:
            raise AuthorizationRevoked("Nenhuma autorização gravada.")
        try:
            tokens = self.client.refresh(self._refresh_token)
        except AuthorizationRevoked as exc:
            self._on_outcome(Outcome(self._now(), error=str(exc)))
            raise
        self.refreshes += 1
        self._refresh_token = tokens.refresh_token
        self._token = tokens.access_token
        self._renew_at = self._monotonic() + tokens.expires_in - min(RENEW_MARGIN,
                                                                     tokens.expires_in / 4)
        self._on_outcome(Outcome(self._now(), refresh_token=tokens.refresh_token))


def stored_client(settings, instance_path: str | os.PathLike, endpoints: Endpoints) -> Client:
    """The station's OAuth client from its settings row (or a snapshot of it)."""
    return Client(settings.smtp_auth_method, settings.oauth_client_id or "",
                  settings.oauth_tenant or "",
                  decrypt_secret(instance_path, settings.oauth_client_secret_encrypted or ""),
                  endpoints)


def token_source(settings, instance_path: str | os.PathLike, engine: Engine,
                 endpoints: Endpoints, now: Callable[[], datetime] = datetime.now,
                 monotonic: Callable[[], float] = time.monotonic,
                 busy_limit: float = 3600.0) -> TokenSource:
    """A TokenSource for the stored authorization whose outcomes are written to the settings row
    on a connection of their own (committed at once, whatever the caller's session does), retried
    for up to ``busy_limit`` seconds while another writer (an invoice import) holds the database:
    a rotated refresh token that is not stored would lock the station out."""
    client = stored_client(settings, instance_path, endpoints)
    refresh_token = decrypt_secret(instance_path, settings.oauth_refresh_token_encrypted or "")

    def record(outcome: Outcome) -> None:
        def write() -> None:
            with engine.begin() as conn:
                conn.execute(outcome_update(outcome, instance_path))

        retry_when_locked(write, lambda: None, busy_limit)

    return TokenSource(client, refresh_token, record, now, monotonic)


def outcome_update(outcome: Outcome, instance_path: str | os.PathLike):
    """The UPDATE of the settings row that records a refresh's outcome."""
    from models.settings import StationSettings

    table = StationSettings.__table__
    if outcome.error:
        values = {"oauth_failed_at": outcome.when, "oauth_error": outcome.error[:1000]}
    else:
        values = {"oauth_refreshed_at": outcome.when, "oauth_error": "",
                  "oauth_refresh_token_encrypted": encrypt_secret(instance_path,
                                                                  outcome.refresh_token)}
    return update(table).where(table.c.id == 1).values(**values)
