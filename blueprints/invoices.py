"""Faturas: every open item, paginated, filtered by empresa, cliente and vencidas."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import false

from dunning import queries
from models import db

bp = Blueprint("invoices", __name__, url_prefix="/faturas")


@bp.route("/")
def index():
    """The invoice list with its filters."""
    as_of = date.today()
    company_id = request.args.get("empresa", type=int)
    customer_code = request.args.get("cliente", "").strip()
    overdue_only = request.args.get("vencidas") == "1"
    include_settled = request.args.get("baixadas") == "1"
    customer, not_found = None, False
    if customer_code:
        customer = queries.find_customer(db.session, customer_code)
        not_found = customer is None
    stmt = queries.invoices_query(company_id, customer.id if customer else None, overdue_only,
                                  include_settled, as_of)
    if not_found:
        stmt = stmt.where(false())
    page = db.paginate(stmt, per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("invoices/index.html", page=page, companies=queries.companies(db.session),
                           company_id=company_id, customer_code=customer_code, not_found=not_found,
                           overdue_only=overdue_only, include_settled=include_settled, as_of=as_of)
