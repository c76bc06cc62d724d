"""Importar: upload the ERP's invoices CSV or the policies CSV; download the policies CSV."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, render_template
from flask_wtf.file import FileField, FileRequired

from blueprints.forms import PageForm
from dunning.csvfile import FileRejected
from dunning.importing import import_invoices
from models import db

bp = Blueprint("imports", __name__, url_prefix="/importar")


class UploadForm(PageForm):
    file = FileField("Arquivo CSV", validators=[FileRequired("Escolha um arquivo CSV.")])


def _forms(invoices: UploadForm | None = None, policies: UploadForm | None = None):
    return {"invoices_form": invoices or UploadForm(prefix="faturas", formdata=None),
            "policies_form": policies or UploadForm(prefix="politicas", formdata=None)}


@bp.route("/")
def index():
    """Both upload forms and the export link."""
    return render_template("imports/index.html", **_forms())


@bp.route("/faturas", methods=["POST"])
def invoices():
    """Import an invoices CSV: all or nothing; show the counts or the errors."""
    form = UploadForm(prefix="faturas")
    if not form.validate_on_submit():
        return render_template("imports/index.html", **_forms(invoices=form)), 400
    try:
        report = import_invoices(db.session, form.file.data.stream)
    except FileRejected as exc:
        return render_template("imports/rejected.html", kind="faturas", errors=exc.errors,
                               truncated=exc.truncated, filename=form.file.data.filename), 422
    flash(f"Arquivo {form.file.data.filename} importado.", "success")
    return render_template("imports/invoices_done.html", report=report,
                           filename=form.file.data.filename)


@bp.route("/politicas", methods=["POST"])
def policies():
    """Import a policies CSV: all or nothing; it replaces the settings of whom it names."""
    from dunning.policies import import_policies
    form = UploadForm(prefix="politicas")
    if not form.validate_on_submit():
        return render_template("imports/index.html", **_forms(policies=form)), 400
    try:
        report = import_policies(db.session, form.file.data.stream)
    except FileRejected as exc:
        return render_template("imports/rejected.html", kind="políticas", errors=exc.errors,
                               truncated=exc.truncated, filename=form.file.data.filename), 422
    flash(f"Arquivo {form.file.data.filename} importado.", "success")
    return render_template("imports/policies_done.html", report=report,
                           filename=form.file.data.filename)


@bp.route("/politicas.csv")
def export():
    """Download every dunning setting as the policies CSV."""
    from dunning.policies import export_policies
    content = export_policies(db.session)
    name = f"politicas-{date.today().isoformat()}.csv"
    return Response(content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
