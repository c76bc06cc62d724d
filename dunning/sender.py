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
from dunning.retention import PruneReport
from dunning.rules import Reminder
from dunning.os_errors import os_reason
from dunning.runcounts import RunCounts
from dunning.runlock import STALE_AFTER, LockLost, RunLease
from dunning.oauth import Endpoints, token_source
from dunning.smtp import (AuthenticationFailed, AuthorizationFailed, Mailer, MaybeDelivered, Outgoing, PermanentFailure,
                          RunStopped, SmtpConfig, SmtpFailure, TemporaryFailure, Throttle,
                          build_message)
from dunning.smtp_replies import explain
from dunning.statement import failure_reason, render
from dunning.text import terminal_safe
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
    oauth_endpoints: Endpoints = field(default_factory=Endpoints)
    monotonic: Callable[[], float] = time.monotonic   # when OAuth access tokens expire

    @classmethod
    def from_config(cls, config) -> DeliveryOptions:
        """The app config's knobs: SMTP_ATTEMPTS, SMTP_BACKOFF (tests shorten the back-off),
        IMPORT_WAIT_SECONDS and the OAuth 2.0 providers' addresses (Endpoints.from_config)."""
        return cls(attempts=int(config.get("SMTP_ATTEMPTS", 3)),
                   backoff=float(config.get("SMTP_BACKOFF", 2.0)),
                   import_wait=float(config.get("IMPORT_WAIT_SECONDS", 600)),
                   oauth_endpoints=Endpoints.from_config(config))
    # Time the run may spend, after its send, deleting old `skipped` lines (dunning.retention);
    # a year's backlog after an upgrade goes over several runs.
    prune_budget: timedelta = timedelta(minutes=5)


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
    refused: str = ""                 # a `sent` line: the recipients the server refused

    @property
    def partial(self) -> bool:
        return self.status == LineStatus.SENT.value and bool(self.refused)

    def to_json(self) -> dict:
        return {"customer": self.customer, "status": self.status, "to": self.to,
                "reason": self.reason, "message_id": self.message_id, "attempts": self.attempts,
                "smtp_code": self.smtp_code, "smtp_reply": self.smtp_reply,
                "refused": self.refused}


@dataclass
class RunReport:
    """What a run did, for the terminal, the JSON output and the exit code."""

    run_id: int
    as_of: date
    status: str = "running"
    message: str = ""
    lines: list[LineResult] = field(default_factory=list)
    marked_unknown: int = 0           # lines left `sending` by a dead run, found at the start
    held: list = field(default_factory=list)  # dunning.rules.HeldCompany: kept out of every message
    reauthorize: bool = False         # stopped because the OAuth 2.0 authorization failed
    pruned: PruneReport | None = None  # old `skipped` lines deleted after the send

    def count(self, *statuses: str) -> int:
        return sum(1 for line in self.lines if line.status in statuses)

    @property
    def sent(self) -> int:
        """Accepted by the server (for every recipient, or for some: see ``partial``)."""
        return self.count(LineStatus.SENT.value)

    @property
    def partial(self) -> int:
        return sum(1 for line in self.lines if line.partial)

    @property
    def failed(self) -> int:
        """Refused by the server or never reached it after every retry."""
        return self.count(LineStatus.FAILED_TEMPORARY.value, LineStatus.FAILED_PERMANENT.value)

    @property
    def unknown(self) -> int:
        """Lines of this run that may or may not have reached the server."""
        return self.count(LineStatus.UNKNOWN.value)

    @property
    def pending(self) -> int:
        """Never tried (the run stopped first): the next run of the date sends them."""
        return self.count(LineStatus.PENDING.value)

    @property
    def skipped(self) -> int:
        return self.count(LineStatus.SKIPPED.value)

    @property
    def exit_code(self) -> int:
        """SPEC §6 and §9: 0 all sent or nothing due; 1 something failed, went out only in part,
        was left pending or `unknown` (in this run, or found after a dead one); 2 could not run
        at all (stopped before anything reached the server) or lost its OAuth 2.0 authorization
        (nothing more can go out until staff authorize again)."""
        if self.status == "stopped" and (not (self.sent or self.unknown) or self.reauthorize):
            return 2
        if (self.failed or self.partial or self.unknown or self.pending or self.marked_unknown
                or self.held):
            return 1
        return 0

    def to_json(self) -> dict:
        return {"date": self.as_of.isoformat(), "run": self.run_id, "status": self.status,
                "message": self.message, "sent": self.sent, "partial": self.partial,
                "failed": self.failed, "unknown": self.unknown, "pending": self.pending,
                "skipped": self.skipped, "marked_unknown": self.marked_unknown,
                "held": [h.to_json() for h in self.held],
                "pruned_skipped": self.pruned.lines if self.pruned else 0,
                "lines": [line.to_json() for line in self.lines]}

    def counts(self) -> RunCounts:
        """The run's figures, counted as every page counts them."""
        return RunCounts(self.sent, self.partial, self.failed, self.unknown, self.pending,
                         self.skipped)

    def warn(self, message: str) -> None:
        """Add a warning to the run's message (kept on the run record, shown to staff)."""
        self.message = f"{self.message} {message}".strip()


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
    refused: str = ""
    updated_at: datetime | None = None

    def result(self) -> LineResult:
        return LineResult(self.customer_code, self.status, list(self.recipients),
                          message_id=self.message_id, attempts=self.attempts,
                          smtp_code=self.smtp_code, smtp_reply=self.smtp_reply,
                          refused=self.refused)


class SendLog:
    """``instance/logs/envios.log``: one line per message, appended.

    The log is a copy of what the outbox records: when it cannot be written (read-only, a folder
    in its place, disk full) the run goes on; ``problem`` says why, once, and nothing more is
    tried on it.
    """

    def __init__(self, instance_path: Path, run_id: int):
        self.path = instance_path / LOG_FILE
        self.run_id = run_id
        self.problem = ""
        self._file = None

    def write(self, line: OutboxItem) -> None:
        """Append the line's outcome (line-buffered: on disk even if the process dies next)."""
        reply = terminal_safe(" ".join(line.smtp_reply.split()))
        refused = (f" recusados=\"{terminal_safe(' '.join(line.refused.split()))}\""
                   if line.refused else "")
        when = line.updated_at or datetime.now()
        self._append(f"{when.isoformat(timespec='seconds')} run={self.run_id} "
                     f"cliente={terminal_safe(line.customer_code)} status={line.status} "
                     f"para={terminal_safe(', '.join(line.recipients))} tentativas={line.attempts} "
                     f"message_id={line.message_id or '-'} smtp={line.smtp_code or '-'} "
                     f"resposta=\"{reply}\"{refused}\n")

    def _append(self, text: str) -> None:
        """Write ``text`` unless the log already failed; a failure is noted once."""
        if self.problem:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8", buffering=1)
            self._file.write(text)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.problem = (f"Aviso: não foi possível gravar o registro de envios {self.path} "
                        f"({os_reason(exc)}); o envio continuou e cada resultado está "
                        f"registrado em Envios.")
        self.close()

    def held(self, companies: list, when: datetime) -> None:
        """One line per company kept out of the run's messages, and why."""
        for company in companies:
            self._append(f"{when.isoformat(timespec='seconds')} run={self.run_id} "
                         f"empresa={terminal_safe(company.code)} retida={company.reason} "
                         f"nome=\"{terminal_safe(company.name)}\" "
                         f"detalhe=\"{terminal_safe(' '.join(company.detail.split()))}\"\n")

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:  # the last buffered line could not be written
                if not self.problem:
                    self._fail(exc)


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
    refused=bindparam("refused"), message="", sent_at=bindparam("now"), updated_at=bindparam("now"))


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
                        except MessageFailed as exc:
                            self._message_failed(line, str(exc))
                        except LockLost as exc:
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
        """The message as it will go out, or MessageFailed (the templates were checked on save
        against sample reminders, but real data can still differ: only this line fails)."""
        try:
            subject, text, html = render(reminder, self.settings, line.as_of)
            return build_message(self.config, reminder.to, reminder.customer_name, subject, text,
                                 html)
        except Exception as exc:  # noqa: BLE001 - user-edited templates can fail in any way
            raise MessageFailed(failure_reason(exc)) from exc

    def _message_failed(self, line: OutboxItem, reason: str) -> None:
        """This customer's message could not be built: its line fails with the reason (retried
        by the next run of the date, once the template is fixed) and the run goes on."""
        line.attempts += 1
        self._settle(line, LineStatus.FAILED_TEMPORARY, None,
                     f"Erro ao montar a mensagem (confira os modelos de e-mail em "
                     f"Configurações): {reason}")
        self.log.write(line)

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
                self.report.reauthorize = isinstance(exc, AuthorizationFailed)
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
            why = explain(line.smtp_code, line.smtp_reply)
            return self._stop(f"Servidor SMTP inacessível ({self.config.host}:{self.config.port}): "
                              f"{why + '. Resposta: ' if why else ''}{line.smtp_reply}")
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
            line.refused = "; ".join(f"{a}: {r}" for a, r in refused.items())
            self._settle(line, LineStatus.SENT, code, reply, sent=True)
        return True

    def _settle(self, line: OutboxItem, status: LineStatus, code: int | None, reply: str,
                sent: bool = False) -> None:
        line.status, line.smtp_code, line.smtp_reply = status.value, code, reply
        if sent:
            self._write(_SETTLE_SENT, line, code=code, reply=reply, refused=line.refused)
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


def connection_config(settings, instance_path, bind, options: DeliveryOptions) -> SmtpConfig:
    """The SMTP settings for sending; with OAuth 2.0 sign-in, a token source whose refreshes are
    recorded on the settings row through ``bind`` (an engine), committed at once."""
    tokens = None
    if settings.smtp_auth_method in ("microsoft", "google"):
        tokens = token_source(settings, instance_path, bind, options.oauth_endpoints,
                              options.clock, options.monotonic, options.busy_limit)
    return SmtpConfig.from_settings(settings, instance_path, tokens)


def stop_message(exc: SmtpFailure) -> str:
    if isinstance(exc, AuthorizationFailed):
        return f"Envio interrompido: a autorização OAuth 2.0 falhou. {exc.reply}"
    if isinstance(exc, AuthenticationFailed):
        return (f"O servidor SMTP recusou o usuário e a senha ({exc.code} {exc.reply}). Envio "
                f"interrompido; corrija a senha em Configurações ou com configure-smtp.")
    why = explain(exc.code, exc.reply)
    return f"Envio interrompido: {why + '. Resposta do servidor: ' if why else ''}{exc.reply}"
