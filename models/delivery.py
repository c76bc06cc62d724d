"""Reminder runs and their outbox: one line per customer and run date, never sent twice."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, and_, literal_column, or_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.party import Customer


class LineStatus(str, enum.Enum):
    """Where a customer's reminder for one run date stands."""

    PENDING = "pending"
    SENDING = "sending"          # committed before the message goes to the server
    SENT = "sent"
    FAILED_TEMPORARY = "failed_temporary"
    FAILED_PERMANENT = "failed_permanent"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"          # found still `sending` by a later run: never re-sent automatically


# The lines that are neither skipped nor plainly sent (failed, unknown, pending, partial).
PROBLEM_LINE = "status <> 'skipped' AND (status <> 'sent' OR refused <> '')"
# Statuses that count as "a reminder went (or may have gone) out" for the resend interval.
DELIVERED_STATUSES = (LineStatus.SENT.value, LineStatus.SENDING.value, LineStatus.UNKNOWN.value)


class Run(db.Model):
    """One execution of the daily job (scheduler, CLI or the browser's "Enviar agora")."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="running")
    trigger: Mapped[str] = mapped_column(String(20), default="scheduler")
    message: Mapped[str] = mapped_column(Text, default="")
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    # Taken from the lines when the run ends (dunning.runcounts); "sent" includes the partial.
    pending_count: Mapped[int] = mapped_column(default=0, server_default="0")
    unknown_count: Mapped[int] = mapped_column(default=0, server_default="0")
    partial_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the run's `skipped` lines were all deleted after the station's retention
    # (dunning.retention); its counts, and the per-reason ones in run_skip_count, stay.
    skips_pruned_at: Mapped[datetime | None] = mapped_column(default=None)

    lines: Mapped[list[OutboxLine]] = relationship(back_populates="run", order_by="OutboxLine.id")
    skip_counts: Mapped[list[RunSkipCount]] = relationship(order_by="RunSkipCount.reason",
                                                           viewonly=True)


class RunSkipCount(db.Model):
    """How many enabled customers a run sent nothing to for one reason: what stays of its
    `skipped` lines once the retention deletes them (written with the run's other counts)."""

    __tablename__ = "run_skip_count"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(30), primary_key=True)
    count: Mapped[int]


class OutboxLine(db.Model):
    """A customer's reminder for one run date: its status, Message-ID and the server's reply."""

    __tablename__ = "outbox_line"
    __table_args__ = (
        # At most one non-skipped line per customer and date: the "never twice" guarantee.
        Index("uq_outbox_customer_date", "customer_id", "as_of", unique=True,
              sqlite_where=text("status != 'skipped'"),
              postgresql_where=text("status != 'skipped'")),
        Index("ix_outbox_customer_status", "customer_id", "status", "as_of"),
        # A run's lines in line order (its page): with (run_id) alone PostgreSQL may walk the
        # whole table in id order looking for the newest run's lines (17 s after a year of runs).
        Index("ix_outbox_run_line", "run_id", "id"),
        # A run's lines staff must look at (the "com falha" filter, the Painel): a few among
        # 100,000; PostgreSQL otherwise reads the run's every line (1 s), SQLite does anyway.
        Index("ix_outbox_run_problem", "run_id", "id", sqlite_where=text(PROBLEM_LINE),
              postgresql_where=text(PROBLEM_LINE)),
    )

    @classmethod
    def problem(cls) -> ColumnElement[bool]:
        """PROBLEM_LINE as a condition, constants inline: a query that ANDs it in may use the
        partial index ix_outbox_run_problem (a bound parameter would not match its WHERE)."""
        return and_(cls.status != literal_column("'skipped'"),
                    or_(cls.status != literal_column("'sent'"), cls.refused != literal_column("''")))

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    as_of: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), default=LineStatus.PENDING.value)
    skip_reason: Mapped[str] = mapped_column(String(30), default="")
    # "overdue" (the daily reminder) or "due_soon" (the pre-due notice), and the escalation
    # level's name the message used ('' for due_soon and for skips).
    kind: Mapped[str] = mapped_column(String(10), default="overdue", server_default="overdue")
    level: Mapped[str] = mapped_column(String(60), default="", server_default="")
    recipients: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    smtp_code: Mapped[int | None] = mapped_column(default=None)
    smtp_reply: Mapped[str] = mapped_column(Text, default="")
    # Recipients the server refused while it accepted the message for the others ("a: 550 ...;
    # b: ..."): a `sent` line with refusals is a partial delivery, shown as such.
    refused: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # The exact MIME message, kept from `sending` until the server accepts it, so that a failed or
    # `unknown` line can be re-sent by hand exactly as it was (same Message-ID); cleared on `sent`.
    message: Mapped[str] = mapped_column(Text, default="")

    run: Mapped[Run] = relationship(back_populates="lines")
    customer: Mapped[Customer] = relationship()


class RunLock(db.Model):
    """The single row (id 1) a run claims so that two runs never send at once (works on Windows).

    Claimed with a compare-and-swap on ``token`` ('' = free); a claim whose process is dead on this
    host, or whose heartbeat is stale, is taken over by the next run.
    """

    __tablename__ = "run_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), default="")
    pid: Mapped[int] = mapped_column(default=0)
    host: Mapped[str] = mapped_column(String(255), default="")
    acquired_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
