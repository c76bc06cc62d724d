"""The Painel's figures: what is open and overdue, the aging of overdue money, the last run."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from dunning.formatting import format_brl
from dunning.freshness import CompanyAge, company_ages, max_data_age_hours
from dunning.oauth import AUTH_METHOD_LABELS
from dunning.runcounts import RunCounts, counts_of
from models import Customer, ImportRecord, Invoice, OutboxLine, Run, StationSettings

# Aging buckets of overdue money by days past the printed vencimento: (label, first day, last day).
AGING_BUCKETS = (("1-30 dias", 1, 30), ("31-60 dias", 31, 60), ("61-90 dias", 61, 90),
                 ("90+ dias", 91, None))
PROBLEM_STATUSES = ("failed_temporary", "failed_permanent", "unknown")


@dataclass(frozen=True)
class Bucket:
    """Overdue money that is between ``first`` and ``last`` days late."""

    label: str
    cents: int
    invoices: int


@dataclass(frozen=True)
class MailAuthorization:
    """The OAuth 2.0 sign-in's health, for the Painel (None there with password sign-in)."""

    method_label: str
    account: str
    authorized: bool
    refreshed_at: datetime | None
    failed_at: datetime | None
    error: str

    @property
    def failing(self) -> bool:
        return bool(self.error) or not self.authorized


@dataclass
class Summary:
    """Everything the Painel shows, as of one date."""

    as_of: date
    open_cents: int = 0
    open_invoices: int = 0
    overdue_cents: int = 0
    overdue_invoices: int = 0
    delinquent_customers: int = 0
    aging: list[Bucket] = field(default_factory=list)
    last_run: Run | None = None
    last_run_counts: RunCounts | None = None
    last_run_problems: list[OutboxLine] = field(default_factory=list)
    data_ages: list[CompanyAge] = field(default_factory=list)  # per company, at the real clock
    max_data_age_hours: int = 24
    last_import: ImportRecord | None = None
    authorization: MailAuthorization | None = None

    @property
    def stale_companies(self) -> int:
        return sum(1 for age in self.data_ages if age.stale)


def summary(session: Session, as_of: date, problems_limit: int = 20,
            now: datetime | None = None) -> Summary:
    """Totals and aging of open invoices, the delinquent customers, the latest run's problems,
    and each company's data age at ``now`` (the real clock; None: not shown).

    Open money is read once, summed by vencimento (a few hundred rows, from a covering index),
    and bucketed here; the delinquent customers are one index probe each.
    """
    result = Summary(as_of)
    _add_open_money(session, result)
    # "id > 0" (always true) makes SQLite walk the customers in id order, so the probes into the
    # (cliente, vencimento, saldo) index move forward instead of jumping about: about 40% faster
    # than walking the group_id index it picks for a bare count.
    result.delinquent_customers = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.id > 0, exists().where(
            Invoice.customer_id == Customer.id, Invoice.balance_cents > 0, Invoice.due_date < as_of)))
    if now is not None:
        result.max_data_age_hours = max_data_age_hours(session)
        result.data_ages = company_ages(session, now, result.max_data_age_hours)
        result.last_import = session.scalar(
            select(ImportRecord).order_by(ImportRecord.id.desc()).limit(1))
    result.authorization = mail_authorization(StationSettings.load(session))
    result.last_run = session.scalar(select(Run).order_by(Run.id.desc()).limit(1))
    if result.last_run is not None:
        result.last_run_counts = counts_of(session, [result.last_run])[result.last_run.id]
        result.last_run_problems = list(session.scalars(
            select(OutboxLine).where(OutboxLine.run_id == result.last_run.id, OutboxLine.problem(),
                                     or_(OutboxLine.status.in_(PROBLEM_STATUSES),
                                         and_(OutboxLine.status == "sent",
                                              OutboxLine.refused != "")))
            .order_by(OutboxLine.id).limit(problems_limit)))
    return result


def mail_authorization(settings: StationSettings) -> MailAuthorization | None:
    """When the SMTP sign-in is OAuth 2.0: when it was last refreshed, and whether it fails."""
    if not settings.uses_oauth:
        return None
    return MailAuthorization(AUTH_METHOD_LABELS[settings.smtp_auth_method],
                             settings.oauth_account or settings.smtp_user,
                             bool(settings.oauth_refresh_token_encrypted),
                             settings.oauth_refreshed_at, settings.oauth_failed_at,
                             settings.oauth_error)


def _add_open_money(session: Session, result: Summary) -> None:
    """Open and overdue totals and the aging buckets, from open money summed by vencimento."""
    buckets = [[label, 0, 0] for label, _first, _last in AGING_BUCKETS]
    by_due = session.execute(
        select(Invoice.due_date, func.count(), func.sum(Invoice.balance_cents))
        .where(Invoice.balance_cents > 0).group_by(Invoice.due_date))
    for due, count, cents in by_due:
        result.open_invoices += count
        result.open_cents += cents
        late = (result.as_of - due).days
        if late < 1:
            continue
        result.overdue_invoices += count
        result.overdue_cents += cents
        for bucket, (_label, first, last) in zip(buckets, AGING_BUCKETS):
            if first <= late and (last is None or late <= last):
                bucket[1] += cents
                bucket[2] += count
                break
    result.aging = [Bucket(label, cents, count) for label, cents, count in buckets]


@dataclass(frozen=True)
class Bar:
    """One bar of the aging chart, in SVG user units, and the value written after it."""

    label: str
    cents: int
    invoices: int
    y: int
    width: int
    text: str

    @property
    def text_x(self) -> int:
        return BAR_X + self.width + TEXT_GAP


# The chart's geometry, in SVG user units (templates/dashboard.html): 600 wide, bars from x=90,
# their value 6 after them, in text at 15 units whose characters (digits, "R$", spaces) are at
# most ~9 units wide.
CHART_WIDTH, BAR_X, TEXT_GAP, CHAR_WIDTH = 600, 90, 6, 9


def aging_bars(aging: list[Bucket], width: int = 420, step: int = 34) -> list[Bar]:
    """Horizontal bars proportional to the money in each bucket (the longest gets ``width``),
    shortened when needed so that every bar's value still fits in the chart after it: a chain's
    "R$ 1.369.343.435,53 (546625)" must not be cut off by the chart's edge."""
    texts = [f"{format_brl(b.cents)} ({b.invoices})" for b in aging]
    scale = width / (max((b.cents for b in aging), default=0) or 1)
    for bucket, text in zip(aging, texts):
        room = CHART_WIDTH - BAR_X - TEXT_GAP - CHAR_WIDTH * len(text)
        if bucket.cents > 0:
            scale = min(scale, max(room, 0) / bucket.cents)
    return [Bar(b.label, b.cents, b.invoices, y=i * step, width=round(scale * b.cents), text=text)
            for i, (b, text) in enumerate(zip(aging, texts))]
