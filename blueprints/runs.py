"""Envios: the run history, each run's lines with the SMTP replies, and re-sending one line."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from blueprints.forms import PageForm
from dunning import queries
from models import OutboxLine, Run, db

bp = Blueprint("runs", __name__, url_prefix="/envios")

RESENDABLE = ("failed_temporary", "failed_permanent", "unknown")


class ConfirmForm(PageForm):
    """A confirmation button (the form carries only the CSRF token)."""


@bp.route("/")
def index():
    """Runs, newest first."""
    page = db.paginate(queries.runs_query(), per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("runs/index.html", page=page)


@bp.route("/<int:run_id>")
def show(run_id: int):
    """One run's lines, filterable by status and customer."""
    run = db.session.get(Run, run_id) or abort(404)
    status, search = request.args.get("situacao", ""), request.args.get("q", "")
    page = db.paginate(queries.run_lines_query(run.id, status, search),
                       per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("runs/show.html", run=run, page=page, status=status, search=search,
                           resendable=RESENDABLE)


@bp.route("/linha/<int:line_id>/reenviar", methods=["GET", "POST"])
def resend(line_id: int):
    """Confirm, then re-send one failed or unknown line (the customer may get a second e-mail)."""
    line = db.session.get(OutboxLine, line_id) or abort(404)
    if line.status not in RESENDABLE:
        flash("Só é possível reenviar linhas com falha ou em situação incerta.", "error")
        return redirect(url_for("runs.show", run_id=line.run_id))
    form = ConfirmForm()
    if form.validate_on_submit():
        from dunning.delivery import resend_line
        ok, message = _resend(resend_line, line)
        flash(message, "success" if ok else "error")
        return redirect(url_for("runs.show", run_id=line.run_id))
    return render_template("runs/resend.html", line=line, form=form)


def _resend(resend_line, line: OutboxLine) -> tuple[bool, str]:
    """Call the delivery code and word its outcome for staff."""
    result = resend_line(db.session, line.id, date.today())
    return bool(getattr(result, "ok", result)), getattr(result, "message", "") or "Reenvio concluído."
