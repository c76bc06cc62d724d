"""Who gets a reminder on a date, and what it lists (SPEC §4): the one home of "what is overdue".

The dry-run, the browser preview and the real send all call ``plan()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter

import holidays
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from dunning.addresses import addresses_of, is_valid_email
from dunning.bulk import gc_paused
from dunning.formatting import cents_to_str
from dunning.freshness import STALE_DATA, HeldCompany, held_companies
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, OutboxLine, SendEmail, StationSettings)
from models.delivery import DELIVERED_STATUSES

SKIP_REASONS = ("no_email", "invalid_email", "nothing_overdue", "recently_sent", STALE_DATA)
# How staff read a skip reason, on screen and in the dry-run table.
SKIP_REASON_LABELS = {
    "no_email": "sem e-mail cadastrado",
    "invalid_email": "nenhum e-mail válido",
    "nothing_overdue": "nada vencido além da tolerância",
    "recently_sent": "lembrete já enviado dentro do intervalo de reenvio",
    STALE_DATA: "dados da empresa desatualizados",
}


@dataclass(slots=True)
class PlannedInvoice:
    """An open item in a reminder's scope, with the rule's verdict.

    Not frozen: a frozen dataclass costs ~5x more to build, and a plan can list a million of these.
    """

    invoice_id: int
    company_code: str
    document: str
    installment: str
    account_code: str
    issue_date: date | None
    due_date: date
    effective_due_date: date
    amount_cents: int | None
    balance_cents: int
    days_late: int
    overdue: bool
    digitable_line: str = ""
    pix_code: str = ""
    payment_link: str = ""

    def to_json(self) -> dict:
        """The invoice as SPEC §6's JSON shows it."""
        return {"empresa": self.company_code, "documento": self.document,
                "parcela": self.installment, "conta": self.account_code,
                "vencimento": self.due_date.isoformat(), "saldo": cents_to_str(self.balance_cents),
                "dias_atraso": self.days_late, "vencido": self.overdue}


@dataclass
class CompanyStatement:
    """The part of a reminder owed to one Empresa (the creditor named in the e-mail)."""

    company_id: int
    company_code: str
    name: str
    tax_id: str
    address: str
    phone: str
    email: str
    invoices: list[PlannedInvoice]          # overdue first (most late first), then the others
    overdue_cents: int = 0
    open_cents: int = 0


@dataclass
class Reminder:
    """One e-mail due to one customer on the run date."""

    customer_id: int
    customer_code: str
    customer_name: str
    tax_id: str
    to: list[str]                            # valid addresses only
    companies: list[CompanyStatement]
    overdue_cents: int = 0
    open_cents: int = 0

    @property
    def invoices(self) -> list[PlannedInvoice]:
        """Every listed invoice, company by company."""
        return [inv for company in self.companies for inv in company.invoices]

    def to_json(self) -> dict:
        """The reminder as SPEC §6's JSON shows it."""
        return {"customer": self.customer_code, "to": list(self.to),
                "invoices": [inv.to_json() for inv in self.invoices]}


@dataclass(frozen=True)
class Skip:
    """An enabled customer that gets nothing on the run date, and why (one of SKIP_REASONS)."""

    customer_id: int
    customer_code: str
    reason: str

    def to_json(self) -> dict:
        return {"customer": self.customer_code, "reason": self.reason}


@dataclass
class Plan:
    """Everything a run on ``as_of`` would send, and every enabled customer it would skip."""

    as_of: date
    reminders: list[Reminder] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    # Companies whose invoices were left out of every message (their data is too old), by code.
    held_back: list[HeldCompany] = field(default_factory=list)

    def to_json(self) -> dict:
        """SPEC §6's dry-run JSON, plus the companies held back."""
        return {"date": self.as_of.isoformat(),
                "reminders": [r.to_json() for r in self.reminders],
                "skipped": [s.to_json() for s in self.skipped],
                "held_back": [h.to_json() for h in self.held_back]}

    def incomplete_creditors(self) -> list[tuple[str, int, str]]:
        """(code, id, name) of the companies the messages name without the address or CNPJ that
        CDC art. 42-A requires in every collection notice."""
        missing = {(c.company_code, c.company_id, c.name) for r in self.reminders
                   for c in r.companies if not (c.address.strip() and c.tax_id.strip())}
        return sorted(missing)


class UnknownCustomer(LookupError):
    """``plan(customer_code=...)`` named a customer the station does not have."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def brazil_calendar() -> holidays.HolidayBase:
    """Brazilian national holidays (no state or municipal ones), years filled in on demand."""
    return holidays.country_holidays("BR")


def effective_due_date(due: date, calendar: holidays.HolidayBase) -> date:
    """``due`` moved to the next business day when it falls on a weekend or national holiday."""
    while due.weekday() >= 5 or due in calendar:
        due += timedelta(days=1)
    return due


@dataclass(frozen=True)
class _Settings:
    resend_interval_days: int = 7
    only_overdue: bool = False
    shift_due_dates: bool = True


@dataclass(slots=True)
class _Candidate:
    """An enabled customer as the rules see it (scope None = all its invoices)."""

    id: int
    code: str
    name: str
    tax_id: str
    email_addresses: str
    tolerance_days: int
    scope: frozenset[int] | None


def plan(session: Session, as_of: date, customer_code: str | None = None,
         now: datetime | None = None) -> Plan:
    """The reminders due on ``as_of`` (optionally for one customer), per SPEC §4 rules 1-8.

    ``now`` is the real clock of the run or preview: the companies whose invoice data is too old
    at ``now`` (``dunning.freshness``) are held back, whatever ``as_of`` says; None checks no
    data age (tests of the rules alone). Reads only; a handful of set-based queries whatever the
    number of customers. Raises UnknownCustomer when ``customer_code`` names no customer.
    """
    customer_id = None
    if customer_code is not None:
        customer_id = session.scalar(select(Customer.id).where(Customer.code == customer_code))
        if customer_id is None:
            raise UnknownCustomer(customer_code)
    settings = _load_settings(session)
    candidates = _enabled_customers(session, customer_id)
    last_sent = _last_reminders(session, customer_id)
    accounts = {key: value for key, value in session.execute(select(Account.id, Account.code))}
    companies = {cid: tuple(rest) for cid, *rest in session.execute(
        select(Company.id, Company.code, Company.name, Company.tax_id, Company.address,
               Company.phone, Company.email))}
    held = held_companies(session, now) if now is not None else {}
    builder = _PlanBuilder(as_of, settings, accounts, companies, held)
    with gc_paused():  # nothing built here forms a cycle
        return _build(session, as_of, customer_id, candidates, last_sent, builder)


def _build(session: Session, as_of: date, customer_id: int | None, candidates: dict[int, _Candidate],
           last_sent: dict[int, date], builder: _PlanBuilder) -> Plan:
    """Read the open items once and let ``builder`` decide customer by customer."""
    # One unordered scan (a sequential read, cheaper than walking an index), bucketed by customer.
    open_items: dict[int, list] = {cid: [] for cid in candidates}
    for rows in _open_invoices(session, customer_id):
        for row in rows:
            bucket = open_items.get(row[1])
            if bucket is not None:
                bucket.append(row)
    result = Plan(as_of=as_of)
    for cid, candidate in candidates.items():
        builder.decide(candidate, open_items.pop(cid), last_sent.get(cid), result)
    result.reminders.sort(key=lambda r: r.customer_code)
    result.skipped.sort(key=lambda s: s.customer_code)
    result.held_back = sorted(builder.withheld.values(), key=lambda h: h.code)
    return result


def _load_settings(session: Session) -> _Settings:
    """The sending settings, or their defaults before staff ever saved them (without writing)."""
    row = session.execute(select(
        StationSettings.resend_interval_days, StationSettings.only_overdue,
        StationSettings.shift_due_dates).where(StationSettings.id == 1)).first()
    return _Settings(*row) if row else _Settings()


def _enabled_customers(session: Session, customer_id: int | None) -> dict[int, _Candidate]:
    """Rules 1-4 for every customer: the enabled ones with their tolerance and scope."""
    c, g = Customer.__table__.c, CustomerGroup.__table__.c

    def pairs(stmt, customer_column=None) -> dict[int, set[int]]:
        """owner id -> account ids, only for the one customer when there is one."""
        if customer_id is not None and customer_column is not None:
            stmt = stmt.where(customer_column == customer_id)
        out: dict[int, set[int]] = {}
        for key, account_id in session.execute(stmt):
            out.setdefault(key, set()).add(account_id)
        return out

    customer_entries = pairs(select(CustomerAccountRule.customer_id, CustomerAccountRule.account_id)
                             .where(CustomerAccountRule.send_email.is_(True)),
                             CustomerAccountRule.customer_id)
    group_entries = pairs(select(GroupAccountRule.group_id, GroupAccountRule.account_id)
                          .where(GroupAccountRule.send_email.is_(True)))
    billing = pairs(select(BillingAccount.customer_id, BillingAccount.account_id),
                    BillingAccount.customer_id)

    stmt = (select(c.id, c.code, c.name, c.tax_id, c.email_addresses, c.group_id, c.send_email,
                   c.tolerance_days, g.send_email, g.tolerance_days)
            .select_from(Customer.__table__.outerjoin(CustomerGroup.__table__, c.group_id == g.id))
            .where(c.send_email != SendEmail.NO.value))
    if customer_id is not None:
        stmt = stmt.where(c.id == customer_id)
    candidates: dict[int, _Candidate] = {}
    for (cid, code, name, tax_id, emails, group_id, switch, tolerance,
         group_switch, group_tolerance) in session.execute(stmt):
        own = customer_entries.get(cid)
        inherits = switch == SendEmail.INHERIT.value
        group_own = group_entries.get(group_id) if group_id is not None else None
        enabled = switch == SendEmail.YES.value or bool(own) or (
            inherits and (bool(group_switch) or bool(group_own)))
        if not enabled:
            continue
        scope = billing.get(cid) or own or (group_own if inherits else None)
        if tolerance is None:
            tolerance = group_tolerance if group_tolerance is not None else 0
        candidates[cid] = _Candidate(cid, code, name, tax_id, emails or "", tolerance,
                                     frozenset(scope) if scope else None)
    return candidates


def _last_reminders(session: Session, customer_id: int | None) -> dict[int, date]:
    """Each customer's latest run date on which a reminder went (or may have gone) out."""
    stmt = (select(OutboxLine.customer_id, func.max(OutboxLine.as_of))
            .where(OutboxLine.status.in_(DELIVERED_STATUSES)).group_by(OutboxLine.customer_id))
    if customer_id is not None:
        stmt = stmt.where(OutboxLine.customer_id == customer_id)
    return {key: value for key, value in session.execute(stmt)}


def _open_invoices(session: Session, customer_id: int | None):
    """Every open item (saldo > 0), streamed in batches rather than loaded whole."""
    i = Invoice.__table__.c
    # Most items are read, so a sequential scan beats walking an index: "+ 0" keeps SQLite's
    # planner off the indexes that hold the saldo. Dates come back as stored (text on SQLite) and
    # are parsed once per distinct value.
    stmt = (select(i.id, i.customer_id, i.account_id, i.company_id, type_coerce(i.due_date, String),
                   i.balance_cents, i.document, i.installment, type_coerce(i.issue_date, String),
                   i.amount_cents, i.digitable_line, i.pix_code, i.payment_link)
            .where(i.balance_cents + 0 > 0))
    if customer_id is not None:
        stmt = stmt.where(i.customer_id == customer_id)
    return session.execute(stmt, execution_options={"stream_results": True}).partitions(20_000)


class _PlanBuilder:
    """Rules 5-8 for one customer at a time, with the per-date work cached across customers."""

    def __init__(self, as_of: date, settings: _Settings, accounts: dict[int, str],
                 companies: dict[int, tuple[str, ...]], held: dict[int, HeldCompany]):
        self.as_of = as_of
        self.held = held                              # company id -> why it is held back
        self.withheld: dict[int, HeldCompany] = {}    # those whose invoices were left out
        self.settings = settings
        self.interval = max(1, settings.resend_interval_days or 0)
        self.accounts = accounts
        self.companies = companies
        self.company_codes = {cid: company[0] for cid, company in companies.items()}
        self.calendar = brazil_calendar()
        self.dates: dict = {}        # stored due date -> (due, effective due, days late)
        self.issued: dict = {}       # stored issue date -> date
        self.addresses: dict[str, bool] = {}

    def _due(self, stored) -> tuple[date, date, int]:
        """(vencimento, effective due date, dias_atraso) of a stored due date, computed once."""
        due = stored if isinstance(stored, date) else date.fromisoformat(stored)
        effective = effective_due_date(due, self.calendar) if self.settings.shift_due_dates else due
        known = self.dates[stored] = (due, effective, max(0, (self.as_of - due).days))
        return known

    def _issue(self, stored) -> date:
        known = stored if isinstance(stored, date) else date.fromisoformat(stored)
        self.issued[stored] = known
        return known

    def decide(self, candidate: _Candidate, rows: list, last_sent: date | None, result: Plan) -> None:
        """Add the customer's Reminder, or its Skip with the first reason that applies, to ``result``."""
        if candidate.scope is not None:
            rows = [row for row in rows if row[2] in candidate.scope]
        cutoff = self.as_of - timedelta(days=candidate.tolerance_days)
        held_rows = ()
        if self.held and rows:
            held, kept = self.held, []
            held_rows = [row for row in rows if row[3] in held or kept.append(row)]
            rows = kept
            for row in held_rows:
                self.withheld.setdefault(row[3], held[row[3]])
        if not self._any_overdue(rows, cutoff):
            # Left with nothing overdue: say so, or why its overdue items are held back
            # (stale data first when several reasons apply).
            reasons = {self.held[row[3]].reason for row in held_rows
                       if self._any_overdue((row,), cutoff)}
            reason = (STALE_DATA if STALE_DATA in reasons else min(reasons)) if reasons \
                else "nothing_overdue"
            result.skipped.append(Skip(candidate.id, candidate.code, reason))
            return
        given = addresses_of(candidate.email_addresses)
        to = [a for a in given if is_valid_email(a, self.addresses)]
        reason = None
        if not given:
            reason = "no_email"
        elif not to:
            reason = "invalid_email"
        elif last_sent is not None and last_sent > self.as_of - timedelta(days=self.interval):
            reason = "recently_sent"
        if reason:
            result.skipped.append(Skip(candidate.id, candidate.code, reason))
        else:
            result.reminders.append(self._reminder(candidate, to, rows, cutoff))

    def _any_overdue(self, rows, cutoff: date) -> bool:
        """Whether any of ``rows`` is overdue on the run date (rule 6)."""
        dates, due_of = self.dates, self._due
        for row in rows:
            if (dates.get(row[4]) or due_of(row[4]))[1] < cutoff:
                return True
        return False

    def _reminder(self, candidate: _Candidate, to: list[str], rows: list, cutoff: date) -> Reminder:
        by_company: dict[int, list] = {}     # company id -> [invoices, overdue cents, open cents]
        codes, accounts, dates, due_of, issued_dates, issue_of = (
            self.company_codes, self.accounts, self.dates, self._due, self.issued, self._issue)
        only_overdue = self.settings.only_overdue
        for (invoice_id, _, account_id, company_id, stored_due, balance, document, installment,
             issued, amount, digitable, pix, link) in rows:
            due, effective, days_late = dates.get(stored_due) or due_of(stored_due)
            overdue = effective < cutoff
            if only_overdue and not overdue:
                continue
            if issued is not None:
                issued = issued_dates.get(issued) or issue_of(issued)
            invoice = PlannedInvoice(invoice_id, codes[company_id], document, installment,
                                     accounts[account_id], issued, due, effective, amount,
                                     balance, days_late, overdue, digitable or "", pix or "",
                                     link or "")
            part = by_company.get(company_id)
            if part is None:
                part = by_company[company_id] = [[], 0, 0]
            part[0].append(invoice)
            part[2] += balance
            if overdue:
                part[1] += balance
        statements = [self._statement(company_id, *part) for company_id, part in by_company.items()]
        if len(statements) > 1:
            statements.sort(key=lambda s: s.company_code)
        return Reminder(candidate.id, candidate.code, candidate.name, candidate.tax_id, to,
                        statements, overdue_cents=sum(s.overdue_cents for s in statements),
                        open_cents=sum(s.open_cents for s in statements))

    def _statement(self, company_id: int, invoices: list[PlannedInvoice], overdue_cents: int,
                   open_cents: int) -> CompanyStatement:
        """One Empresa's part of a reminder; its totals are those of the invoices it lists."""
        if len(invoices) > 1:
            invoices.sort(key=_listing_order)
        # companies[id] = (code, name, tax_id, address, phone, email), CompanyStatement's order
        return CompanyStatement(company_id, *self.companies[company_id], invoices,
                                overdue_cents=overdue_cents, open_cents=open_cents)


# Rule 8's order: overdue first, most days late first, then the rest by due date. Within one
# customer (one tolerance) that is plain due-date order: the effective due date never decreases
# as the due date grows, so every overdue item falls due before every other one, and among the
# overdue ones the earliest due is the most days late.
_listing_order = attrgetter("due_date", "document", "installment")
