"""Importar: upload the ERP's invoices CSV or the policies CSV; download the policies CSV."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, render_template
from flask_wtf.file import FileField, FileRequired

from blueprints.forms import PageForm
from dunning.csvfile import FileRejected
from dunning.importing import import_invoices
from dunning.policies import export_policies, import_policies
from models import db

bp = Blueprint("imports", __name__, url_prefix="/importar")


class UploadForm(PageForm):
    file = FileField("Arquivo CSV", validators=[FileRequired("Escolha um arquivo CSV.")])


LABELS = {"faturas": "faturas", "politicas": "políticas"}


def _forms(faturas: UploadForm | None = None, politicas: UploadForm | None = None):
    return {"invoices_form": faturas or UploadForm(prefix="faturas", formdata=None),
            "policies_form": politicas or UploadForm(prefix="politicas", formdata=None)}


@bp.route("/")
def index():
    """Both upload forms and the export link."""
    return render_template("imports/index.html", **_forms())


@bp.route("/faturas", methods=["POST"])
def invoices():
    """Import an invoices CSV: all or nothing; show the counts or the errors."""
    return _upload("faturas", import_invoices, "imports/invoices_done.html")


@bp.route("/politicas", methods=["POST"])
def policies():
    """Import a policies CSV: all or nothing; it replaces the settings of whom it names."""
    return _upload("politicas", import_policies, "imports/policies_done.html")


def _upload(kind: str, importer, done_template: str):
    """Hand the uploaded file to ``importer``; its report, or the table of its errors."""
    form = UploadForm(prefix=kind)
    if not form.validate_on_submit():
        return render_template("imports/index.html", **_forms(**{kind: form})), 400
    filename = form.file.data.filename
    try:
        report = importer(db.session, form.file.data.stream)
    except FileRejected as exc:
        return render_template("imports/rejected.html", kind=LABELS[kind], errors=exc.errors,
                               truncated=exc.truncated, filename=filename), 422
    flash(f"Arquivo {filename} importado.", "success")
    return render_template(done_template, report=report, filename=filename)


@bp.route("/politicas.csv")
def export():
    """Download every dunning setting as the policies CSV."""
    content = export_policies(db.session)
    name = f"politicas-{date.today().isoformat()}.csv"
    return Response(content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
