"""What the plan reads from the database, set-based: the home of its queries, none of its rules.

``dunning.rules`` decides; this module only fetches, in as few statements as the number of
customers allows, and hands back plain tuples:

* the facts rule 6 needs per customer (the earliest open due date in scope, per scope kind), as
  grouped queries: deciding who is due reads no invoice row into Python;
* the open items of the customers that are due (rule 8's listing), read once.

The queries that return a row per customer or per invoice go through the driver's cursor
(``plain_rows``): SQLAlchemy's Row objects cost more than the reading itself at 800,000 rows.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date

from sqlalchemy import String, and_, case, func, literal, select, type_coerce, union_all
from sqlalchemy.orm import Session

from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, OutboxLine, SendEmail)
from models.delivery import DELIVERED_STATUSES

# Rule 4's kinds of scope, tagged in SQL by number (a literal column compares faster than text).
SCOPE_SOURCES = {1: "billing", 2: "own", 3: "group"}
# A selection of customers is read through the customer index, this many ids per IN list.
_CHUNK = 500
_cursor_names = itertools.count()


def plain_rows(session: Session, stmt, batch: int = 20_000) -> Iterator[list[tuple]]:
    """``stmt``'s rows as the driver's plain tuples, ``batch`` at a time, from a streaming cursor.

    The statement is compiled with its parameters inlined: only for values this module makes
    (ids, dates, the program's own constants), never for text that came from outside.
    """
    connection = session.connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.dbapi_connection
    # psycopg streams only from a named (server-side) cursor; sqlite3 always streams.
    postgresql = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name=f"plan_rows_{next(_cursor_names)}") if postgresql \
        else driver.cursor()
    try:
        if postgresql:
            cursor.itersize = batch
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def all_rows(session: Session, stmt) -> list[tuple]:
    """Every row of ``stmt`` as plain tuples (``plain_rows``, collected)."""
    return [row for rows in plain_rows(session, stmt) for row in rows]


def _chunks(customer_ids: list[int] | None) -> Iterator[list[int] | None]:
    """None for every customer, else the selected ones a few hundred at a time."""
    if customer_ids is None:
        yield None
        return
    for start in range(0, len(customer_ids), _CHUNK):
        yield customer_ids[start:start + _CHUNK]


def _only(stmt, column, customer_ids: list[int] | None) -> Iterator:
    """``stmt`` for every customer (None), or once per chunk of the selected ones."""
    for chunk in _chunks(customer_ids):
        yield stmt if chunk is None else stmt.where(column.in_(chunk))


def _rows_of(session: Session, stmts) -> list[tuple]:
    """Every row of every statement of ``stmts`` (``_only``'s chunks), as plain tuples."""
    return [row for stmt in stmts for row in all_rows(session, stmt)]


def customer_rows(session: Session, customer_ids: list[int] | None) -> list[tuple]:
    """(id, code, name, tax id, addresses, group id, switch, tolerance, group's switch, group's
    tolerance) of every customer that is not opted out (rule 1)."""
    c, g = Customer.__table__.c, CustomerGroup.__table__.c
    stmt = (select(c.id, c.code, c.name, c.tax_id, c.email_addresses, c.group_id, c.send_email,
                   c.tolerance_days, g.send_email, g.tolerance_days)
            .select_from(Customer.__table__.outerjoin(CustomerGroup.__table__, c.group_id == g.id))
            .where(c.send_email != SendEmail.NO.value))
    return _rows_of(session, _only(stmt, c.id, customer_ids))


def _scope_entries() -> dict[str, tuple]:
    """Rule 4's account lists by kind: (select of (owner id, account id), whether the owner is a
    customer; else a group). The same selects feed the candidates and the facts' join."""
    b, ce, ge = (BillingAccount.__table__.c, CustomerAccountRule.__table__.c,
                 GroupAccountRule.__table__.c)
    return {
        "billing": (select(b.customer_id, b.account_id), True),
        "own": (select(ce.customer_id, ce.account_id).where(ce.send_email.is_(True)), True),
        "group": (select(ge.group_id, ge.account_id).where(ge.send_email.is_(True)), False),
    }


def scope_entries(session: Session, customer_ids: list[int] | None) -> dict[str, dict[int, set[int]]]:
    """kind -> owner id (customer, or group for "group") -> account ids."""
    out: dict[str, dict[int, set[int]]] = {}
    for kind, (stmt, per_customer) in _scope_entries().items():
        pairs: dict[int, set[int]] = {}
        owner = stmt.selected_columns[0]
        for key, account_id in _rows_of(session, _only(stmt, owner, customer_ids if per_customer
                                                      else None)):
            pairs.setdefault(key, set()).add(account_id)
        out[kind] = pairs
    return out


def last_reminders(session: Session, customer_ids: list[int] | None, kind: str) -> dict[int, object]:
    """Each customer's latest run date on which a reminder of ``kind`` went (or may have gone)
    out, as stored (text on SQLite)."""
    o = OutboxLine.__table__.c
    stmt = (select(o.customer_id, type_coerce(func.max(o.as_of), String))
            .where(o.status.in_(DELIVERED_STATUSES), o.kind == kind).group_by(o.customer_id))
    return dict(_rows_of(session, _only(stmt, o.customer_id, customer_ids)))


def accounts_and_companies(session: Session) -> tuple[dict[int, str], dict[int, tuple]]:
    """Account codes by id, and (code, name, tax id, address, phone, e-mail) by company id."""
    accounts = dict(session.execute(select(Account.id, Account.code)).all())
    companies = {cid: tuple(rest) for cid, *rest in session.execute(
        select(Company.id, Company.code, Company.name, Company.tax_id, Company.address,
               Company.phone, Company.email))}
    return accounts, companies


def due_facts(session: Session, customer_ids: list[int] | None, held_ids: list[int],
              soon: tuple[date, date] | None) -> dict[str | None, dict[int, tuple]]:
    """scope kind (None = all the customer's items) -> customer id -> facts, where facts are
    (earliest due date of the open items of companies not held back, the earliest of each held
    company in ``held_ids`` order, whether an item of a company not held falls due in ``soon``).

    Rule 6 needs no more than the earliest due date in scope: the effective due date never
    decreases as the due date grows. Two grouped queries answer it for every customer: one over
    all open items, one joined with the three kinds of account lists of rule 4 (which kind
    applies to a customer is the rules' business). With the index on (customer, due date, saldo,
    account, company) both read the index only, in customer order.
    """
    i = Invoice.__table__.c
    kept = i.due_date if not held_ids else case((i.company_id.in_(held_ids), None),
                                                else_=i.due_date)
    columns = [type_coerce(func.min(kept), String)]
    columns += [type_coerce(func.min(case((i.company_id == held, i.due_date))), String)
                for held in held_ids]
    if soon is not None:
        falls_due = i.due_date.between(*soon)
        if held_ids:
            falls_due = and_(falls_due, i.company_id.not_in(held_ids))
        columns.append(func.max(case((falls_due, 1), else_=0)))

    def facts(row: tuple, skip: int) -> tuple:
        held = row[skip + 1:skip + 1 + len(held_ids)]
        return row[skip], held, bool(row[-1]) if soon is not None else False

    out: dict[str | None, dict[int, tuple]] = {None: {}, **{k: {} for k in SCOPE_SOURCES.values()}}
    every = select(i.customer_id, *columns).where(i.balance_cents > 0).group_by(i.customer_id)
    for row in _rows_of(session, _only(every, i.customer_id, customer_ids)):
        out[None][row[0]] = facts(row, 1)
    for chunk in _chunks(customer_ids):
        scope = _scope_pairs(chunk)
        scoped = (select(i.customer_id, scope.c.source, *columns)
                  .select_from(scope.join(Invoice.__table__, and_(
                      i.customer_id == scope.c.customer_id, i.account_id == scope.c.account_id)))
                  .where(i.balance_cents > 0).group_by(i.customer_id, scope.c.source))
        for row in all_rows(session, scoped):
            out[SCOPE_SOURCES[row[1]]][row[0]] = facts(row, 2)
    return out


def _scope_pairs(customer_ids: list[int] | None):
    """Every (customer, account, kind number) pair of rule 4's account lists, as one derived
    table (group lists reach the group's customers)."""
    c = Customer.__table__.c
    parts = []
    for number, kind in SCOPE_SOURCES.items():
        stmt, per_customer = _scope_entries()[kind]
        tag = literal(number).label("source")
        if per_customer:
            part, customer = stmt.add_columns(tag), stmt.selected_columns[0]
        else:
            lists = stmt.subquery()
            part = (select(c.id, lists.c[1], tag)
                    .join_from(Customer.__table__, lists, lists.c[0] == c.group_id))
            customer = c.id
        if customer_ids is not None:
            part = part.where(customer.in_(customer_ids))
        parts.append(part)
    union = union_all(*parts).subquery()
    first, account, source = union.c
    return select(first.label("customer_id"), account.label("account_id"),
                  source.label("source")).subquery("scope_pairs")


def open_items(session: Session, customer_ids: list[int] | None) -> Iterator[list[tuple]]:
    """The open items (saldo > 0) of these customers (None: of every customer), in batches of
    (id, customer, account, company, due date, saldo, documento, parcela) tuples; dates as stored
    (text on SQLite), parsed once per value."""
    i = Invoice.__table__.c
    stmt = select(i.id, i.customer_id, i.account_id, i.company_id, type_coerce(i.due_date, String),
                  i.balance_cents, i.document, i.installment)
    if customer_ids is None:
        # Most items are read, so a sequential scan beats walking an index: "+ 0" keeps SQLite's
        # planner off the indexes that hold the saldo.
        yield from plain_rows(session, stmt.where(i.balance_cents + 0 > 0))
        return
    for chunk in _only(stmt.where(i.balance_cents > 0), i.customer_id, customer_ids):
        yield from plain_rows(session, chunk)


def invoice_details(session: Session, invoice_ids: list[int]) -> list[tuple]:
    """(id, emissão as stored, valor, linha digitável, Pix, link) of these invoices."""
    i = Invoice.__table__.c
    stmt = select(i.id, type_coerce(i.issue_date, String), i.amount_cents, i.digitable_line,
                  i.pix_code, i.payment_link)
    return [row for start in range(0, len(invoice_ids), _CHUNK)
            for row in all_rows(session, stmt.where(i.id.in_(invoice_ids[start:start + _CHUNK])))]
