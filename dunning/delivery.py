"""The daily run (SPEC §6): plan, queue in the outbox, send over one SMTP connection, at most once.

Each message: its outbox line is committed as ``sending`` before the message goes to the server
and as ``sent`` once the server accepts it. A line still ``sending`` when a later run starts (its
process died) becomes ``unknown`` and is never re-sent automatically; staff can re-send it by hand
(``resend_line``). Pending and temporarily failed lines of the run date are picked up again by the
next run of that date; permanently failed ones are not.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dunning.crypto import SecretUnreadable
from dunning.rules import Reminder, plan
from dunning.runlock import STALE_AFTER, LockBusy, LockLost, RunLease, acquire
from dunning.smtp import (AuthenticationFailed, Mailer, MaybeDelivered, PermanentFailure,
                          RunStopped, SmtpConfig, SmtpFailure, TemporaryFailure, Throttle,
                          build_message)
from dunning.statement import render
from models.delivery import LineStatus, OutboxLine, Run
from models.settings import StationSettings

LOG_FILE = Path("logs") / "envios.log"
# Lines a run of the same date sends (again): never sent, or refused for now.
RETRYABLE = (LineStatus.PENDING.value, LineStatus.FAILED_TEMPORARY.value)
# Lines staff may re-send by hand from the browser.
RESENDABLE = (LineStatus.FAILED_TEMPORARY.value, LineStatus.FAILED_PERMANENT.value,
              LineStatus.UNKNOWN.value)


class CannotRun(Exception):
    """The run cannot start (no SMTP settings, another run in progress, unreadable password)."""


@dataclass
class DeliveryOptions:
    """Knobs of a run; tests shorten the back-off, the app reads them from its config."""

    attempts: int = 3                 # per message and run, the first try included
    backoff: float = 2.0              # seconds before the first retry, doubled for each next one
    stale_after: timedelta = STALE_AFTER
    clock: Callable[[], datetime] = datetime.now
    sleep: Callable[[float], None] = time.sleep


@dataclass
class LineResult:
    """One customer's outcome in this run."""

    customer: str
    status: str
    to: list[str] = field(default_factory=list)
    reason: str = ""
    message_id: str = ""
    attempts: int = 0
    smtp_code: int | None = None
    smtp_reply: str = ""

    def to_json(self) -> dict:
        return {"customer": self.customer, "status": self.status, "to": self.to,
                "reason": self.reason, "message_id": self.message_id, "attempts": self.attempts,
                "smtp_code": self.smtp_code, "smtp_reply": self.smtp_reply}


@dataclass
class RunReport:
    """What a run did, for the terminal, the JSON output and the exit code."""

    run_id: int
    as_of: date
    status: str = "running"
    message: str = ""
    lines: list[LineResult] = field(default_factory=list)
    marked_unknown: int = 0           # lines left `sending` by a dead run, found at the start

    def count(self, *statuses: str) -> int:
        return sum(1 for line in self.lines if line.status in statuses)

    @property
    def sent(self) -> int:
        return self.count(LineStatus.SENT.value)

    @property
    def failed(self) -> int:
        """Due reminders that did not (surely) go out in this run."""
        return self.count(LineStatus.FAILED_TEMPORARY.value, LineStatus.FAILED_PERMANENT.value,
                          LineStatus.UNKNOWN.value, LineStatus.PENDING.value)

    @property
    def skipped(self) -> int:
        return self.count(LineStatus.SKIPPED.value)

    @property
    def exit_code(self) -> int:
        """SPEC §6: 0 all sent or nothing due, 1 some failed, 2 could not run at all."""
        if self.status == "stopped" and not self.sent:
            return 2
        return 1 if self.failed else 0

    def to_json(self) -> dict:
        return {"date": self.as_of.isoformat(), "run": self.run_id, "status": self.status,
                "message": self.message, "sent": self.sent, "failed": self.failed,
                "skipped": self.skipped, "marked_unknown": self.marked_unknown,
                "lines": [line.to_json() for line in self.lines]}


def run(session: Session, as_of: date, instance_path: str | os.PathLike, trigger: str = "scheduler",
        customer_code: str | None = None, options: DeliveryOptions | None = None,
        progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Send every reminder due on ``as_of`` and record the outcome; raises CannotRun.

    ``instance_path`` holds the password key and ``logs/envios.log``. Raises
    ``dunning.rules.UnknownCustomer`` for an unknown ``customer_code``.
    """
    options = options or DeliveryOptions()
    settings = StationSettings.load(session)
    session.commit()
    if not settings.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado: use `flask --app app configure-smtp` "
                        "ou a página Configurações.")
    try:
        config = SmtpConfig.from_settings(settings, instance_path)
    except SecretUnreadable as exc:
        raise CannotRun(str(exc)) from exc
    try:
        lease = acquire(session, options.clock(), options.stale_after)
    except LockBusy as exc:
        raise CannotRun(str(exc)) from exc
    try:
        marked = _recover(session, options.clock())
        due = plan(session, as_of, customer_code)
        record = Run(as_of=as_of, started_at=options.clock(), trigger=trigger, status="running")
        session.add(record)
        session.commit()
        report = RunReport(run_id=record.id, as_of=as_of, marked_unknown=marked)
        try:
            queue = _queue(session, record, due, report, options.clock())
            batch = _Batch(session, settings, config, options, lease, report,
                           _Log(Path(instance_path), record.id))
            batch.send_all(queue, progress)
        except Exception as exc:
            session.rollback()
            report.status, report.message = "error", f"Erro inesperado: {exc}"
            _finish(session, record, report, options.clock())
            raise
        _finish(session, record, report, options.clock())
        return report
    finally:
        session.rollback()
        lease.release()


def _recover(session: Session, now: datetime) -> int:
    """Settle what dead runs left behind (safe: we hold the lock, so nobody else is running)."""
    result = session.execute(update(OutboxLine).where(
        OutboxLine.status == LineStatus.SENDING.value).values(
        status=LineStatus.UNKNOWN.value, updated_at=now,
        smtp_reply="O processo de envio terminou de forma inesperada durante o envio; "
                   "não se sabe se a mensagem chegou ao servidor."))
    session.execute(update(Run).where(Run.status == "running").values(
        status="interrupted", finished_at=now,
        message="Execução interrompida (o processo terminou sem concluir)."))
    session.commit()
    return result.rowcount


def _queue(session: Session, record: Run, due, report: RunReport,
           now: datetime) -> list[tuple[OutboxLine, Reminder]]:
    """Record the skips and one line per reminder (re-using the date's retryable lines); commits."""
    existing = {line.customer_id: line for line in session.scalars(select(OutboxLine).where(
        OutboxLine.as_of == record.as_of, OutboxLine.status != LineStatus.SKIPPED.value))}
    skips = [(s.customer_id, s.customer_code, s.reason) for s in due.skipped]
    queue = []
    for reminder in due.reminders:
        line = existing.get(reminder.customer_id)
        if line is None:
            line = OutboxLine(run_id=record.id, customer_id=reminder.customer_id,
                              as_of=record.as_of, status=LineStatus.PENDING.value)
            session.add(line)
        elif line.status in RETRYABLE:
            line.run_id = record.id
        else:  # refused for good earlier today (or sent by hand): not again today
            skips.append((reminder.customer_id, reminder.customer_code, line.status))
            continue
        line.recipients = ", ".join(reminder.to)
        line.updated_at = now
        queue.append((line, reminder))
    if skips:
        session.execute(insert(OutboxLine), [
            {"run_id": record.id, "customer_id": cid, "as_of": record.as_of,
             "status": LineStatus.SKIPPED.value, "skip_reason": reason, "updated_at": now}
            for cid, _, reason in skips])
    session.commit()
    report.lines.extend(LineResult(code, LineStatus.SKIPPED.value, reason=reason)
                        for _, code, reason in skips)
    return queue


def _finish(session: Session, record: Run, report: RunReport, now: datetime) -> None:
    """Close the run record with its counts and verdict; commits."""
    if report.status == "running":
        report.status = "failed" if report.failed else "ok"
    record.status = report.status
    record.message = report.message
    record.finished_at = now
    record.sent_count = report.sent
    record.failed_count = report.failed
    record.skipped_count = report.skipped
    session.commit()


class _Log:
    """``instance/logs/envios.log``: one line per message, appended."""

    def __init__(self, instance_path: Path, run_id: int):
        self.path = instance_path / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id

    def write(self, when: datetime, customer: str, line: OutboxLine) -> None:
        reply = " ".join(line.smtp_reply.split())
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{when.isoformat(timespec='seconds')} run={self.run_id} cliente={customer} "
                     f"status={line.status} para={line.recipients} tentativas={line.attempts} "
                     f"message_id={line.message_id or '-'} smtp={line.smtp_code or '-'} "
                     f"resposta=\"{reply}\"\n")


class _Batch:
    """The send loop over one connection: throttle, retries with back-off, stop on 535."""

    def __init__(self, session: Session, settings: StationSettings, config: SmtpConfig,
                 options: DeliveryOptions, lease: RunLease, report: RunReport, log: _Log):
        self.session = session
        self.settings = settings
        self.config = config
        self.options = options
        self.lease = lease
        self.report = report
        self.log = log
        self.bcc = [config.bcc] if config.bcc else []
        self.throttle = Throttle(config.max_per_minute, sleep=options.sleep)

    def send_all(self, queue: list[tuple[OutboxLine, Reminder]],
                 progress: Callable[[int, int], None] | None) -> None:
        """Send the queue in order; a stop leaves the rest `pending` for the next run."""
        with Mailer(self.config) as mailer:
            for done, (line, reminder) in enumerate(queue):
                if self.report.status == "stopped":
                    self.report.lines.append(self._result(line, reminder))
                    continue
                try:
                    self.lease.heartbeat(self.options.clock())
                    self._deliver(mailer, line, reminder)
                except LockLost as exc:
                    self._stop(str(exc))
                self.report.lines.append(self._result(line, reminder))
                if progress:
                    progress(done + 1, len(queue))

    def _deliver(self, mailer: Mailer, line: OutboxLine, reminder: Reminder) -> None:
        subject, text, html = render(reminder, self.settings, line.as_of)
        message = build_message(self.config, reminder.to, reminder.customer_name, subject, text,
                                html)
        raw = message.as_bytes()
        line.subject = message["Subject"]
        line.message_id = message["Message-ID"]
        unreachable = False
        for attempt in range(self.options.attempts):
            if attempt:
                self.options.sleep(self.options.backoff * 2 ** (attempt - 1))
            try:
                mailer.ensure_connected()
            except RunStopped as exc:
                self.session.commit()
                return self._stop(_stop_message(exc))
            except SmtpFailure as exc:
                unreachable = True
                line.smtp_code, line.smtp_reply = exc.code, exc.reply
                continue
            unreachable = False
            if self._attempt(mailer, line, raw):
                break
        self.session.commit()
        if unreachable and line.status == LineStatus.PENDING.value:  # never reached the server
            return self._stop(f"Servidor SMTP inacessível ({self.config.host}:{self.config.port}): "
                              f"{line.smtp_reply}")
        self.log.write(line.updated_at or self.options.clock(), reminder.customer_code, line)
        return None

    def _attempt(self, mailer: Mailer, line: OutboxLine, raw: bytes) -> bool:
        """One try, committed before and after; True when the line is final for this run."""
        self.throttle.wait()
        line.status = LineStatus.SENDING.value
        line.attempts += 1
        line.message = raw.decode("utf-8")
        line.updated_at = self.options.clock()
        self.session.commit()
        try:
            code, reply, refused = mailer.send(line.recipients.split(", "), raw, self.bcc)
        except TemporaryFailure as exc:
            self._settle(line, LineStatus.FAILED_TEMPORARY, exc.code, exc.reply)
            return False
        except PermanentFailure as exc:
            self._settle(line, LineStatus.FAILED_PERMANENT, exc.code, exc.reply)
        except MaybeDelivered as exc:
            self._settle(line, LineStatus.UNKNOWN, exc.code, exc.reply)
        else:
            if refused:
                reply += " | recusados: " + "; ".join(f"{a}: {r}" for a, r in refused.items())
            line.sent_at = self.options.clock()
            line.message = ""
            self._settle(line, LineStatus.SENT, code, reply)
        return True

    def _settle(self, line: OutboxLine, status: LineStatus, code: int | None, reply: str) -> None:
        line.status = status.value
        line.smtp_code = code
        line.smtp_reply = reply
        line.updated_at = self.options.clock()
        self.session.commit()

    def _stop(self, message: str) -> None:
        self.report.status = "stopped"
        self.report.message = message

    @staticmethod
    def _result(line: OutboxLine, reminder: Reminder) -> LineResult:
        return LineResult(reminder.customer_code, line.status, list(reminder.to),
                          message_id=line.message_id, attempts=line.attempts,
                          smtp_code=line.smtp_code, smtp_reply=line.smtp_reply)


def _stop_message(exc: SmtpFailure) -> str:
    if isinstance(exc, AuthenticationFailed):
        return (f"O servidor SMTP recusou o usuário e a senha ({exc.code} {exc.reply}). Envio "
                f"interrompido; corrija a senha em Configurações ou com configure-smtp.")
    return f"Envio interrompido: {exc.reply}"

