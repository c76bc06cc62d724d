"""Who gets a reminder on a date, and what it lists (SPEC §4): the one home of "what is overdue".

The dry-run, the browser preview and the real send all call ``plan()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from dunning.addresses import addresses_of, is_valid_email
from dunning.bank_calendar import DueDateCalendar, parse_extra_dates
from dunning.bulk import gc_paused
from dunning.charges import updated_cents
from dunning.creditor import creditor_gaps
from dunning.formatting import cents_to_str
from dunning.freshness import STALE_DATA, company_ages, max_data_age_hours
from dunning.levels import Level, load_levels
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, OutboxLine, SendEmail, StationSettings)
from models.delivery import DELIVERED_STATUSES

# In the order the rules check them (README, "Motivos"): a company held back comes first, since
# its invoices are out of the message before anything overdue is looked for.
SKIP_REASONS = (STALE_DATA, "creditor_incomplete", "nothing_overdue", "no_email", "invalid_email",
                "recently_sent")
# Company hold-back reasons, most important first: data too old says nothing can be trusted about
# the company's invoices, so it is named before a gap in its creditor data.
HOLD_REASONS = (STALE_DATA, "creditor_incomplete")
# How staff read a skip reason, on screen and in the dry-run table.
SKIP_REASON_LABELS = {
    "no_email": "sem e-mail cadastrado",
    "invalid_email": "nenhum e-mail válido",
    "nothing_overdue": "nada vencido além da tolerância",
    "recently_sent": "lembrete já enviado dentro do intervalo de reenvio",
    "creditor_incomplete": "empresa credora sem nome, CNPJ ou endereço (CDC art. 42-A)",
    STALE_DATA: "dados da empresa desatualizados",
}
OVERDUE, DUE_SOON = "overdue", "due_soon"


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
    # Saldo with multa and juros (dunning.charges), None when the station charges neither.
    updated_cents: int | None = None

    @property
    def moved(self) -> bool:
        """Whether the calendar moved the due date (shown next to the printed one)."""
        return self.effective_due_date != self.due_date

    def to_json(self) -> dict:
        """The invoice as SPEC §6's JSON shows it (plus §9's saldo_atualizado when charged)."""
        out = {"empresa": self.company_code, "documento": self.document,
               "parcela": self.installment, "conta": self.account_code,
               "vencimento": self.due_date.isoformat(), "saldo": cents_to_str(self.balance_cents),
               "dias_atraso": self.days_late, "vencido": self.overdue}
        if self.moved:
            out["vencimento_efetivo"] = self.effective_due_date.isoformat()
        if self.updated_cents is not None:
            out["saldo_atualizado"] = cents_to_str(self.updated_cents)
        return out


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
    updated_cents: int | None = None        # open total with multa and juros, when charged


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
    kind: str = OVERDUE                      # or DUE_SOON, the pre-due notice
    level: Level | None = None               # the escalation level (None for DUE_SOON)
    updated_cents: int | None = None         # open total with multa and juros, when charged

    @property
    def level_name(self) -> str:
        return self.level.name if self.level is not None else ""

    @property
    def invoices(self) -> list[PlannedInvoice]:
        """Every listed invoice, company by company."""
        return [inv for company in self.companies for inv in company.invoices]

    def to_json(self) -> dict:
        """The reminder as SPEC §6's JSON shows it."""
        return {"customer": self.customer_code, "to": list(self.to), "kind": self.kind,
                "level": self.level_name, "invoices": [inv.to_json() for inv in self.invoices]}


@dataclass(frozen=True)
class Skip:
    """An enabled customer that gets nothing on the run date, and why (one of SKIP_REASONS)."""

    customer_id: int
    customer_code: str
    reason: str

    def to_json(self) -> dict:
        return {"customer": self.customer_code, "reason": self.reason}


@dataclass(frozen=True)
class HeldCompany:
    """A company whose invoices are left out of every message of the run, and why."""

    company_id: int
    code: str
    name: str
    reason: str                 # one of HOLD_REASONS
    detail: str                 # pt-BR: what is missing, how old the data is
    data_time: datetime | None = None   # stale_data: the data time of its last import

    @property
    def display_name(self) -> str:
        return self.name or f"Empresa {self.code}"

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}".strip()

    def to_json(self) -> dict:
        out = {"empresa": self.code, "nome": self.name, "reason": self.reason,
               "detail": self.detail}
        if self.reason == STALE_DATA:  # when its data was taken (null: never imported)
            out["data_time"] = self.data_time.isoformat(timespec="seconds") if self.data_time else None
        return out


@dataclass
class Plan:
    """Everything a run on ``as_of`` would send, and every enabled customer it would skip."""

    as_of: date
    reminders: list[Reminder] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    # Held-back companies whose overdue invoices some enabled customer's message left out.
    held: list[HeldCompany] = field(default_factory=list)

    def to_json(self) -> dict:
        """SPEC §6's dry-run JSON (with §9's additions)."""
        out = {"date": self.as_of.isoformat(),
               "reminders": [r.to_json() for r in self.reminders],
               "skipped": [s.to_json() for s in self.skipped]}
        if self.held:  # only when something was held back: SPEC §6's shape otherwise
            out["held"] = [h.to_json() for h in self.held]
        return out


class UnknownCustomer(LookupError):
    """``plan(customer_code=...)`` named a customer the station does not have."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def brazil_calendar(kind: str = "nacional") -> DueDateCalendar:
    """Brazilian national holidays (``kind`` "bancario" adds the bank ones), years on demand."""
    return DueDateCalendar(kind)


def effective_due_date(due: date, calendar: DueDateCalendar) -> date:
    """``due`` moved to the next business day when it falls on a weekend or holiday."""
    return calendar.next_business_day(due)


@dataclass(frozen=True)
class _Settings:
    resend_interval_days: int = 7
    only_overdue: bool = False
    shift_due_dates: bool = True
    bank_calendar: str = "bancario"
    state: str = ""
    extra_holidays: str = ""
    late_fee_bp: int = 0
    interest_bp_month: int = 0
    due_soon_days: int = 0

    def calendar(self) -> DueDateCalendar:
        """The calendar that moves due dates (extra dates that do not parse are ignored here:
        they are checked when saved)."""
        try:
            extra = frozenset(parse_extra_dates(self.extra_holidays or ""))
        except ValueError:
            extra = frozenset()
        return DueDateCalendar(self.bank_calendar, self.state, extra)


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
    held = _held_companies(companies)
    if now is not None:
        held.update(stale_companies(session, now))     # stale data goes first (HOLD_REASONS)
    builder = _PlanBuilder(as_of, settings, accounts, companies, held, load_levels(session))
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
    result.held = sorted((builder.held[company_id] for company_id in builder.held_used),
                         key=lambda h: h.code)
    result.reminders.sort(key=lambda r: r.customer_code)
    result.skipped.sort(key=lambda s: s.customer_code)
    return result


def _load_settings(session: Session) -> _Settings:
    """The sending settings, or their defaults before staff ever saved them (without writing)."""
    s = StationSettings
    row = session.execute(select(
        s.resend_interval_days, s.only_overdue, s.shift_due_dates, s.bank_calendar, s.state,
        s.extra_holidays, s.late_fee_bp, s.interest_bp_month, s.due_soon_days)
        .where(s.id == 1)).first()
    return _Settings(*row) if row else _Settings()


def _held_companies(companies: dict[int, tuple[str, ...]]) -> dict[int, HeldCompany]:
    """The companies no message may name as creditor (CDC art. 42-A), by id."""
    held = {}
    for company_id, (code, name, tax_id, address, *_) in companies.items():
        missing = creditor_gaps(name, tax_id, address)
        if missing:
            held[company_id] = HeldCompany(company_id, code, name, "creditor_incomplete",
                                           "falta " + ", ".join(missing))
    return held


def stale_companies(session: Session, now: datetime) -> dict[int, HeldCompany]:
    """The companies whose invoice data is too old at ``now`` (or never imported), by id."""
    limit = max_data_age_hours(session)
    if not limit:
        return {}
    return {age.company_id: HeldCompany(age.company_id, age.code, age.name, STALE_DATA,
                                        age.detail(limit), age.data_time)
            for age in company_ages(session, now, limit) if age.stale}


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
    # Only overdue reminders count for the resend interval: a pre-due notice does not delay one.
    stmt = (select(OutboxLine.customer_id, func.max(OutboxLine.as_of))
            .where(OutboxLine.status.in_(DELIVERED_STATUSES), OutboxLine.kind == OVERDUE)
            .group_by(OutboxLine.customer_id))
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
                 companies: dict[int, tuple[str, ...]], held: dict[int, HeldCompany],
                 levels: list[Level]):
        self.as_of = as_of
        self.held = held
        self.held_used: set[int] = set()
        self.levels = levels
        self.charged = bool(settings.late_fee_bp or settings.interest_bp_month)
        # The effective due date the pre-due notice announces today (None = notice off).
        self.due_soon_date = (as_of + timedelta(days=settings.due_soon_days)
                              if settings.due_soon_days else None)
        self.settings = settings
        self.interval = max(1, settings.resend_interval_days or 0)
        self.accounts = accounts
        self.companies = companies
        self.company_codes = {cid: company[0] for cid, company in companies.items()}
        self.calendar = settings.calendar()
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
        dates, due_of = self.dates, self._due
        held_reason = None
        if self.held:
            rows, held_reason = self._hold_back(rows, cutoff)
        for row in rows:
            if (dates.get(row[4]) or due_of(row[4]))[1] < cutoff:     # rule 6
                break
        else:
            due_soon = self._due_soon(rows) if self.due_soon_date and not held_reason else None
            if due_soon:
                self._send_or_skip(candidate, due_soon, None, result, DUE_SOON)
            else:
                result.skipped.append(Skip(candidate.id, candidate.code,
                                           held_reason or "nothing_overdue"))
            return
        self._send_or_skip(candidate, rows, last_sent, result, OVERDUE, cutoff)

    def _due_soon(self, rows: list) -> list:
        """The items whose effective due date is exactly the pre-due notice's day (so each item
        is announced on one date only: the outbox's one line per customer and date then makes it
        at most once)."""
        dates, due_of, target = self.dates, self._due, self.due_soon_date
        return [row for row in rows if (dates.get(row[4]) or due_of(row[4]))[1] == target]

    def _send_or_skip(self, candidate: _Candidate, rows: list, last_sent: date | None,
                      result: Plan, kind: str, cutoff: date | None = None) -> None:
        """Rule 7's address and interval checks, then the Reminder (or the Skip)."""
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
        elif kind == DUE_SOON:
            reminder = self._reminder(candidate, to, rows, self.as_of, listing_all=True)
            reminder.kind, reminder.level = DUE_SOON, None
            result.reminders.append(reminder)
        else:
            result.reminders.append(self._reminder(candidate, to, rows, cutoff))

    def _hold_back(self, rows: list, cutoff: date) -> tuple[list, str | None]:
        """``rows`` without the held companies' items, and the most important reason among the
        held companies that had something overdue here (None when none had)."""
        kept, reason = [], None
        held, dates, due_of = self.held, self.dates, self._due
        for row in rows:
            company = held.get(row[3])
            if company is None:
                kept.append(row)
            elif (dates.get(row[4]) or due_of(row[4]))[1] < cutoff:
                self.held_used.add(row[3])
                if reason is None or HOLD_REASONS.index(company.reason) < HOLD_REASONS.index(reason):
                    reason = company.reason
        return kept, reason

    def _level(self, days_late: int) -> Level | None:
        """The level of a reminder whose most-late invoice is ``days_late`` late: the last one
        that starts at or before it (the first level when it starts later still)."""
        chosen = self.levels[0] if self.levels else None
        for level in self.levels:
            if level.start_days <= days_late:
                chosen = level
        return chosen

    def _reminder(self, candidate: _Candidate, to: list[str], rows: list, cutoff: date,
                  listing_all: bool = False) -> Reminder:
        by_company: dict[int, list] = {}     # company id -> [invoices, overdue cents, open cents]
        codes, accounts, dates, due_of, issued_dates, issue_of = (
            self.company_codes, self.accounts, self.dates, self._due, self.issued, self._issue)
        only_overdue = self.settings.only_overdue and not listing_all
        as_of, charged, most_late = self.as_of, self.charged, 0
        fee, interest = self.settings.late_fee_bp, self.settings.interest_bp_month
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
            if overdue and days_late > most_late:
                most_late = days_late
            part = by_company.get(company_id)
            if part is None:
                part = by_company[company_id] = [[], 0, 0, 0]
            part[0].append(invoice)
            part[2] += balance
            if overdue:
                part[1] += balance
            if charged:
                # Charges only once the effective due date has passed (FEBRABAN: a bill due on a
                # non-business day is paid on the next one without charges).
                invoice.updated_cents = updated_cents(balance, days_late if as_of > effective
                                                      else 0, fee, interest)
                part[3] += invoice.updated_cents
        statements = [self._statement(company_id, *part) for company_id, part in by_company.items()]
        if len(statements) > 1:
            statements.sort(key=lambda s: s.company_code)
        return Reminder(candidate.id, candidate.code, candidate.name, candidate.tax_id, to,
                        statements, overdue_cents=sum(s.overdue_cents for s in statements),
                        open_cents=sum(s.open_cents for s in statements),
                        level=self._level(most_late),
                        updated_cents=sum(s.updated_cents for s in statements) if charged else None)

    def _statement(self, company_id: int, invoices: list[PlannedInvoice], overdue_cents: int,
                   open_cents: int, charged_cents: int) -> CompanyStatement:
        """One Empresa's part of a reminder; its totals are those of the invoices it lists."""
        if len(invoices) > 1:
            invoices.sort(key=_listing_order)
        # companies[id] = (code, name, tax_id, address, phone, email), CompanyStatement's order
        return CompanyStatement(company_id, *self.companies[company_id], invoices,
                                overdue_cents=overdue_cents, open_cents=open_cents,
                                updated_cents=charged_cents if self.charged else None)


# Rule 8's order: overdue first, most days late first, then the rest by due date. Within one
# customer (one tolerance) that is plain due-date order: the effective due date never decreases
# as the due date grows, so every overdue item falls due before every other one, and among the
# overdue ones the earliest due is the most days late.
_listing_order = attrgetter("due_date", "document", "installment")
