"""Request guards of the browser side: which Host names we answer to, where a login may lead.

Both defend the station's browser against other web sites: DNS rebinding (a site whose name
resolves to 127.0.0.1 talks to the appliance under its own Host name) and open redirects (a
crafted ``next`` sends staff from our login form to another site).
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Flask, Request, Response, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, RequestRedirect
from werkzeug.urls import iri_to_uri

from dunning.typed_input import unstorable

# Always answered to: this PC's own names. Stations serving on another address add theirs with
# TRUSTED_HOSTS in instance/config.py (README, "Segurança").
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?", re.ASCII)
# Endpoints a login must never lead back to (loops, or an action instead of a page).
_NOT_A_DESTINATION = {"auth.login", "auth.logout", "auth.setup", "static"}
MAX_NEXT = 2000

# Failed logins per client address (blueprints/auth.py). In memory: right for the one waitress
# process of a station; the per-user lock, which must survive restarts, is in the database
# (dunning/users.py). A chain running several processes may set RATELIMIT_STORAGE_URI.
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", headers_enabled=False)


# Whole numbers from the browser (ids in paths, page numbers, filter ids) fit a 32-bit column:
# anything larger would overflow SQLite's or PostgreSQL's integers (a 500) and means nothing.
MAX_NUMBER = 2**31 - 1


def bounded_int(value) -> int:
    """``int(value)``, ValueError beyond ±MAX_NUMBER (``args.get(..., type=int)`` -> default)."""
    number = int(value)
    if not -MAX_NUMBER <= number <= MAX_NUMBER:
        raise ValueError(value)
    return number


class BoundedArgs(ImmutableMultiDict):
    """Query and form values where ``get(..., type=int)`` only yields numbers a column holds."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        return super().get(key, default, bounded_int if type is int else type)


class BoundedRequest(Request):
    parameter_storage_class = BoundedArgs


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes: a larger number is a 404, not an overflow in the database."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", MAX_NUMBER)
        super().__init__(map, *args, **kwargs)


def _bound_page():
    """``page`` as db.paginate reads it (plain int()): garbage or out of range means page 1."""
    raw = request.args.get("page")
    if raw is None:
        return None
    try:
        page = bounded_int(raw)
    except ValueError:
        page = 1
    if str(page) != raw:
        args = request.args.copy()
        args["page"] = str(max(page, 1))
        request.args = BoundedArgs(args)
    return None


def _refuse_unstorable():
    """A value no database stores (a NUL character) is refused before any view reads it: one
    clear 400 for every form, search box and address, instead of PostgreSQL's error half-way
    through a save (a 500)."""
    values = [("endereço", request.path)]
    for multi in (request.args, request.form):
        # ``next`` is never stored: safe_next sends any odd value to the Painel after a login.
        values += [(key, text) for key, texts in multi.lists() if key != "next"
                   for text in (key, *texts)]
    values += [(key, upload.filename or "") for key, upload in request.files.items(multi=True)]
    for name, text in values:
        if problem := unstorable(text):
            field = name.replace("\x00", "\\0")[:60]
            return render_template(
                "error.html", code=400, title="Valor inválido",
                message=f"Um valor enviado (campo {field}) {problem}, que não pode ser gravado. "
                        "Corrija o texto e tente de novo; nada foi alterado."), 400
    return None


def init_guards(app: Flask) -> None:
    """Check the Host header before anything else runs (even the login and first-run pages);
    limit failed logins per client address; bound the numbers a request can carry and refuse
    text no database stores.

    Werkzeug's own TRUSTED_HOSTS check cannot match an IPv6 literal such as ``[::1]``, so the
    station's list is taken over here and Flask's check is switched off.
    """
    extra = app.config.get("TRUSTED_HOSTS") or ()
    if isinstance(extra, str):
        extra = [extra]
    app.config["ALLOWED_HOSTS"] = [*LOOPBACK_HOSTS, *extra]
    app.config["TRUSTED_HOSTS"] = None
    app.before_request_funcs.setdefault(None, []).insert(0, _check_host)
    app.before_request(_bound_page)
    app.before_request(_refuse_unstorable)
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = BoundedIntConverter  # before any route is added
    limiter.init_app(app)


def _check_host():
    """A 400 page of its own: URLs cannot be built for a request under a foreign name."""
    if not host_allowed(request.headers.get("Host", ""), current_app.config["ALLOWED_HOSTS"]):
        return Response(_BAD_HOST_PAGE, 400, content_type="text/html; charset=utf-8")
    return None


_BAD_HOST_PAGE = (
    '<!doctype html><html lang="pt-BR"><meta charset="utf-8"><title>Pedido inválido</title>'
    "<h1>Pedido inválido</h1><p>Este sistema só atende pelo endereço deste computador "
    "(http://127.0.0.1:8080/ ou http://localhost:8080/). Para usar outro nome ou endereço, "
    "inclua-o em TRUSTED_HOSTS no arquivo instance/config.py (veja o README).</p></html>")


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a ``Host`` value, lower-cased; None when it is not a well-formed one."""
    match = _HOST.fullmatch(value.strip().lower())
    if match is None:
        return None
    port = match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    return _canonical(match["name"]), int(port) if port else None


def _canonical(name: str) -> str:
    """An IP literal in its one canonical spelling ([0:0::1] and [::1] are the same host)."""
    bare = name[1:-1] if name.startswith("[") else name
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return name
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def host_allowed(header: str, allowed: list[str]) -> bool:
    """Whether the ``Host`` header names one of ``allowed`` (an entry with a port must match it).

    No header, a malformed one, or any other name (a trailing dot included) is refused.
    """
    if not header or len(header) > 300:
        return False
    host = _split_host(header)
    if host is None:
        return False
    for entry in allowed:
        wanted = _split_host(entry)
        if wanted is None:
            continue
        if wanted[0] == host[0] and wanted[1] in (None, host[1]):
            return True
    return False


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a plain path to a page of this app, else None.

    Only what a browser cannot read as another site passes: one leading ``/``, no backslash,
    no control or blank characters (browsers drop tabs and newlines, turning ``/\\t/x`` into
    ``//x``), no scheme or host, not even once percent-decoded, and a GET route of ours.
    """
    if not target or len(target) > MAX_NEXT:
        return None
    for candidate in (target, unquote(target)):
        if not candidate.startswith("/") or candidate[1:2] in ("/", "\\") or "\\" in candidate:
            return None
        if any(unicodedata.category(ch)[0] in "CZ" for ch in candidate):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(parts.path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    if endpoint in _NOT_A_DESTINATION:
        return None
    return iri_to_uri(target)
