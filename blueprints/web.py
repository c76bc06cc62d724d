"""What every browser page shares: login, CSRF, error pages, template filters, the page blueprints."""
from __future__ import annotations

from dataclasses import dataclass

from flask import (Flask, current_app, redirect, render_template, request, send_from_directory,
                   url_for)
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import exists, select

from blueprints.guards import init_guards
from dunning.dberrors import DATABASE_ERRORS, VALUE_ERRORS, VALUE_REFUSED, explain
from dunning.formatting import format_brl, format_date, format_datetime
from dunning.smtp_replies import explain as explain_smtp_reply
from dunning.users import session_user
from models import User, db

login_manager = LoginManager()
csrf = CSRFProtect()

# Endpoints reachable without a login: the login form itself, the first-run page, the stylesheet.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static", "favicon"}


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    """The logged-in user of the session token in the cookie, while that session is open."""
    return session_user(db.session, token)


def init_web(app: Flask) -> None:
    """Login required everywhere, CSRF on every form, friendly error pages, pt-BR filters."""
    init_guards(app)  # Host header first: nothing answers to another site's name
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Entre com seu usuário e senha para continuar."
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    # The delivery code registers the same filters for e-mails; both point at dunning.formatting.
    app.jinja_env.filters.setdefault("brl", format_brl)
    app.jinja_env.filters.setdefault("data", format_date)
    app.jinja_env.filters.setdefault("datahora", format_datetime)
    app.jinja_env.globals["explica_smtp"] = explain_smtp_reply
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    app.before_request(_require_login)
    app.after_request(_security_headers)
    app.jinja_env.globals["page_url"] = page_url
    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)
    for error in DATABASE_ERRORS:
        app.register_error_handler(error, _database_error)
    for error in VALUE_ERRORS:
        app.register_error_handler(error, _value_refused)


def register_pages(app: Flask) -> None:
    """Attach the browser pages' blueprints."""
    from blueprints import (auth, companies, customers, dashboard, groups, guide, imports,
                            invoices, oauth, preview, runs, settings)
    for module in (auth, dashboard, customers, groups, companies, invoices, imports, preview, runs,
                   settings, guide, oauth):
        app.register_blueprint(module.bp)


@dataclass
class ListPage:
    """A page of an in-memory list, with the attributes the pager macro reads (like db.paginate)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def paginate_list(items: list, page: int, per_page: int) -> ListPage:
    """The ``page``-th slice of ``items`` (out-of-range pages are clamped)."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    return ListPage(items[start:start + per_page], page, per_page, len(items))


def page_url(number: int) -> str:
    """The current list page's address with another page number, keeping search and filters."""
    args = {**(request.view_args or {}), **request.args.to_dict(), "page": number}
    return url_for(request.endpoint, **args)


def _favicon():
    """The tab icon browsers ask for at /favicon.ico (a file under static/, no CDN)."""
    return send_from_directory(current_app.static_folder, "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)


def _require_login():
    """Send anonymous visitors to the login form (or to the first-run page while no user exists)."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.endpoint is None:
        return None  # a 404: show the error page, which reveals nothing
    if not db.session.scalar(select(exists().where(User.id.isnot(None)))):
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()


def _security_headers(response):
    """No framing of our pages by other sites, no MIME sniffing, no address leaks in Referer."""
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


ERROR_MESSAGES = {
    400: ("Pedido inválido", "O navegador enviou um pedido que o sistema não entendeu."),
    403: ("Acesso negado", "Você não tem permissão para ver esta página."),
    404: ("Página não encontrada", "O endereço não existe. Use o menu acima para navegar."),
    405: ("Ação não permitida", "Esta página não aceita esse tipo de pedido."),
    413: ("Arquivo grande demais", "O arquivo enviado passa do limite de tamanho permitido "
                                   "({limit} MB). Divida o arquivo ou peça para aumentar o limite "
                                   "(MAX_CONTENT_LENGTH em instance/config.py)."),
    429: ("Muitas tentativas", "Houve tentativas demais de entrar a partir deste computador. "
                               "Aguarde 15 minutos e tente de novo."),
    500: ("Erro interno", "Algo deu errado ao processar o pedido. Nada foi alterado; tente de novo "
                          "e, se o erro continuar, avise o suporte."),
}


def _error_page(error):
    """A pt-BR page for HTTP errors, without technical details."""
    code = getattr(error, "code", 500) or 500
    if code == 500:
        db.session.rollback()
    title, message = ERROR_MESSAGES.get(code, ERROR_MESSAGES[500])
    limit = (request.max_content_length or 0) // (1024 * 1024)
    return render_template("error.html", code=code, title=title,
                           message=message.format(limit=limit)), code


def _database_error(error):
    """The database failed (read-only, locked, unreachable): say what to check, not a 500."""
    db.session.rollback()
    current_app.logger.warning("database error on %s: %s", request.path, error)
    return render_template("error.html", code=503, title="Banco de dados indisponível",
                           message=f"{explain(error)} Nada foi alterado."), 503


def _value_refused(error):
    """A value the database does not take got past the checks: a 400 naming the kind, not a 500
    (and a log line, since a check is missing somewhere)."""
    db.session.rollback()
    current_app.logger.warning("value refused by the database on %s: %s", request.path, error)
    return render_template("error.html", code=400, title="Valor inválido", message=VALUE_REFUSED), 400


def _csrf_error(error: CSRFError):
    """A form posted without (or with an expired) CSRF token: ask to reload instead of acting."""
    return render_template("error.html", code=400, title="Formulário expirado",
                           message="O formulário expirou ou não veio desta página. Volte, "
                                   "recarregue a página e tente de novo."), 400
