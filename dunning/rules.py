"""Who gets a reminder on a date, and what it lists (SPEC §4): the one home of "what is overdue".

The dry-run and the real send call ``plan()``; the browser preview counts with ``plan_summary()``
and lists its page of messages with ``plan(customer_ids=...)``. All three decide through
``_verdicts`` (rules 1-7, from set-based queries: no invoice row is read to decide) and list
through ``_Rules.reminder`` (rule 8, only for the customers that are due). The queries live in
``dunning.plan_reads``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import plan_reads as reads
from dunning.addresses import valid_addresses
from dunning.bank_calendar import DueDateCalendar, parse_extra_dates
from dunning.bulk import gc_paused
from dunning.charges import updated_cents
from dunning.creditor import creditor_gaps
from dunning.formatting import cents_to_str
from dunning.freshness import STALE_DATA, company_ages, max_data_age_hours
from dunning.levels import Level, load_levels
from dunning.summary_memo import remembered
from models import Customer, SendEmail, StationSettings

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
    The last five fields are only printed in the e-mail: ``plan()`` leaves them out and
    ``load_details`` fills them in for the messages about to be rendered.
    """

    invoice_id: int
    company_code: str
    document: str
    installment: str
    account_code: str
    due_date: date
    effective_due_date: date
    balance_cents: int
    days_late: int
    overdue: bool
    # Saldo with multa and juros (dunning.charges), None when the station charges neither.
    updated_cents: int | None = None
    issue_date: date | None = None
    amount_cents: int | None = None
    digitable_line: str = ""
    pix_code: str = ""
    payment_link: str = ""

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


@dataclass(slots=True)
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


@dataclass(slots=True)
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
    # False while the invoices lack what only the e-mail prints (see load_details).
    detailed: bool = True

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


class Skip(NamedTuple):
    """An enabled customer that gets nothing on the run date, and why (one of SKIP_REASONS).

    A named tuple: a plan holds one per skipped customer (tens of thousands at a chain), and a
    tuple is built in a fraction of a frozen dataclass's time."""

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


class Due(NamedTuple):
    """A customer due a message on the run date, without its listing (see ``plan_summary``)."""

    customer_id: int
    customer_code: str
    kind: str                   # OVERDUE or DUE_SOON
    to: tuple[str, ...]         # valid addresses only


@dataclass
class PlanSummary:
    """Who ``plan()`` would remind and skip on ``as_of``, without reading the invoices it lists.

    The same verdicts as ``plan()`` (both come from ``_verdicts``): the preview counts and pages
    with it, then asks ``plan(customer_ids=...)`` for the messages of one page. ``due`` and
    ``skipped`` are tuples: a remembered summary shares them with every later view.
    """

    as_of: date
    due: tuple[Due, ...] = ()
    skipped: tuple[Skip, ...] = ()
    held: list[HeldCompany] = field(default_factory=list)

    def reason_counts(self) -> dict[str, int]:
        """How many enabled customers each skip reason covers, in SKIP_REASONS order."""
        counts = dict.fromkeys(SKIP_REASONS, 0)
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return {reason: n for reason, n in counts.items() if n}


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
    """An enabled customer as the rules see it (scope None = all its invoices; ``scope_kind``
    names the rule 4 list the scope came from: "billing", "own", "group", or None)."""

    id: int
    code: str
    name: str
    tax_id: str
    email_addresses: str
    tolerance_days: int
    scope: frozenset[int] | None
    scope_kind: str | None = None


@dataclass
class _Verdicts:
    """Rules 1-7 decided for the selected customers, before any invoice is listed."""

    rules: _Rules
    due: list[tuple[_Candidate, str, list[str]]]      # (customer, kind, valid addresses), by code
    skipped: list[Skip]

    def held(self) -> list[HeldCompany]:
        return _named(self.rules.held, self.rules.held_used)


def plan(session: Session, as_of: date, customer_code: str | None = None,
         now: datetime | None = None, *, customer_ids: list[int] | None = None) -> Plan:
    """The reminders due on ``as_of`` (optionally for one customer, or for the customers with
    these ids), per SPEC §4 rules 1-8.

    ``now`` is the real clock of the run or preview: the companies whose invoice data is too old
    at ``now`` (``dunning.freshness``) are held back, whatever ``as_of`` says; None checks no
    data age (tests of the rules alone).

    Reads only; a handful of set-based queries whatever the number of customers, and only the
    open items of the customers that are due reach Python. The reminders come without what only
    the e-mail prints (``load_details``). Raises UnknownCustomer when ``customer_code`` names no
    customer.
    """
    with gc_paused():  # nothing built here forms a cycle
        verdicts = _verdicts(session, as_of, _selection(session, customer_code, customer_ids),
                             _creditors(session, now))
        result = Plan(as_of=as_of, skipped=verdicts.skipped, held=verdicts.held())
        result.reminders = _listings(session, verdicts, customer_code is not None
                                     or customer_ids is not None)
        for reminder in result.reminders:
            reminder.detailed = False
        return result


def load_details(session: Session, reminders: list[Reminder]) -> None:
    """Fill in what ``plan()`` leaves out of the reminders' invoices because only a rendered
    message prints it: emissão, valor original, linha digitável, Pix copia e cola and link.

    Reading them for every open item would make the plan a third slower, for the dry-run and
    the counts that never print them; a run loads them before it sends, the preview for its page.
    """
    invoices = {inv.invoice_id: inv for reminder in reminders if not reminder.detailed
                for inv in reminder.invoices}
    dates: dict = {}
    for invoice_id, issued, amount, digitable, pix, link in reads.invoice_details(
            session, sorted(invoices)):
        invoice = invoices[invoice_id]
        if issued is not None:
            invoice.issue_date = dates.get(issued) or dates.setdefault(issued, _as_date(issued))
        invoice.amount_cents = amount
        invoice.digitable_line, invoice.pix_code, invoice.payment_link = (
            digitable or "", pix or "", link or "")
    for reminder in reminders:
        reminder.detailed = True


def _as_date(stored) -> date:
    """A date as the driver returns it (text on SQLite)."""
    return stored if isinstance(stored, date) else date.fromisoformat(stored)


def plan_summary(session: Session, as_of: date, customer_code: str | None = None,
                 now: datetime | None = None) -> PlanSummary:
    """``plan()``'s verdicts (who is due, who is skipped and why, which companies are held back)
    without listing any invoice: what the preview counts and pages with at a chain's size.

    Every customer's summary is remembered while the database is unchanged
    (``dunning.summary_memo``): the preview's next pages reuse it. The companies held back are
    decided at ``now`` on every call (they are in the key), and their texts, which say how old
    the data is, are always those of ``now``.
    """
    with gc_paused():
        creditors = _creditors(session, now)
        held = creditors.held
        selection = _selection(session, customer_code, None)

        def verdicts() -> tuple[tuple[Due, ...], tuple[Skip, ...], tuple[int, ...]]:
            found = _verdicts(session, as_of, selection, creditors)
            return (tuple(Due(c.id, c.code, kind, tuple(to)) for c, kind, to in found.due),
                    tuple(found.skipped), tuple(found.rules.held_used))

        if customer_code is None:
            key = (as_of, tuple(sorted((cid, h.reason) for cid, h in held.items())))
            due, skipped, held_used = remembered(session, key, verdicts)
        else:
            due, skipped, held_used = verdicts()
    return PlanSummary(as_of, due, skipped, _named(held, held_used))


def _selection(session: Session, customer_code: str | None,
               customer_ids: list[int] | None) -> list[int] | None:
    """The customer ids a plan is limited to (None = every customer)."""
    if customer_code is None:
        return None if customer_ids is None else sorted(set(customer_ids))
    customer_id = session.scalar(select(Customer.id).where(Customer.code == customer_code))
    if customer_id is None:
        raise UnknownCustomer(customer_code)
    return [customer_id]


class _Creditors(NamedTuple):
    """The accounts and companies (``plan_reads.accounts_and_companies``), and the companies whose
    invoices no message may list, by id."""

    accounts: dict[int, str]
    companies: dict[int, tuple[str, ...]]
    held: dict[int, HeldCompany]


def _creditors(session: Session, now: datetime | None) -> _Creditors:
    """The accounts and companies, with those held back at ``now``: their data too old (not
    checked when ``now`` is None), or their creditor data incomplete."""
    accounts, companies = reads.accounts_and_companies(session)
    held = _held_companies(companies)
    if now is not None:
        held.update(stale_companies(session, now))     # stale data goes first (HOLD_REASONS)
    return _Creditors(accounts, companies, held)


def _named(held: dict[int, HeldCompany], company_ids) -> list[HeldCompany]:
    """These held-back companies, in code order (as the run and the preview name them)."""
    return sorted((held[company_id] for company_id in company_ids), key=lambda h: h.code)


def _verdicts(session: Session, as_of: date, selection: list[int] | None,
              creditors: _Creditors) -> _Verdicts:
    """Rules 1-7 for the selected customers, from set-based queries (no invoice row is read)."""
    settings = _load_settings(session)
    accounts, companies, held = creditors
    rules = _Rules(as_of, settings, accounts, companies, held, load_levels(session))
    candidates = _enabled_customers(session, selection)
    facts = reads.due_facts(session, selection, list(held), rules.soon_range())
    # Only overdue reminders count for the resend interval: a pre-due notice does not delay one.
    last_sent = reads.last_reminders(session, selection, OVERDUE)
    result = _Verdicts(rules, [], [])
    for cid, candidate in candidates.items():
        kind, reason, to = rules.decide(candidate, facts[candidate.scope_kind].get(cid),
                                        last_sent.get(cid))
        if reason:
            result.skipped.append(Skip(cid, candidate.code, reason))
        else:
            result.due.append((candidate, kind, to))
    result.due.sort(key=lambda item: item[0].code)
    result.skipped.sort(key=lambda s: s.customer_code)
    return result


def _listings(session: Session, verdicts: _Verdicts, selected: bool) -> list[Reminder]:
    """Rule 8 for the due customers: their open items in scope, read once, in code order."""
    open_items: dict[int, list] = {candidate.id: [] for candidate, _, _ in verdicts.due}
    if not open_items:
        return []
    # A selection is read through the customer index; everyone, by one sequential scan.
    for rows in reads.open_items(session, sorted(open_items) if selected else None):
        for row in rows:
            bucket = open_items.get(row[1])
            if bucket is not None:
                bucket.append(row)
    rules = verdicts.rules
    return [rules.reminder(candidate, kind, to, open_items.pop(candidate.id))
            for candidate, kind, to in verdicts.due]


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


def _enabled_customers(session: Session, selection: list[int] | None) -> dict[int, _Candidate]:
    """Rules 1-4 for every selected customer: the enabled ones with their tolerance and scope."""
    entries = reads.scope_entries(session, selection)
    own_lists, group_lists, billing = entries["own"], entries["group"], entries["billing"]
    yes, inherit = SendEmail.YES.value, SendEmail.INHERIT.value
    candidates: dict[int, _Candidate] = {}
    for (cid, code, name, tax_id, emails, group_id, switch, tolerance,
         group_switch, group_tolerance) in reads.customer_rows(session, selection):
        own = own_lists.get(cid)
        inherits = switch == inherit
        group_own = group_lists.get(group_id) if group_id is not None else None
        enabled = switch == yes or bool(own) or (inherits and (bool(group_switch) or bool(group_own)))
        if not enabled:
            continue
        scope, kind = billing.get(cid), "billing"
        if not scope:
            scope, kind = own, "own"
        if not scope and inherits:
            scope, kind = group_own, "group"
        if tolerance is None:
            tolerance = group_tolerance if group_tolerance is not None else 0
        candidates[cid] = _Candidate(cid, code, name, tax_id, emails or "", tolerance,
                                     frozenset(scope) if scope else None, kind if scope else None)
    return candidates


class _Rules:
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
        self.issued: dict = {}       # stored date (last reminders) -> date
        self.cutoffs: dict[int, date] = {}   # tolerance -> rule 6's bound

    def _due(self, stored) -> tuple[date, date, int]:
        """(vencimento, effective due date, dias_atraso) of a stored due date, computed once."""
        due = _as_date(stored)
        effective = effective_due_date(due, self.calendar) if self.settings.shift_due_dates else due
        known = self.dates[stored] = (due, effective, max(0, (self.as_of - due).days))
        return known

    def _date(self, stored) -> date:
        known = self.issued[stored] = _as_date(stored)
        return known

    def _effective(self, stored) -> date:
        return (self.dates.get(stored) or self._due(stored))[1]

    def soon_range(self) -> tuple[date, date] | None:
        """The due dates whose effective due date is the pre-due notice's day, as (first, last);
        None when the notice is off or no due date moves to that day.

        The effective due date never decreases as the due date grows, so they are that day (a
        business day) and the non-business days right before it."""
        target = self.due_soon_date
        if target is None:
            return None
        if not self.settings.shift_due_dates:
            return target, target
        if effective_due_date(target, self.calendar) != target:
            return None
        first = target
        while effective_due_date(first - timedelta(days=1), self.calendar) == target:
            first -= timedelta(days=1)
        return first, target

    def decide(self, candidate: _Candidate, facts: tuple | None,
               last_sent) -> tuple[str, str | None, list[str]]:
        """(kind, the first skip reason that applies or None, the valid addresses) for one
        enabled customer, from its facts (``plan_reads.due_facts``; None: nothing open)."""
        earliest, held_earliest, falls_due = facts or (None, (), False)
        cutoff = self.cutoff(candidate)
        held_reason = None
        for company_id, stored in zip(self.held, held_earliest):
            if stored is not None and self._effective(stored) < cutoff:         # rule 6
                self.held_used.add(company_id)
                reason = self.held[company_id].reason
                if held_reason is None or \
                        HOLD_REASONS.index(reason) < HOLD_REASONS.index(held_reason):
                    held_reason = reason
        if earliest is not None and self._effective(earliest) < cutoff:          # rule 6
            return OVERDUE, *self._addressed(candidate, last_sent)
        if falls_due and not held_reason:
            return DUE_SOON, *self._addressed(candidate, None)
        return OVERDUE, held_reason or "nothing_overdue", []

    def _addressed(self, candidate: _Candidate, last_sent) -> tuple[str | None, list[str]]:
        """Rule 7's address and interval checks: (the skip reason or None, the valid addresses)."""
        given, to = valid_addresses(candidate.email_addresses)
        if not given:
            return "no_email", to
        if not to:
            return "invalid_email", to
        if last_sent is not None and \
                (self.issued.get(last_sent) or self._date(last_sent)) > \
                self.as_of - timedelta(days=self.interval):
            return "recently_sent", to
        return None, to

    def reminder(self, candidate: _Candidate, kind: str, to: list[str], rows: list) -> Reminder:
        """Rule 8: the message of a due customer from its open items (``plan_reads.open_items``
        rows): those in scope, without the held companies' ones."""
        scope, held = candidate.scope, self.held
        if scope is not None or held:
            rows = [row for row in rows
                    if (scope is None or row[2] in scope) and row[3] not in held]
        if kind == DUE_SOON:
            target, effective = self.due_soon_date, self._effective
            rows = [row for row in rows if effective(row[4]) == target]
            reminder = self._reminder(candidate, to, rows, self.as_of, listing_all=True)
            reminder.kind, reminder.level = DUE_SOON, None
            return reminder
        return self._reminder(candidate, to, rows, self.cutoff(candidate))

    def cutoff(self, candidate: _Candidate) -> date:
        """Rule 6's bound for this customer: overdue means an effective due date before it."""
        known = self.cutoffs.get(candidate.tolerance_days)
        if known is None:
            known = self.cutoffs[candidate.tolerance_days] = \
                self.as_of - timedelta(days=candidate.tolerance_days)
        return known

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
        if len(rows) > 1:
            rows.sort(key=_listing_order)   # in C, on the rows, before any object is built
        by_company: dict[int, list] = {}     # company id -> [invoices, overdue, open, charged cents]
        codes, accounts, dates, due_of = self.company_codes, self.accounts, self.dates, self._due
        only_overdue = self.settings.only_overdue and not listing_all
        as_of, charged, most_late = self.as_of, self.charged, 0
        fee, interest = self.settings.late_fee_bp, self.settings.interest_bp_month
        for invoice_id, _, account_id, company_id, stored_due, balance, document, installment in rows:
            known = dates.get(stored_due)
            due, effective, days_late = known if known is not None else due_of(stored_due)
            overdue = effective < cutoff
            if only_overdue and not overdue:
                continue
            invoice = PlannedInvoice(invoice_id, codes[company_id], document, installment,
                                     accounts[account_id], due, effective, balance, days_late,
                                     overdue)
            part = by_company.get(company_id)
            if part is None:
                part = by_company[company_id] = [[], 0, 0, 0]
            part[0].append(invoice)
            part[2] += balance
            if overdue:
                part[1] += balance
                if days_late > most_late:
                    most_late = days_late
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
        # companies[id] = (code, name, tax_id, address, phone, email), CompanyStatement's order
        return CompanyStatement(company_id, *self.companies[company_id], invoices, overdue_cents,
                                open_cents, charged_cents if self.charged else None)


# Rule 8's order: overdue first, most days late first, then the rest by due date. Within one
# customer (one tolerance) that is plain due-date order: the effective due date never decreases
# as the due date grows, so every overdue item falls due before every other one, and among the
# overdue ones the earliest due is the most days late. Applied to the rows (due date as stored,
# which sorts as the date: ISO text on SQLite), then kept as each company's list is filled.
_listing_order = itemgetter(4, 6, 7)
