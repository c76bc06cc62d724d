"""The send loop over one SMTP connection: outbox writes, retries with back-off, the per-minute
cap.

At most once: a line is committed as ``sending`` before its message goes to the server, and its
outcome is committed as soon as the server answers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from dunning.dberrors import retry_when_locked
from dunning.rules import Reminder
from dunning.runlock import STALE_AFTER, LockLost, RunLease
from dunning.smtp import (AuthenticationFailed, Mailer, MaybeDelivered, Outgoing, PermanentFailure,
                          RunStopped, SmtpConfig, SmtpFailure, TemporaryFailure, Throttle,
                          build_message)
from dunning.statement import render
from models.delivery import LineStatus, OutboxLine

LOG_FILE = Path("logs") / "envios.log"


class MessageFailed(Exception):
    """A reminder could not be turned into a message (a template failed on this data)."""


@dataclass
class DeliveryOptions:
    """Knobs of a run; tests shorten the back-off, the app reads them from its config."""

    attempts: int = 3                 # per message and run, the first try included
    backoff: float = 2.0              # seconds before the first retry, doubled for each next one
    stale_after: timedelta = STALE_AFTER
    clock: Callable[[], datetime] = datetime.now
    sleep: Callable[[float], None] = time.sleep
    import_wait: float = 600.0        # seconds a run waits for an invoice import to finish
    busy_limit: float = 3600.0        # seconds a write keeps retrying while the database is busy


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
    held_back: list = field(default_factory=list)  # HeldCompany: left out of every message

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
        """SPEC §6 and §9: 0 all sent or nothing due, 1 some failed or a company was held back,
        2 could not run at all."""
        if self.status == "stopped" and not self.sent:
            return 2
        return 1 if self.failed or self.held_back else 0

    def to_json(self) -> dict:
        return {"date": self.as_of.isoformat(), "run": self.run_id, "status": self.status,
                "message": self.message, "sent": self.sent, "failed": self.failed,
                "skipped": self.skipped, "marked_unknown": self.marked_unknown,
                "held_back": [held.to_json() for held in self.held_back],
                "lines": [line.to_json() for line in self.lines]}


@dataclass
class OutboxItem:
    """An outbox line as the send loop tracks it (plain data: the session stays small)."""

    id: int
    customer_code: str
    recipients: list[str]
    as_of: date
    attempts: int = 0
    status: str = LineStatus.PENDING.value
    subject: str = ""
    message_id: str = ""
    smtp_code: int | None = None
    smtp_reply: str = ""
    updated_at: datetime | None = None

    def result(self) -> LineResult:
        return LineResult(self.customer_code, self.status, list(self.recipients),
                          message_id=self.message_id, attempts=self.attempts,
                          smtp_code=self.smtp_code, smtp_reply=self.smtp_reply)


class SendLog:
    """``instance/logs/envios.log``: one line per message, appended."""

    def __init__(self, instance_path: Path, run_id: int):
        self.path = instance_path / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self._file = None

    def write(self, line: OutboxItem) -> None:
        """Append the line's outcome (line-buffered: on disk even if the process dies next)."""
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8", buffering=1)
        reply = " ".join(line.smtp_reply.split())
        when = line.updated_at or datetime.now()
        self._file.write(f"{when.isoformat(timespec='seconds')} run={self.run_id} "
                     f"cliente={line.customer_code} status={line.status} "
                     f"para={', '.join(line.recipients)} tentativas={line.attempts} "
                     f"message_id={line.message_id or '-'} smtp={line.smtp_code or '-'} "
                     f"resposta=\"{reply}\"\n")

    def held(self, company, now: datetime) -> None:
        """Append a company the run held back, its reason and what to do about it."""
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8", buffering=1)
        detail = " ".join(company.detail.split())
        self._file.write(f"{now.isoformat(timespec='seconds')} run={self.run_id} "
                         f"empresa={company.code} status=retida motivo={company.reason} "
                         f"detalhe=\"{detail}\"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_LINE = OutboxLine.__table__
# The per-message writes, built once: they run twice per message on a connection of their own.
_MARK_SENDING = update(_LINE).where(_LINE.c.id == bindparam("line_id")).values(
    status=LineStatus.SENDING.value, attempts=bindparam("n"), subject=bindparam("subj"),
    message_id=bindparam("mid"), message=bindparam("raw"), updated_at=bindparam("now"))
_SETTLE = update(_LINE).where(_LINE.c.id == bindparam("line_id")).values(
    status=bindparam("st"), smtp_code=bindparam("code"), smtp_reply=bindparam("reply"),
    updated_at=bindparam("now"))
_SETTLE_SENT = update(_LINE).where(_LINE.c.id == bindparam("line_id")).values(
    status=LineStatus.SENT.value, smtp_code=bindparam("code"), smtp_reply=bindparam("reply"),
    message="", sent_at=bindparam("now"), updated_at=bindparam("now"))


class Sender:
    """The send loop over one connection: throttle, retries with back-off, stop on 535."""

    def __init__(self, session: Session, settings, config: SmtpConfig,
                 options: DeliveryOptions, lease: RunLease, report: RunReport, log: SendLog):
        self.session = session
        self.settings = settings
        self.config = config
        self.options = options
        self.lease = lease
        self.report = report
        self.log = log
        self.bcc = [config.bcc] if config.bcc else []
        self.throttle = Throttle(config.max_per_minute, sleep=self._sleep)
        self._conn = None

    def _connection(self):
        """The line writes' own connection (commit-as-you-go, no session bookkeeping)."""
        if self._conn is None:
            self._conn = self.session.get_bind().connect()
        return self._conn

    def close(self) -> None:
        """Give the line writes' connection back, close the log."""
        self.log.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send_all(self, queue: list[tuple[OutboxItem, Reminder]],
                 progress: Callable[[int, int], None] | None) -> None:
        """Send the queue in order; a stop leaves the rest `pending` for the next run."""
        try:
            with Mailer(self.config) as mailer:
                for done, (line, reminder) in enumerate(queue):
                    if self.report.status != "stopped":
                        try:
                            if self.lease.due(self.options.clock()):
                                retry_when_locked(
                                    lambda: self.lease.heartbeat(self.options.clock()),
                                    self.session.rollback, self.options.busy_limit)
                            self._deliver(mailer, line, self._message(line, reminder))
                        except (LockLost, MessageFailed) as exc:
                            self._stop(str(exc))
                    self.report.lines.append(line.result())
                    if progress:
                        progress(done + 1, len(queue))
        except BaseException:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            raise
        self.close()

    def _message(self, line: OutboxItem, reminder: Reminder) -> Outgoing:
        """The message as it will go out, or MessageFailed (the templates were checked on save,
        so this is rare; every message would likely fail alike, hence the run stops)."""
        try:
            subject, text, html = render(reminder, self.settings, line.as_of)
            return build_message(self.config, reminder.to, reminder.customer_name, subject, text,
                                 html)
        except Exception as exc:  # noqa: BLE001 - user-edited templates can fail in any way
            raise MessageFailed(f"Erro ao montar a mensagem para o cliente {line.customer_code} "
                                f"(confira os modelos de e-mail em Configurações): {exc}") from exc

    def _deliver(self, mailer: Mailer, line: OutboxItem, message: Outgoing) -> None:
        raw = message.raw
        line.subject = message.subject
        line.message_id = message.message_id
        unreachable = tried = False
        for attempt in range(self.options.attempts):
            if attempt:
                self._sleep(self.options.backoff * 2 ** (attempt - 1))
            try:
                mailer.ensure_connected()
            except RunStopped as exc:
                return self._stop(stop_message(exc))
            except SmtpFailure as exc:
                unreachable = True
                line.smtp_code, line.smtp_reply = exc.code, exc.reply
                continue
            unreachable, tried = False, True
            if self.attempt(mailer, line, raw):
                break
        if unreachable and not tried:  # this run never reached the server for this line
            self._write(_SETTLE, line, st=line.status, code=line.smtp_code, reply=line.smtp_reply)
            return self._stop(f"Servidor SMTP inacessível ({self.config.host}:{self.config.port}): "
                              f"{line.smtp_reply}")
        self.log.write(line)
        return None

    def attempt(self, mailer: Mailer, line: OutboxItem, raw: bytes) -> bool:
        """One try: `sending` committed before the message goes out, the outcome right after;
        True when final. A crash in between leaves the line `sending`, i.e. `unknown`."""
        self.throttle.wait()
        line.attempts += 1
        line.status = LineStatus.SENDING.value
        self._write(_MARK_SENDING, line, n=line.attempts, subj=line.subject, mid=line.message_id,
                    raw=raw.decode("utf-8"))
        try:
            code, reply, refused = mailer.send(line.recipients, raw, self.bcc)
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
            self._settle(line, LineStatus.SENT, code, reply, sent=True)
        return True

    def _settle(self, line: OutboxItem, status: LineStatus, code: int | None, reply: str,
                sent: bool = False) -> None:
        line.status, line.smtp_code, line.smtp_reply = status.value, code, reply
        if sent:
            self._write(_SETTLE_SENT, line, code=code, reply=reply)
        else:
            self._write(_SETTLE, line, st=line.status, code=code, reply=reply)

    def _write(self, statement, line: OutboxItem, **values) -> None:
        """Persist and commit the line's new state, retrying while another writer (an invoice
        import) holds the database: a message the server accepted must end up `sent`."""
        line.updated_at = self.options.clock()
        conn = self._connection()

        def write() -> None:
            conn.execute(statement, {"line_id": line.id, "now": line.updated_at, **values})
            conn.commit()

        retry_when_locked(write, conn.rollback, self.options.busy_limit)

    def _sleep(self, seconds: float) -> None:
        """Pause (back-off, per-minute cap)."""
        self.options.sleep(seconds)

    def _stop(self, message: str) -> None:
        self.report.status = "stopped"
        self.report.message = message


def stop_message(exc: SmtpFailure) -> str:
    if isinstance(exc, AuthenticationFailed):
        return (f"O servidor SMTP recusou o usuário e a senha ({exc.code} {exc.reply}). Envio "
                f"interrompido; corrija a senha em Configurações ou com configure-smtp.")
    return f"Envio interrompido: {exc.reply}"
