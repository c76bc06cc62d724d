"""Importar: upload the ERP's invoices CSV or the policies CSV; download the policies CSV."""
from __future__ import annotations

from datetime import date, datetime
from functools import partial

from flask import Blueprint, Response, abort, current_app, flash, render_template, request
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import SQLAlchemyError

from blueprints.forms import PageForm
from dunning.csvfile import FileRejected
from dunning.dberrors import explain
from dunning.history import history_query
from dunning.importing import ImportBusy, ImportOrigin, import_invoices
from dunning.policies import export_policies, import_policies
from models import ImportRecord, db

bp = Blueprint("imports", __name__, url_prefix="/importar")


class UploadForm(PageForm):
    file = FileField("Arquivo CSV", validators=[FileRequired("Escolha um arquivo CSV.")])


LABELS = {"faturas": "faturas", "politicas": "políticas"}


def _forms(faturas: UploadForm | None = None, politicas: UploadForm | None = None):
    return {"invoices_form": faturas or UploadForm(prefix="faturas", formdata=None),
            "policies_form": politicas or UploadForm(prefix="politicas", formdata=None)}


def _index(status: int = 200, **forms):
    """Both upload forms, the export link and the import history (newest first, paginated)."""
    page = db.paginate(history_query(), page=request.args.get("page", 1, type=int),
                       per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("imports/index.html", history=page, **_forms(**forms)), status


@bp.route("/")
def index():
    """Both upload forms, the export link and the import history."""
    return _index()


@bp.route("/historico/<int:record_id>")
def record(record_id: int):
    """One import of the history: the file, its counts, its errors or warnings."""
    found = db.session.get(ImportRecord, record_id)
    if found is None:
        abort(404)
    return render_template("imports/record.html", record=found)


@bp.route("/faturas", methods=["POST"])
def invoices():
    """Import an invoices CSV: all or nothing; show the counts or the errors.

    The data time of an upload is the moment it arrives; it never waits for another import
    (a browser would time out): it says that one is running.
    """
    origin = ImportOrigin(source="browser", user=getattr(current_user, "username", ""),
                          data_time=datetime.now())
    return _upload("faturas", partial(import_invoices, origin=origin),
                   "imports/invoices_done.html", origin)


@bp.route("/politicas", methods=["POST"])
def policies():
    """Import a policies CSV: all or nothing; it replaces the settings of whom it names."""
    return _upload("politicas", import_policies, "imports/policies_done.html")


def _upload(kind: str, importer, done_template: str, origin: ImportOrigin | None = None):
    """Hand the uploaded file to ``importer``; its report, or the table of its errors."""
    form = UploadForm(prefix=kind)
    if not form.validate_on_submit():
        return _index(400, **{kind: form})
    filename = form.file.data.filename
    if origin is not None:
        origin.file_name = filename or ""
    try:
        report = importer(db.session, form.file.data.stream)
    except FileRejected as exc:
        return render_template("imports/rejected.html", kind=LABELS[kind], errors=exc.errors,
                               truncated=exc.truncated, filename=filename), 422
    except ImportBusy as exc:
        flash(f"Arquivo {filename} não importado: {exc}", "error")
        return _index(409)
    except SQLAlchemyError as exc:
        db.session.rollback()
        flash(f"Arquivo {filename} não importado. {explain(exc)}", "error")
        return _index(503)
    flash(f"Arquivo {filename} importado.", "success")
    return render_template(done_template, report=report, filename=filename)


@bp.route("/politicas.csv")
def export():
    """Download every dunning setting as the policies CSV."""
    content = export_policies(db.session)
    name = f"politicas-{date.today().isoformat()}.csv"
    return Response(content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
