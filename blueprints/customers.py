"""Clientes: the searchable list, and a customer's page (policy, Faturamento, e-mails, history)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from wtforms import FieldList, FormField, RadioField, SelectChoice, TextAreaField

from blueprints.forms import (AccountEntryForm, BillingAccountForm, PageForm, collect_rows,
                              prepare_rows, tolerance_field)
from dunning import editing, queries, retention
from dunning.addresses import is_valid_email, split_emails
from dunning.delivery import SKIP_LABELS
from models import Customer, CustomerGroup, SendEmail, db

bp = Blueprint("customers", __name__, url_prefix="/clientes")

SEND_CHOICES = [SelectChoice(SendEmail.INHERIT.value, "Herdar do grupo"),
                SelectChoice(SendEmail.YES.value, "Sim"), SelectChoice(SendEmail.NO.value, "Não")]


class CustomerPolicyForm(PageForm):
    """"Política Comercial > Conta" and "Faturamento" of one customer."""

    send_email = RadioField("Enviar e-mail sobre atraso de pendências financeiras",
                            choices=SEND_CHOICES, default=SendEmail.INHERIT.value)
    tolerance_days = tolerance_field()
    entries = FieldList(FormField(AccountEntryForm))
    billing = FieldList(FormField(BillingAccountForm))


class EmailsForm(PageForm):
    """The customer's e-mail addresses, one per line (or separated by commas)."""

    addresses = TextAreaField("E-mails")

    def validate_addresses(self, field) -> None:
        bad = [a for a in split_emails(field.data or "") if not is_valid_email(a)]
        if bad:
            field.errors.append("E-mail inválido: " + ", ".join(bad))


def today() -> date:
    """The date the pages compare vencimentos with (decided here, never in dunning/)."""
    return date.today()


@bp.route("/")
def index():
    """Customers, paginated, searchable, with the filter "com pendências vencidas"."""
    search = request.args.get("q", "")
    overdue_only = request.args.get("vencidas") == "1"
    group = db.session.get(CustomerGroup, request.args.get("grupo", 0, type=int))
    as_of = today()
    page = db.paginate(queries.customers_query(search, overdue_only, as_of, group.id if group else None),
                       per_page=current_app.config["PER_PAGE"], error_out=False)
    totals = queries.balances(db.session, [c.id for c in page.items], as_of)
    return render_template("customers/index.html", page=page, search=search, group=group,
                           overdue_only=overdue_only, totals=totals)


def _customer(customer_id: int) -> Customer:
    return db.session.get(Customer, customer_id) or abort(404)


@bp.route("/<int:customer_id>", methods=["GET", "POST"])
def show(customer_id: int):
    """A customer's page; its policy form saves on POST."""
    customer = _customer(customer_id)
    accounts = queries.accounts(db.session)
    form = _policy_form(customer, accounts, posted=request.method == "POST")
    if form.validate_on_submit():
        entries = collect_rows(form.entries, accounts, with_checkbox=True)
        billing = collect_rows(form.billing, accounts, with_checkbox=False)
        if entries is not None and billing is not None:
            editing.save_customer_policy(db.session, customer, SendEmail(form.send_email.data),
                                         form.tolerance_days.data, entries, billing)
            flash("Política do cliente salva.", "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    if request.method == "POST":
        flash("Corrija os campos indicados; nada foi salvo.", "error")
    emails_form = EmailsForm(addresses="\n".join(customer.emails), formdata=None)
    return _render(customer, form, emails_form)


@bp.route("/<int:customer_id>/emails", methods=["POST"])
def emails(customer_id: int):
    """Save the customer's e-mail addresses."""
    customer = _customer(customer_id)
    emails_form = EmailsForm()
    if emails_form.validate_on_submit():
        editing.save_customer_emails(db.session, customer, split_emails(emails_form.addresses.data or ""))
        flash("E-mails do cliente salvos.", "success")
        return redirect(url_for("customers.show", customer_id=customer.id))
    flash("Corrija os e-mails indicados; nada foi salvo.", "error")
    form = _policy_form(customer, queries.accounts(db.session), posted=False)
    return _render(customer, form, emails_form)


def _policy_form(customer: Customer, accounts: list, posted: bool) -> CustomerPolicyForm:
    """The policy form: from the request when posted, else from the stored policy plus an empty
    row to add an account entry and a billing account."""
    if posted:
        form = CustomerPolicyForm()
    else:
        form = CustomerPolicyForm(formdata=None, obj=_PolicyData(customer))
        form.entries.append_entry()
        form.billing.append_entry()
    prepare_rows(form.entries, accounts)
    prepare_rows(form.billing, accounts)
    return form


def _render(customer: Customer, form: CustomerPolicyForm, emails_form: EmailsForm):
    as_of = today()
    return render_template(
        "customers/show.html", customer=customer, form=form, emails_form=emails_form,
        invoices=queries.open_invoices(db.session, customer.id), as_of=as_of,
        history=queries.reminder_history(db.session, customer.id),
        skips=queries.skip_history(db.session, customer.id), reasons=SKIP_LABELS,
        retention_days=retention.retention_days(db.session))


class _PolicyData:
    """The customer's stored policy shaped like the form (for ``obj=``)."""

    def __init__(self, customer: Customer):
        self.send_email = customer.send_email
        self.tolerance_days = customer.tolerance_days
        self.entries = [{"account": r.account_id, "send_email": r.send_email, "remove": False}
                        for r in customer.account_rules]
        self.billing = [{"account": b.account_id, "remove": False} for b in customer.billing_accounts]
