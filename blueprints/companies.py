"""Empresas e Contas: the creditor's data shown in every e-mail, and the accounts' names."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from wtforms import StringField, TextAreaField
from wtforms.validators import Email, Length, Optional

from blueprints.forms import PageForm
from dunning import editing, queries
from dunning.taxid import is_valid_tax_id
from models import Company, db

bp = Blueprint("companies", __name__, url_prefix="/empresas")


class CompanyForm(PageForm):
    """An Empresa's data (CDC art. 42-A: name, address and CNPJ in every e-mail)."""

    name = StringField("Nome (razão social)", validators=[Length(max=200)])
    tax_id = StringField("CNPJ", validators=[Length(max=40)])
    address = TextAreaField("Endereço", validators=[Length(max=1000)])
    phone = StringField("Telefone", validators=[Length(max=80)])
    email = StringField("E-mail", validators=[Optional(), Email("E-mail inválido.", check_deliverability=False),
                                               Length(max=254)])

    def validate_tax_id(self, field) -> None:
        if field.data and field.data.strip() and not is_valid_tax_id(field.data.strip()):
            field.errors.append("CNPJ inválido (confira os dígitos verificadores).")


@bp.route("/")
def index():
    """Every company with its accounts (a station has a handful)."""
    return render_template("companies/index.html", companies=queries.companies(db.session))


@bp.route("/<int:company_id>", methods=["GET", "POST"])
def show(company_id: int):
    """Edit a company and name its accounts."""
    company = db.session.get(Company, company_id) or abort(404)
    form = CompanyForm(obj=company)
    names = {a.id: request.form.get(f"account-{a.id}", a.name) for a in company.accounts}
    if form.validate_on_submit():
        editing.save_company(db.session, company, form.name.data or "", form.tax_id.data or "",
                             form.address.data or "", form.phone.data or "", form.email.data or "",
                             {aid: name[:200] for aid, name in names.items()})
        flash("Empresa salva.", "success")
        return redirect(url_for("companies.show", company_id=company.id))
    if request.method == "POST":
        flash("Corrija os campos indicados; nada foi salvo.", "error")
    return render_template("companies/show.html", company=company, form=form, names=names)
