"""A real OAuth 2.0 authority for the tests (HTTPS on 127.0.0.1) that msal and google-auth are
pointed at: Microsoft's OpenID configuration, device-code and token endpoints, and Google's
authorization and token endpoints.

It issues access and refresh tokens, refreshes them (rotating the refresh token: the old one
stops working), expires access tokens after ``lifetimes`` seconds, and refuses revoked or unknown
refresh tokens with ``invalid_grant``. ``valid(user, token)`` is what the test SMTP server asks
before accepting an XOAUTH2 sign-in. Point ``REQUESTS_CA_BUNDLE`` at ``server.cafile``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

from smtpserver import free_port, make_certificate

TENANT = "posto-tenant"
MS_CLIENT = "11111111-2222-3333-4444-555555555555"
MS_USER = "cobranca@posto.example.com"
GOOGLE_CLIENT = "12345-abc.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-segredo-de-teste"
GOOGLE_USER = "cobranca@posto.example.com"


@dataclass
class _Grant:
    user: str
    client_id: str
    valid: bool = True


class TokenServer:
    """The authority's state, shared by its request handler threads."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.cafile, key_file = make_certificate(folder)
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.rotate = True
        self.lifetimes: list[float] = []   # next access tokens' lifetimes (then 3600 s)
        self.refresh_tokens: dict[str, _Grant] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expires_at)
        self.device_codes: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.google_user = GOOGLE_USER
        self.refreshes = 0
        self.token_requests: list[dict] = []
        self.refuse_after: int | None = None  # refresh grants after this many: invalid_grant
        handler = type("Handler", (_Handler,), {"authority": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cafile, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> TokenServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what the tests do -------------------------------------------------------------------

    def config(self) -> dict:
        """App config that points the station at this authority."""
        return {"OAUTH_MICROSOFT_AUTHORITY_HOST": self.base,
                "OAUTH_GOOGLE_AUTH_URI": f"{self.base}/o/oauth2/auth",
                "OAUTH_GOOGLE_TOKEN_URI": f"{self.base}/token"}

    def approve(self, user_code: str, user: str = MS_USER) -> None:
        """The person signs in at the verification page and enters ``user_code``."""
        with self.lock:
            for flow in self.device_codes.values():
                if flow["user_code"] == user_code:
                    flow["user"] = user
                    return
        raise KeyError(user_code)

    def deny(self, user_code: str) -> None:
        """The person declines the consent."""
        with self.lock:
            for flow in self.device_codes.values():
                if flow["user_code"] == user_code:
                    flow["denied"] = True

    def grant(self, user: str, client_id: str) -> str:
        """A refresh token issued earlier (as if staff had authorized)."""
        token = "rt-" + secrets.token_urlsafe(16)
        with self.lock:
            self.refresh_tokens[token] = _Grant(user, client_id)
        return token

    def revoke(self, user: str | None = None) -> None:
        """Consent revoked / account disabled: every refresh and access token stops working."""
        with self.lock:
            for grant in self.refresh_tokens.values():
                if user is None or grant.user == user:
                    grant.valid = False
            self.access_tokens = {t: v for t, v in self.access_tokens.items()
                                  if user is not None and v[0] != user}

    def valid(self, user: str, token: str) -> bool:
        """Whether ``token`` is a live access token of ``user`` (the SMTP server's check)."""
        with self.lock:
            owner, expires_at = self.access_tokens.get(token, ("", 0.0))
        return owner == user and time.monotonic() < expires_at

    def live_refresh_tokens(self) -> list[str]:
        with self.lock:
            return [t for t, g in self.refresh_tokens.items() if g.valid]

    # --- the endpoints' logic ------------------------------------------------------------------

    def _issue(self, user: str, client_id: str, id_token: bool, refresh: bool = True) -> dict:
        with self.lock:
            lifetime = self.lifetimes.pop(0) if self.lifetimes else 3600
            access = "at-" + secrets.token_urlsafe(16)
            self.access_tokens[access] = (user, time.monotonic() + lifetime)
        body = {"token_type": "Bearer", "access_token": access, "expires_in": lifetime,
                "scope": "https://outlook.office.com/SMTP.Send" if id_token
                else "https://mail.google.com/"}
        if refresh:
            body["refresh_token"] = self.grant(user, client_id)
        if id_token:
            body["id_token"] = _jwt({"iss": f"{self.base}/{TENANT}/v2.0", "aud": client_id,
                                     "iat": int(time.time()), "exp": int(time.time()) + 3600,
                                     "sub": user, "oid": "oid-" + user, "tid": TENANT,
                                     "preferred_username": user, "name": "Cobrança Posto"})
        return body

    def token(self, form: dict) -> tuple[int, dict]:
        with self.lock:
            self.token_requests.append(form)
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        microsoft = client_id == MS_CLIENT
        if not microsoft and (client_id != GOOGLE_CLIENT
                              or form.get("client_secret") != GOOGLE_SECRET):
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was "
                                                                          "not found."}
        if grant == "refresh_token":
            with self.lock:
                stored = self.refresh_tokens.get(form.get("refresh_token", ""))
                usable = stored is not None and stored.valid and stored.client_id == client_id \
                    and (self.refuse_after is None or self.refreshes < self.refuse_after)
                if usable and self.rotate:
                    stored.valid = False
                if usable:
                    self.refreshes += 1
            if not usable:
                return 400, {"error": "invalid_grant",
                             "error_description": "AADSTS70000: The refresh token has expired "
                                                  "or has been revoked." if microsoft else
                                                  "Token has been expired or revoked."}
            return 200, self._issue(stored.user, client_id, microsoft, refresh=self.rotate)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self.lock:
                flow = self.device_codes.get(form.get("device_code", ""))
            if flow is None:
                return 400, {"error": "expired_token", "error_description": "Code expired."}
            if flow.get("denied"):
                return 400, {"error": "authorization_declined",
                             "error_description": "The user declined."}
            if not flow.get("user"):
                return 400, {"error": "authorization_pending",
                             "error_description": "Waiting for the user."}
            with self.lock:
                self.device_codes.pop(form["device_code"])
            return 200, self._issue(flow["user"], client_id, True)
        if grant == "authorization_code":
            with self.lock:
                code = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if code is None or code["redirect_uri"] != form.get("redirect_uri") \
                    or code["challenge"] != challenge:
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            return 200, self._issue(code["user"], client_id, False)
        return 400, {"error": "unsupported_grant_type"}

    def device_code(self, form: dict) -> dict:
        device_code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        with self.lock:
            self.device_codes[device_code] = {"user_code": user_code, "scope": form.get("scope")}
        uri = f"{self.base}/devicelogin"
        return {"device_code": device_code, "user_code": user_code, "verification_uri": uri,
                "expires_in": 900, "interval": 1,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the "
                           f"code {user_code} to authenticate."}

    def authorize(self, query: dict) -> str:
        """Google's consent page, already agreed: the redirect back with a code."""
        code = "code-" + secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = {"redirect_uri": query["redirect_uri"], "user": self.google_user,
                                "challenge": query.get("code_challenge", "")}
        return query["redirect_uri"] + "?" + urlencode({"state": query.get("state", ""),
                                                        "code": code,
                                                        "scope": query.get("scope", "")})


class _Handler(BaseHTTPRequestHandler):
    authority: TokenServer

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        base = self.authority.base
        if url.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            prefix = f"{base}/{TENANT}/oauth2/v2.0"
            return self._json(200, {"issuer": f"{base}/{TENANT}/v2.0",
                                    "authorization_endpoint": f"{prefix}/authorize",
                                    "token_endpoint": f"{prefix}/token",
                                    "device_authorization_endpoint": f"{prefix}/devicecode"})
        if url.path == "/o/oauth2/auth":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if query.get("client_id") != GOOGLE_CLIENT:
                return self._json(400, {"error": "invalid_client"})
            self.send_response(302)
            self.send_header("Location", self.authority.authorize(query))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):  # RFC 6749 2.3.1: the client may authenticate either way
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.update(client_id=unquote_plus(client_id), client_secret=unquote_plus(secret))
        if self.path.endswith("/devicecode"):
            return self._json(200, self.authority.device_code(form))
        if self.path in (f"/{TENANT}/oauth2/v2.0/token", "/token"):
            return self._json(*self.authority.token(form))
        return self._json(404, {"error": "not_found"})


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"
