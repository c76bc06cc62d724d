"""Configurações › E-mail (SMTP) › Autorizar: the OAuth 2.0 authorization from the browser.

Microsoft 365 (device code): the page shows the code and the address; msal waits for the
sign-in in a background thread and the page asks ``/estado`` every two seconds until it is done.

Google (loopback redirect): this app's own page on the loopback address is the redirect URI,
so the browser must run on the station's PC (the app listens on 127.0.0.1). Google sends the
browser back to ``/configuracoes/oauth/google/retorno`` with a code, which is exchanged for the
tokens there, with the staff member's session and the flow's state and PKCE verifier checked.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)

from blueprints.forms import PageForm
from dunning.crypto import SecretUnreadable
from dunning.oauth import (AUTH_METHOD_LABELS, MICROSOFT, AuthorizationRevoked, Endpoints,
                           ProviderUnreachable, stored_client)
from dunning.oauth_signin import (SignInJob, finish_device_flow, finish_google_flow,
                                  google_authorization_url, google_flow, start_device_flow,
                                  store_authorization)
from models import StationSettings, db

bp = Blueprint("oauth", __name__, url_prefix="/configuracoes/oauth")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
GOOGLE_FLOW_TTL = 900  # seconds a started Google authorization waits for the browser's return


class AuthorizeForm(PageForm):
    """Only the CSRF token: the "Autorizar" button."""


class _State:
    """This process's authorizations under way (one station, one staff member at a time)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.job: SignInJob | None = None
        self.google: dict[str, tuple[object, float]] = {}


def _state() -> _State:
    return current_app.extensions.setdefault("smtp_oauth", _State())


def _back():
    return redirect(url_for("settings.index") + "#autorizacao")


def _say(message: str, kind: str) -> None:
    """Flash ``message`` inside Configurações' authorization box, or in the SMTP section while
    no OAuth 2.0 method is chosen (there is no box then)."""
    section = "autorizacao" if StationSettings.load(db.session).uses_oauth else "smtp"
    flash(message, f"{kind}:{section}")


@bp.route("/autorizar", methods=["POST"])
def authorize():
    """Start the authorization of the stored sign-in method."""
    if not AuthorizeForm().validate_on_submit():
        _say("Formulário expirado; tente de novo.", "error")
        return _back()
    settings = StationSettings.load(db.session)
    db.session.commit()
    if not settings.uses_oauth:
        _say("Escolha Microsoft 365 ou Google na forma de entrada e salve antes de autorizar.",
              "error")
        return _back()
    try:
        client = stored_client(settings, current_app.instance_path,
                               Endpoints.from_config(current_app.config))
        if settings.smtp_auth_method == MICROSOFT:
            return _start_microsoft(client)
        return _start_google(client)
    except SecretUnreadable as exc:
        _say(str(exc), "error")
    except (AuthorizationRevoked, ProviderUnreachable) as exc:
        _say(f"Autorização não iniciada: {exc}", "error")
    return _back()


def _start_microsoft(client):
    device = start_device_flow(client)
    state = _state()
    job = SignInJob(device)
    with state.lock:
        if state.job is not None:
            state.job.device.cancel()
        state.job = job
    app = current_app._get_current_object()
    threading.Thread(target=_wait_for_sign_in, args=(app, job), daemon=True,
                     name="oauth-device-code").start()
    return redirect(url_for("oauth.microsoft"))


def _wait_for_sign_in(app: Flask, job: SignInJob) -> None:
    """The background half of the device-code flow: wait, then store the refresh token."""
    with app.app_context():
        try:
            tokens = finish_device_flow(job.device)
            warning = store_authorization(db.session, app.instance_path, tokens, datetime.now())
        except (AuthorizationRevoked, ProviderUnreachable) as exc:
            job.finish("error", f"Autorização não concluída: {exc}")
        except Exception as exc:  # noqa: BLE001 - shown to staff instead of a silent thread death
            app.logger.exception("device-code authorization failed")
            job.finish("error", f"Erro inesperado na autorização: {exc}")
        else:
            who = tokens.account or StationSettings.load(db.session).smtp_user
            job.finish("done", f"Autorização concluída para {who}. {warning}".strip())
        finally:
            db.session.remove()


@bp.route("/microsoft")
def microsoft():
    """The code, the address to open, and the status that updates itself."""
    job = _state().job
    if job is None:
        return _back()
    return render_template("settings/oauth_microsoft.html", job=job.as_json(),
                           form=AuthorizeForm(formdata=None),
                           label=AUTH_METHOD_LABELS[MICROSOFT])


@bp.route("/estado")
def status():
    """The device-code authorization's state, for the page's polling (JSON)."""
    job = _state().job
    return jsonify(job.as_json() if job else {"state": "none", "message": ""})


def _start_google(client):
    address = urlsplit(f"//{request.host}")
    if address.hostname not in LOOPBACK_HOSTS:
        _say(f"A autorização do Google volta para o próprio computador da estação: abra esta "
              f"página nele, pelo endereço http://127.0.0.1:{address.port or 80} (não por "
              f"{request.host}).", "error")
        return _back()
    flow = google_flow(client, f"http://{request.host}{url_for('oauth.google_return')}")
    url, state_token = google_authorization_url(flow)
    state = _state()
    with state.lock:
        now = time.monotonic()
        state.google = {k: v for k, v in state.google.items() if now - v[1] < GOOGLE_FLOW_TTL}
        state.google[state_token] = (flow, now)
    return redirect(url)


@bp.route("/google/retorno")
def google_return():
    """Where Google sends the browser back: exchange the code for the tokens."""
    state = _state()
    with state.lock:
        flow, _started = state.google.pop(request.args.get("state", ""), (None, 0))
    if flow is None:
        _say("Autorização do Google não reconhecida ou expirada; clique em Autorizar de novo.",
              "error")
        return _back()
    if request.args.get("error") or not request.args.get("code"):
        _say(f"O Google não autorizou o envio ({request.args.get('error') or 'sem código'}).",
              "error")
        return _back()
    try:
        tokens = finish_google_flow(flow, request.args["code"])
        warning = store_authorization(db.session, current_app.instance_path, tokens,
                                      datetime.now())
    except (AuthorizationRevoked, ProviderUnreachable) as exc:
        _say(f"Autorização não concluída: {exc}", "error")
        return _back()
    _say("Autorização do Google concluída; o envio usará esta conta.", "success")
    if warning:
        _say(warning, "error")
    return _back()
