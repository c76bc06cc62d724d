"""Pré-visualizar envio: the messages a run would send on a date, and "Enviar agora".

"Enviar agora" starts the scheduler's job (``dunning.delivery.run``) in a background thread, so
the page does not wait for a long batch; the run lock keeps it from overlapping a scheduled run.
The server also keeps today's counts ready (``PreviewWarmer``): at a chain's size they take over
a second to compute after each change to the data.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import (Blueprint, Flask, current_app, flash, redirect, render_template, request,
                   url_for)

from blueprints.forms import PageForm
from blueprints.web import paginate_list
from dunning.crypto import SecretUnreadable
from dunning.delivery import CannotRun, DeliveryOptions, run
from dunning.formatting import parse_run_date
from dunning.rules import UnknownCustomer, load_details, plan, plan_summary
from dunning.runlock import busy
from dunning.smtp import SmtpConfig
from dunning.statement import failure_reason, render
from dunning.summary_memo import database_version
from models import StationSettings, db

bp = Blueprint("preview", __name__, url_prefix="/previa")
log = logging.getLogger(__name__)

MESSAGES_PER_PAGE = 10
SKIPS_SHOWN = 200
REASONS = {"no_email": "sem e-mail", "invalid_email": "e-mail inválido",
           "nothing_overdue": "nada vencido", "recently_sent": "enviado recentemente",
           "creditor_incomplete": "empresa credora sem nome, CNPJ ou endereço (CDC art. 42-A)",
           "stale_data": "dados da empresa desatualizados"}


class ConfirmForm(PageForm):
    """The confirmation button of "Enviar agora" (only the CSRF token)."""


@dataclass
class SendNow:
    """The browser-started run in progress (or finished), kept on the app for the Envios page."""

    as_of: date
    thread: threading.Thread | None = None
    error: str = ""
    run_id: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.done.is_set()


def _parse_date(text: str | None) -> tuple[date, str]:
    """The date asked for (default today, decided here), and an error message for a bad one."""
    if not text:
        return date.today(), ""
    try:
        return parse_run_date(text), ""
    except ValueError as exc:
        return date.today(), f"{exc} Use o calendário (dd/mm/aaaa)."


@bp.route("/")
def index():
    """Exactly the messages a run on the date would send, page by page, and who is skipped.

    The counts come from the plan's verdicts alone (``plan_summary``, remembered while the
    database is unchanged); only the page's messages are listed and rendered, so the next pages
    answer quickly whatever the number of customers.
    """
    as_of, date_error = _parse_date(request.args.get("data"))
    customer = request.args.get("cliente", "").strip()
    now = datetime.now()  # data age: the real clock, whatever the date asked for
    try:
        summary = plan_summary(db.session, as_of, customer or None, now=now)
    except UnknownCustomer:
        summary, customer_error = plan_summary(db.session, as_of, now=now), \
            f"Nenhum cliente com o código {customer}."
        customer = ""
    else:
        customer_error = ""
    settings = StationSettings.load(db.session)
    page = paginate_list(summary.due, request.args.get("page", 1, type=int), MESSAGES_PER_PAGE)
    shown = plan(db.session, as_of, now=now,
                 customer_ids=[due.customer_id for due in page.items])
    load_details(db.session, shown.reminders)
    listed = {r.customer_id: r for r in shown.reminders}
    messages = []
    for due in page.items:
        reminder = listed.get(due.customer_id)
        if reminder is None:  # its data changed between the two reads: shown on the next view
            continue
        try:
            subject, text, html = render(reminder, settings, as_of)
        except Exception as exc:  # noqa: BLE001 - a staff template failing on this customer's data
            messages.append({"reminder": reminder, "error": failure_reason(exc)})
        else:
            messages.append({"reminder": reminder, "subject": subject, "text": text, "html": html})
    db.session.commit()  # StationSettings.load creates the defaults row on first use
    return render_template(
        "preview/index.html", as_of=as_of, today=date.today(), date_error=date_error,
        customer=customer, customer_error=customer_error, plan=summary, page=page,
        messages=messages, skip_counts=summary.reason_counts(),
        skipped=summary.skipped[:SKIPS_SHOWN], reasons=REASONS, settings=settings,
        state=current_app.extensions.get("send_now"), form=ConfirmForm(formdata=None),
        running=run_in_progress() if as_of == date.today() else "")


@bp.route("/enviar", methods=["GET", "POST"])
def send_now():
    """Confirm, then start today's run, the same job as the scheduler's."""
    as_of = date.today()
    form = ConfirmForm()
    if form.validate_on_submit():
        problem = _cannot_start()
        if problem:
            flash(f"Envio não iniciado: {problem}", "error")
            return redirect(url_for("preview.index"))
        # No "started" flash: Envios shows the run's progress, or why it did not run (another
        # run may still claim the lock first), never a success next to a failure.
        start_run(current_app._get_current_object(), as_of)
        return redirect(url_for("runs.index"))
    problem = _cannot_start()
    result = None if problem else plan_summary(db.session, as_of, now=datetime.now())
    return render_template("preview/confirm.html", as_of=as_of, plan=result, form=form,
                           problem=problem, reasons=REASONS)


def run_in_progress() -> str:
    """'' when no run is sending now, else what staff should know about the one that is."""
    state = current_app.extensions.get("send_now")
    if state is not None and state.running:
        return "já há um envio em andamento, iniciado por este navegador."
    holder = busy(db.session, datetime.now())
    if holder is not None:
        started = f" às {holder.acquired_at:%H:%M}" if holder.acquired_at else ""
        return (f"já há um envio em andamento (iniciado{started} pelo agendador, pela linha de "
                f"comando ou por outro computador); aguarde ele terminar e confira em Envios.")
    return ""


def _cannot_start() -> str:
    """Why a run cannot start now ('' when it can), checked before starting the thread."""
    running = run_in_progress()
    if running:
        return running
    settings = StationSettings.load(db.session)
    db.session.commit()
    if not settings.smtp_configured:
        return "o servidor SMTP não está configurado (veja Configurações)."
    try:
        SmtpConfig.from_settings(settings, current_app.instance_path)
    except SecretUnreadable as exc:
        return str(exc)
    return ""


def start_run(app: Flask, as_of: date) -> SendNow:
    """Run ``dunning.delivery.run`` for ``as_of`` in a background thread with its own session."""
    state = SendNow(as_of=as_of)

    def job() -> None:
        with app.app_context():
            try:
                report = run(db.session, as_of, app.instance_path, trigger="browser",
                             options=DeliveryOptions.from_config(app.config))
                state.run_id = report.run_id
            except CannotRun as exc:
                state.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - recorded on the run and shown to staff
                log.exception("browser-started run failed")
                state.error = f"Erro inesperado no envio: {exc}"
            finally:
                db.session.remove()
                state.done.set()

    state.thread = threading.Thread(target=job, name="envio-navegador", daemon=True)
    app.extensions["send_now"] = state
    state.thread.start()
    return state


class PreviewWarmer:
    """Today's preview counts computed ahead, in the server, once the data has stopped changing.

    Every look (``step``) reads the database's version (``dunning.summary_memo``); when it is the
    same as at the previous look, nothing has been committed in between, and today's summary is
    asked for: remembered, it costs a version check; after a change, it is computed here, so the
    next view finds it ready. While changes keep coming nothing is computed: the look after the
    last change does it. Nor while a run is sending (the run lock is held, by any process): its
    lines change the data after every message, and a throttled run is slow enough for a look to
    find it quiet between two of them. A view asking for today's counts while they are computed
    here waits for them (``dunning.summary_memo.remembered``).
    """

    def __init__(self, app: Flask):
        self.app = app
        self.seen: object = None

    def step(self):
        """One look; the summary it asked for (a dunning.rules.PlanSummary), or None."""
        with self.app.app_context():
            try:
                version = database_version(db.session)
                quiet = version is not None and version == self.seen
                self.seen = version
                if not quiet or busy(db.session, datetime.now()):
                    return None
                return plan_summary(db.session, date.today(), now=datetime.now())
            finally:
                db.session.remove()


def start_warmer(app: Flask, interval: float) -> threading.Event:
    """Look every ``interval`` seconds (``PreviewWarmer``) in a background thread until the
    returned event is set (the server never sets it). A failure is logged when it differs from
    the previous one, never raised: the views compute the counts themselves."""
    warmer, stop = PreviewWarmer(app), threading.Event()

    def loop() -> None:
        last_error = ""
        while not stop.wait(interval):
            try:
                warmer.step()
                last_error = ""
            except Exception as exc:  # noqa: BLE001 - logged; the next look tries again
                if str(exc) != last_error:
                    log.warning("contagens da prévia de hoje não calculadas de antemão: %s", exc)
                last_error = str(exc)

    threading.Thread(target=loop, name="previa-pronta", daemon=True).start()
    return stop
