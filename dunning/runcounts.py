"""A run's figures (sent, partial, failed, unknown, pending, skipped, and skipped per reason): the
one home of how they are counted, always from the run's outbox lines.

A finished run keeps the counts taken from its lines when it ended (the next run of the same date
may take its pending lines over; the retention deletes its `skipped` lines, dunning.retention); a
run still going, or killed before a later run settled it, is counted live. So counts are only ever
stored for a run still marked running, and the retention only touches runs that are not. A line
never tried (``pending``) is not a failure.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from models.delivery import LineStatus, OutboxLine, Run, RunSkipCount

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


def count_skip_reasons(session: Session, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each run's `skipped` lines per reason, from its lines, in one query."""
    counts: dict[int, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        for run_id, reason, n in session.execute(
                select(OutboxLine.run_id, OutboxLine.skip_reason, func.count())
                .where(OutboxLine.run_id.in_(run_ids),
                       OutboxLine.status == LineStatus.SKIPPED.value)
                .group_by(OutboxLine.run_id, OutboxLine.skip_reason)):
            counts[run_id][reason] = n
    return counts


def store_counts(session: Session, run_ids: list[int]) -> None:
    """Write each run's counts, taken from its lines, onto the run, and its counts per skip
    reason (the caller commits, then marks the run finished). Runs no longer marked running are
    left alone: their lines may have been pruned since."""
    run_ids = list(session.scalars(select(Run.id).where(Run.id.in_(run_ids),
                                                        Run.status == "running")))
    for run_id, c in count_lines(session, run_ids).items():
        session.execute(update(Run).where(Run.id == run_id).values(
            sent_count=c.sent, partial_count=c.partial, failed_count=c.failed,
            unknown_count=c.unknown, pending_count=c.pending, skipped_count=c.skipped))
    if run_ids:
        session.execute(delete(RunSkipCount).where(RunSkipCount.run_id.in_(run_ids)))
        rows = [{"run_id": run_id, "reason": reason, "count": n}
                for run_id, reasons in count_skip_reasons(session, run_ids).items()
                for reason, n in reasons.items()]
        if rows:
            session.execute(insert(RunSkipCount), rows)


def counts_of(session: Session, runs: list[Run]) -> dict[int, RunCounts]:
    """The figures to show for ``runs``: live for a run still marked running, else stored."""
    live = count_lines(session, [run.id for run in runs if run.status == "running"])
    return {run.id: live.get(run.id) or RunCounts.stored(run) for run in runs}


def skip_reasons_of(session: Session, run: Run) -> dict[str, int]:
    """The run's skipped customers per reason: live for a run still marked running, else the
    counts stored when it ended (still there after its lines are pruned)."""
    if run.status == "running":
        return count_skip_reasons(session, [run.id])[run.id]
    return dict(session.execute(select(RunSkipCount.reason, RunSkipCount.count)
                                .where(RunSkipCount.run_id == run.id)).all())


__all__ = ["RunCounts", "count_lines", "count_skip_reasons", "store_counts", "counts_of",
           "skip_reasons_of"]
