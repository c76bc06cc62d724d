"""Envios: the run history, each run's lines with the SMTP replies, and re-sending one line."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from blueprints.forms import PageForm
from dunning import queries
from dunning.delivery import RESENDABLE, SKIP_LABELS, CannotRun, DeliveryOptions
from dunning.manual import resend_line, resend_recipients
from blueprints.preview import run_in_progress
from dunning.retention import retention_days
from dunning.runcounts import counts_of, skip_reasons_of
from models import OutboxLine, Run, db

bp = Blueprint("runs", __name__, url_prefix="/envios")

class ConfirmForm(PageForm):
    """A confirmation button (the form carries only the CSRF token)."""


@bp.route("/")
def index():
    """Runs, newest first."""
    page = db.paginate(queries.runs_query(), per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("runs/index.html", page=page, counts=counts_of(db.session, page.items),
                           config_state=current_app.extensions.get("send_now"),
                           running=run_in_progress())


@bp.route("/<int:run_id>")
def show(run_id: int):
    """One run's lines, filterable by status and customer."""
    run = db.session.get(Run, run_id) or abort(404)
    status, search = request.args.get("situacao", ""), request.args.get("q", "")
    page = db.paginate(queries.run_lines_query(run.id, status, search),
                       per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("runs/show.html", run=run, page=page, status=status, search=search,
                           resendable=RESENDABLE, counts=counts_of(db.session, [run])[run.id],
                           skip_reasons=skip_reasons_of(db.session, run), reasons=SKIP_LABELS,
                           retention_days=retention_days(db.session),
                           running=run.status == "running" and run_in_progress())


@bp.route("/linha/<int:line_id>/reenviar", methods=["GET", "POST"])
def resend(line_id: int):
    """Confirm, then re-send one failed or unknown line (the customer may get a second e-mail)."""
    line = db.session.get(OutboxLine, line_id) or abort(404)
    if line.status not in RESENDABLE:
        flash("Só é possível reenviar linhas com falha ou em situação incerta.", "error")
        return redirect(url_for("runs.show", run_id=line.run_id))
    form, run_id = ConfirmForm(), line.run_id
    if form.validate_on_submit():
        try:
            result = resend_line(db.session, line.id, current_app.instance_path,
                                 DeliveryOptions.from_config(current_app.config))
        except (CannotRun, ValueError) as exc:
            flash(f"Reenvio não feito: {exc}", "error")
        else:
            if result.status == "sent":
                flash(f"Lembrete reenviado para {', '.join(result.to)} "
                      f"({result.smtp_code or ''} {result.smtp_reply}).", "success")
            else:
                flash(f"O servidor não aceitou o reenvio: {result.smtp_code or ''} {result.smtp_reply}",
                      "error")
        return redirect(url_for("runs.show", run_id=run_id))
    return render_template("runs/resend.html", line=line, form=form,
                           addresses=resend_recipients(line))
