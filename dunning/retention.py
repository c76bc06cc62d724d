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
does it by hand. Crash-safe: run by run, oldest first, in short batches, each its own transaction
(SQLite holds its write lock for one batch only), and a run is marked pruned
(``run.skips_pruned_at``) with its last batch; a prune cut short (crash, time budget) carries on
where it stopped the next time. Only runs no longer marked running are touched, so the counts
stored from their lines stay right.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models.delivery import LineStatus, OutboxLine, Run
from models.settings import StationSettings

# Lines deleted per transaction: short enough for SQLite's single writer (the browser's saves wait
# at most one batch), large enough that a year's backlog goes in minutes (bench/retention.py).
BATCH = 5_000


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
                  between_batches: Callable[[], None] | None = None) -> PruneReport:
    """Delete the `skipped` lines of the runs dated before ``as_of - retention_days``; commits
    after each batch.

    ``budget`` bounds the time spent (the rest waits for the next prune); ``between_batches`` is
    called after each committed batch (the daily run refreshes its run lock there).
    """
    report = PruneReport(retention_days, cutoff(as_of, retention_days))
    if report.cutoff is None:
        return report
    deadline = clock() + budget if budget is not None else None
    runs = list(session.scalars(
        select(Run.id).where(Run.as_of < report.cutoff, Run.status != "running",
                             Run.skips_pruned_at.is_(None)).order_by(Run.as_of, Run.id)))
    session.rollback()
    for index, run_id in enumerate(runs):
        done = False
        while not done:
            doomed = (select(OutboxLine.id).where(OutboxLine.run_id == run_id,
                                                  OutboxLine.status == LineStatus.SKIPPED.value)
                      .limit(batch).scalar_subquery())
            deleted = session.execute(delete(OutboxLine).where(
                OutboxLine.id.in_(doomed),
                OutboxLine.status == LineStatus.SKIPPED.value)
                .execution_options(synchronize_session=False)).rowcount
            report.lines += deleted
            done = deleted < batch
            if done:
                session.execute(update(Run).where(Run.id == run_id).values(
                    skips_pruned_at=clock()))
                report.runs += 1
            session.commit()
            if between_batches is not None:
                between_batches()
            more = not done or index + 1 < len(runs)
            if more and deadline is not None and clock() >= deadline:
                report.finished = False
                return report
    return report


__all__ = ["BATCH", "PruneReport", "retention_days", "cutoff", "prune_skipped"]
