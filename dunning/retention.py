"""How long a run's `skipped` lines are kept: the one home of deleting them.

Every run records one `skipped` outbox line per enabled customer it sends nothing to, about 36
million rows a year at 100,000 customers. Little of that is needed for long: the rules only look
at lines that carried a message (``dunning.rules`` reads the last `sent`/`sending`/`unknown` line
of a customer for the resend interval; the outbox's "one line per customer and date" index leaves
`skipped` lines out), and a run keeps its counts, per reason too (``run.skipped_count``,
``run_skip_count``, written by ``dunning.runcounts`` when it ends). So the `skipped` lines of runs
older than the station's retention (``skip_retention_days``, default 90, 0 = forever) are deleted;
a line that carried a message is never touched.

The daily run prunes after its send (``dunning.delivery``), and ``flask --app app prune-skipped``
does it by hand. Crash-safe: in short batches, each its own transaction (SQLite holds its write
lock for one batch only); the runs are marked pruned (``run.skips_pruned_at``) with the last
batch, and a prune cut short (crash, time budget) is simply done again the next time (the ranges
already pruned cost an index look-up each). Only runs no longer marked running are touched, so
the counts stored from their lines stay right.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models.delivery import LineStatus, OutboxLine, Run
from models.party import Customer
from models.settings import StationSettings

# About how many lines a transaction deletes: short enough for SQLite's single writer (the
# browser's saves wait for at most one batch), large enough for a year's backlog (bench/retention.py).
BATCH = 10_000


@dataclass
class PruneReport:
    """What one prune did."""

    retention_days: int
    cutoff: date | None            # lines of runs dated before this went; None = keep forever
    lines: int = 0                 # `skipped` lines deleted
    runs: int = 0                  # runs whose `skipped` lines are now all gone
    finished: bool = True          # False: the time budget ran out, the next prune goes on

    def summary(self) -> str:
        """pt-BR, for the terminal and the run's message."""
        if self.cutoff is None:
            return "Linhas de clientes ignorados guardadas para sempre (retenção 0)."
        text = (f"{self.lines} linha(s) de clientes ignorados em envios anteriores a "
                f"{self.cutoff:%d/%m/%Y} apagada(s) (guardadas por {self.retention_days} dias; as "
                f"contagens de cada envio ficam)")
        if not self.finished:
            text += "; o restante será apagado nos próximos envios"
        return text + "."


def retention_days(session: Session) -> int:
    """The station's retention, or its default before staff ever saved the settings (read only)."""
    stored = session.scalar(select(StationSettings.skip_retention_days)
                            .where(StationSettings.id == 1))
    return StationSettings.__table__.c.skip_retention_days.default.arg if stored is None else stored


def cutoff(as_of: date, retention_days: int) -> date | None:
    """The first run date whose `skipped` lines are kept on ``as_of`` (None: all are kept)."""
    if not retention_days:
        return None
    return as_of - timedelta(days=retention_days)


def prune_skipped(session: Session, as_of: date, retention_days: int,
                  clock: Callable[[], datetime] = datetime.now, budget: timedelta | None = None,
                  batch: int = BATCH,
                  between_batches: Callable[[PruneReport], None] | None = None) -> PruneReport:
    """Delete the `skipped` lines of the runs dated before ``as_of - retention_days``; commits
    after each batch of about ``batch`` lines.

    A batch is a range of customers (all their old skipped lines): the outbox's (customer,
    status, date) index holds a customer's lines together, so a batch rewrites a few pages of it,
    where deleting run by run would touch a page per line (each run spans every customer).
    ``budget`` bounds the time spent (the rest waits for the next prune); ``between_batches`` is
    called with the report so far after each committed batch (the daily run refreshes its run
    lock there, the command shows its progress).
    """
    report = PruneReport(retention_days, cutoff(as_of, retention_days))
    if report.cutoff is None:
        return report
    deadline = clock() + budget if budget is not None else None
    old = (Run.as_of < report.cutoff, Run.skips_pruned_at.is_(None))
    runs = list(session.scalars(select(Run.id).where(*old, Run.status != "running")))
    # A run killed before a later one settled it: its counts are not stored yet, so its lines stay.
    unsettled = list(session.scalars(select(Run.id).where(*old, Run.status == "running")))
    low, high = session.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
    session.rollback()
    if not runs or low is None:
        return report
    doomed = [OutboxLine.status == LineStatus.SKIPPED.value, OutboxLine.as_of < report.cutoff]
    if unsettled:
        doomed.append(OutboxLine.run_id.not_in(unsettled))
    width = max(1, batch // len(runs))  # customers per batch: about one line per run each
    start = low
    while start <= high:
        end = start + width
        report.lines += session.execute(
            delete(OutboxLine).where(OutboxLine.customer_id >= start,
                                     OutboxLine.customer_id < end, *doomed)
            .execution_options(synchronize_session=False)).rowcount
        start = end
        if start > high:
            session.execute(update(Run).where(Run.id.in_(runs)).values(skips_pruned_at=clock()))
            report.runs = len(runs)
        session.commit()
        if between_batches is not None:
            between_batches(report)
        if start <= high and deadline is not None and clock() >= deadline:
            report.finished = False
            break
    return report


__all__ = ["BATCH", "PruneReport", "retention_days", "cutoff", "prune_skipped"]
