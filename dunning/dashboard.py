"""The Painel's figures: what is open and overdue, the aging of overdue money, the last run."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models import Invoice, OutboxLine, Run

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
    last_run_problems: list[OutboxLine] = field(default_factory=list)


def summary(session: Session, as_of: date, problems_limit: int = 20) -> Summary:
    """Totals over open invoices in one pass, plus the latest run and its failed/unknown lines."""
    overdue = Invoice.due_date < as_of
    columns = [func.count(), func.coalesce(func.sum(Invoice.balance_cents), 0),
               func.count(case((overdue, 1))),
               func.coalesce(func.sum(case((overdue, Invoice.balance_cents), else_=0)), 0),
               func.count(func.distinct(case((overdue, Invoice.customer_id))))]
    for _label, first, last in AGING_BUCKETS:
        newest = as_of - timedelta(days=first)
        condition = Invoice.due_date <= newest
        if last is not None:
            condition = condition & (Invoice.due_date >= as_of - timedelta(days=last))
        columns += [func.count(case((condition, 1))),
                    func.coalesce(func.sum(case((condition, Invoice.balance_cents), else_=0)), 0)]
    row = session.execute(select(*columns).where(Invoice.balance_cents > 0)).one()
    result = Summary(as_of, open_invoices=row[0], open_cents=row[1], overdue_invoices=row[2],
                     overdue_cents=row[3], delinquent_customers=row[4])
    for i, (label, _first, _last) in enumerate(AGING_BUCKETS):
        result.aging.append(Bucket(label, cents=row[6 + 2 * i], invoices=row[5 + 2 * i]))
    result.last_run = session.scalar(select(Run).order_by(Run.id.desc()).limit(1))
    if result.last_run is not None:
        result.last_run_problems = list(session.scalars(
            select(OutboxLine).where(OutboxLine.run_id == result.last_run.id,
                                     OutboxLine.status.in_(PROBLEM_STATUSES))
            .order_by(OutboxLine.id).limit(problems_limit)))
    return result


@dataclass(frozen=True)
class Bar:
    """One bar of the aging chart, in SVG user units."""

    label: str
    cents: int
    invoices: int
    y: int
    width: int


def aging_bars(aging: list[Bucket], width: int = 420, step: int = 34) -> list[Bar]:
    """Horizontal bars proportional to the money in each bucket (the longest gets ``width``)."""
    top = max((b.cents for b in aging), default=0) or 1
    return [Bar(b.label, b.cents, b.invoices, y=i * step, width=round(width * b.cents / top))
            for i, b in enumerate(aging)]
