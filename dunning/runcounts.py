"""A run's figures (sent, partial, failed, unknown, pending, skipped): the one home of how they are
counted, always from the run's outbox lines.

A finished run keeps the counts taken from its lines when it ended (the next run of the same date
may take its pending lines over); a run still going, or killed before a later run settled it, is
counted live. A line never tried (``pending``) is not a failure.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.delivery import LineStatus, OutboxLine, Run

_FAILED = (LineStatus.FAILED_TEMPORARY.value, LineStatus.FAILED_PERMANENT.value)
_PENDING = (LineStatus.PENDING.value, LineStatus.SENDING.value)


@dataclass(frozen=True)
class RunCounts:
    """How many lines of a run stand where; ``sent`` includes the ``partial`` deliveries."""

    sent: int = 0
    partial: int = 0
    failed: int = 0
    unknown: int = 0
    pending: int = 0
    skipped: int = 0

    @property
    def problems(self) -> int:
        """Lines staff should look at: failed, unknown or delivered only in part."""
        return self.failed + self.unknown + self.partial

    def summary(self) -> str:
        """The figures as staff read them (terminal, run page, Painel); zeros shown only for the
        three figures every run has."""
        parts = [f"{self.sent} enviados"
                 + (f" ({self.partial} só para parte dos destinatários)" if self.partial else ""),
                 f"{self.failed} falhas"]
        parts += [text for n, text in ((self.unknown, f"{self.unknown} em situação incerta"),
                                       (self.pending, f"{self.pending} pendentes (não tentados)"))
                  if n]
        parts.append(f"{self.skipped} ignorados")
        return ", ".join(parts)

    @classmethod
    def stored(cls, run: Run) -> RunCounts:
        return cls(run.sent_count, run.partial_count, run.failed_count, run.unknown_count,
                   run.pending_count, run.skipped_count)


def count_lines(session: Session, run_ids: list[int]) -> dict[int, RunCounts]:
    """The counts of each run in ``run_ids``, from its lines, in one query."""
    if not run_ids:
        return {}
    status = OutboxLine.status
    rows = session.execute(
        select(OutboxLine.run_id,
               func.count().filter(status == LineStatus.SENT.value),
               func.count().filter(status == LineStatus.SENT.value, OutboxLine.refused != ""),
               func.count().filter(status.in_(_FAILED)),
               func.count().filter(status == LineStatus.UNKNOWN.value),
               func.count().filter(status.in_(_PENDING)),
               func.count().filter(status == LineStatus.SKIPPED.value))
        .where(OutboxLine.run_id.in_(run_ids)).group_by(OutboxLine.run_id))
    counts = {run_id: RunCounts() for run_id in run_ids}
    counts.update({row[0]: RunCounts(*row[1:]) for row in rows})
    return counts


def store_counts(session: Session, run_ids: list[int]) -> None:
    """Write each run's counts, taken from its lines, onto the run (the caller commits)."""
    for run_id, c in count_lines(session, run_ids).items():
        session.execute(update(Run).where(Run.id == run_id).values(
            sent_count=c.sent, partial_count=c.partial, failed_count=c.failed,
            unknown_count=c.unknown, pending_count=c.pending, skipped_count=c.skipped))


def counts_of(session: Session, runs: list[Run]) -> dict[int, RunCounts]:
    """The figures to show for ``runs``: live for a run still marked running, else stored."""
    live = count_lines(session, [run.id for run in runs if run.status == "running"])
    return {run.id: live.get(run.id) or RunCounts.stored(run) for run in runs}


__all__ = ["RunCounts", "count_lines", "store_counts", "counts_of"]
