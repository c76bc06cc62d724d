"""The browser's list queries: customers, invoices, runs, searchable and ready to paginate.

"Vencida" in these lists means what staff read on the invoice: open (saldo > 0) with a vencimento
before the date given. Whether a reminder is due (tolerance, weekends, holidays) is
``dunning.rules.plan``'s business, shown on the preview page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Boolean, Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.expression import FunctionElement

from dunning.text import fold
from models import Account, Company, Customer, CustomerGroup, Invoice, OutboxLine, Run

_TAX_ID_PUNCTUATION = re.compile(r"[./\-\s]")
_TAX_ID_LIKE = re.compile(r"[0-9A-Za-z./\-\s]+")


# Characters of a search that count: a longer one is cut (SQLite refuses LIKE patterns past
# 50,000 bytes, and nothing stored is longer than this).
MAX_SEARCH = 200


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards taken literally."""
    escaped = text[:MAX_SEARCH].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class contains_ci(FunctionElement):
    """``column`` contains ``text``, ignoring case: ILIKE, or SQLite's LIKE (already case-blind
    for ASCII, and four times faster than the ``lower() LIKE lower()`` SQLAlchemy emits)."""

    type = Boolean()
    inherit_cache = True
    name = "contains_ci"

    def __init__(self, column, text: str):
        super().__init__(column, _like(text))


@compiles(contains_ci)
def _contains_ci(element, compiler, **kw) -> str:
    column, pattern = list(element.clauses)
    return f"({compiler.process(column, **kw)} ILIKE {compiler.process(pattern, **kw)} ESCAPE '\\')"


@compiles(contains_ci, "sqlite")
def _contains_ci_sqlite(element, compiler, **kw) -> str:
    column, pattern = list(element.clauses)
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} ESCAPE '\\')"


def overdue_invoice(as_of: date):
    """SQL condition: an open invoice whose printed vencimento is before ``as_of``."""
    return and_(Invoice.balance_cents > 0, Invoice.due_date < as_of)


def customers_query(search: str = "", overdue_only: bool = False,
                    as_of: date | None = None, group_id: int | None = None) -> Select:
    """Customers by code, matching ``search`` in code, name or CPF/CNPJ (with or without punctuation)."""
    stmt = select(Customer).options(selectinload(Customer.group)).order_by(Customer.code)
    if group_id:
        stmt = stmt.where(Customer.group_id == group_id)
    search = search.strip()
    if search:
        terms = [contains_ci(Customer.code, search), contains_ci(Customer.name_folded, fold(search)),
                 contains_ci(Customer.tax_id, search)]
        compact = _TAX_ID_PUNCTUATION.sub("", search)
        # A CPF/CNPJ typed without (or with other) punctuation: compare it bare, letters and all
        # (the alphanumeric CNPJ), so that "ABC345" does not match on "345" alone.
        if len(compact) >= 3 and _TAX_ID_LIKE.fullmatch(search) and any(map(str.isdigit, compact)):
            bare = func.replace(func.replace(func.replace(func.replace(
                Customer.tax_id, ".", ""), "/", ""), "-", ""), " ", "")
            terms.append(contains_ci(bare, compact))
        stmt = stmt.where(or_(*terms))
    if overdue_only:
        stmt = stmt.where(exists().where(Invoice.customer_id == Customer.id, overdue_invoice(as_of)))
    return stmt


@dataclass(frozen=True)
class Balance:
    """What a customer owes: open and overdue totals, in cents."""

    open_cents: int = 0
    overdue_cents: int = 0


def balances(session: Session, customer_ids: list[int], as_of: date) -> dict[int, Balance]:
    """Open and overdue totals of a page of customers, in one query."""
    if not customer_ids:
        return {}
    rows = session.execute(
        select(Invoice.customer_id, func.sum(Invoice.balance_cents),
               func.sum(case((Invoice.due_date < as_of, Invoice.balance_cents), else_=0)))
        .where(Invoice.customer_id.in_(customer_ids), Invoice.balance_cents > 0)
        .group_by(Invoice.customer_id))
    return {cid: Balance(open_cents or 0, overdue_cents or 0) for cid, open_cents, overdue_cents in rows}


def invoices_query(company_id: int | None = None, customer_id: int | None = None,
                   overdue_only: bool = False, include_settled: bool = False,
                   as_of: date | None = None) -> Select:
    """Invoices by vencimento, filtered by empresa, cliente, vencidas; open ones unless asked."""
    stmt = (select(Invoice)
            .options(selectinload(Invoice.company), selectinload(Invoice.customer),
                     selectinload(Invoice.account))
            # (vencimento, saldo, id): the order of the (vencimento, saldo) index, so no sort is needed.
            .order_by(Invoice.due_date, Invoice.balance_cents, Invoice.id))
    if company_id:
        stmt = stmt.where(Invoice.company_id == company_id)
    if customer_id:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    if overdue_only:
        stmt = stmt.where(overdue_invoice(as_of))
    elif not include_settled:
        stmt = stmt.where(Invoice.balance_cents > 0)
    return stmt


def find_customer(session: Session, code: str) -> Customer | None:
    """The customer with exactly this code."""
    return session.scalar(select(Customer).where(Customer.code == code.strip()))


def open_invoices(session: Session, customer_id: int) -> list[Invoice]:
    """A customer's open invoices, oldest vencimento first."""
    return list(session.scalars(
        select(Invoice).options(selectinload(Invoice.company), selectinload(Invoice.account))
        .where(Invoice.customer_id == customer_id, Invoice.balance_cents > 0)
        .order_by(Invoice.due_date, Invoice.id)))


def reminder_history(session: Session, customer_id: int, limit: int = 50) -> list[OutboxLine]:
    """A customer's latest lines that carried (or were to carry) a message, newest first: the
    daily `skipped` ones would push them off the page, and go after the retention anyway (they
    are summed up by ``skip_history``)."""
    return list(session.scalars(
        select(OutboxLine).where(OutboxLine.customer_id == customer_id,
                                 OutboxLine.status != "skipped")
        .order_by(OutboxLine.as_of.desc(), OutboxLine.id.desc()).limit(limit)))


@dataclass(frozen=True)
class SkipHistory:
    """The runs that skipped a customer for one reason, among the `skipped` lines still kept."""

    reason: str
    count: int
    first: date
    last: date


def skip_history(session: Session, customer_id: int) -> list[SkipHistory]:
    """A customer's kept `skipped` lines summed up per reason, most recent reason first."""
    rows = session.execute(
        select(OutboxLine.skip_reason, func.count(), func.min(OutboxLine.as_of),
               func.max(OutboxLine.as_of))
        .where(OutboxLine.customer_id == customer_id, OutboxLine.status == "skipped")
        .group_by(OutboxLine.skip_reason))
    return sorted((SkipHistory(*row) for row in rows), key=lambda h: (h.last, h.count),
                  reverse=True)


def accounts(session: Session) -> list[Account]:
    """Every (Empresa, Conta), for the account choices of the policy forms."""
    return list(session.scalars(
        select(Account).join(Account.company).options(selectinload(Account.company))
        .order_by(Company.code, Account.code)))


def companies(session: Session) -> list[Company]:
    """Every Empresa, by code, with its accounts."""
    return list(session.scalars(
        select(Company).options(selectinload(Company.accounts)).order_by(Company.code)))


def groups_query(search: str = "") -> Select:
    """Customer groups by code, matching ``search`` in code or name."""
    stmt = select(CustomerGroup).options(selectinload(CustomerGroup.account_rules)).order_by(CustomerGroup.code)
    if search.strip():
        stmt = stmt.where(or_(contains_ci(CustomerGroup.code, search.strip()),
                              contains_ci(CustomerGroup.name, search.strip())))
    return stmt


def group_sizes(session: Session, group_ids: list[int]) -> dict[int, int]:
    """How many customers each of a page of groups has."""
    if not group_ids:
        return {}
    return dict(session.execute(select(Customer.group_id, func.count()).where(
        Customer.group_id.in_(group_ids)).group_by(Customer.group_id)).all())


def runs_query() -> Select:
    """Runs, newest first."""
    return select(Run).order_by(Run.id.desc())


def run_lines_query(run_id: int, status: str = "", search: str = "") -> Select:
    """A run's lines, optionally only one status or customers matching ``search``."""
    stmt = (select(OutboxLine).join(OutboxLine.customer)
            .options(selectinload(OutboxLine.customer))
            .where(OutboxLine.run_id == run_id).order_by(OutboxLine.id))
    if status == "failed":  # refused, wholly or for some recipients
        stmt = stmt.where(OutboxLine.problem(),
                          or_(OutboxLine.status.in_(("failed_temporary", "failed_permanent")),
                              and_(OutboxLine.status == "sent", OutboxLine.refused != "")))
    elif status:
        stmt = stmt.where(OutboxLine.status == status)
    if search.strip():
        stmt = stmt.where(or_(contains_ci(Customer.code, search.strip()),
                              contains_ci(Customer.name, search.strip())))
    return stmt
