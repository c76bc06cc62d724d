"""The daily run (SPEC §6): plan, queue in the outbox, send over one SMTP connection, at most once.

Each message: its outbox line is committed as ``sending`` before the message goes to the server
and as ``sent`` once the server accepts it. A line still ``sending`` when a later run starts (its
process died) becomes ``unknown`` and is never re-sent automatically; staff can re-send it by hand
(``resend_line``). Pending and temporarily failed lines of the run date are picked up again by the
next run of that date; permanently failed ones are not.
"""
from __future__ import annotations

import os
from datetime import date, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dunning.crypto import SecretUnreadable
from dunning.oauth import AuthorizationRevoked, ProviderUnreachable, REAUTHORIZE
from dunning.retention import PruneReport, prune_skipped
from dunning.rules import SKIP_REASON_LABELS, Reminder, load_details, plan
from dunning.dberrors import retry_when_locked
from dunning.runcounts import store_counts
from dunning.runlock import (IMPORT_LOCK_ID, IMPORT_STALE_AFTER, LockBusy, LockHolder, RunLease,
                             acquire, wait_while_held)
from dunning.sender import (DeliveryOptions, LineResult, OutboxItem, RunReport, Sender, SendLog,
                            connection_config)
from dunning.smtp import ascii_address
from models.delivery import LineStatus, OutboxLine, Run
from models.settings import StationSettings

__all__ = ["run", "CannotRun", "PARTIAL_LABEL", "DeliveryOptions", "RunReport", "LineResult", "RETRYABLE",
           "RESENDABLE", "STATUS_LABELS", "SKIP_LABELS"]

# Lines a run of the same date sends (again): never sent, or refused for now.
RETRYABLE = (LineStatus.PENDING.value, LineStatus.FAILED_TEMPORARY.value)
# Outbox statuses and skip reasons as staff read them (terminal, pages).
STATUS_LABELS = {"pending": "pendente", "sending": "enviando", "sent": "enviado",
                 "failed_temporary": "falha temporária (nova tentativa na próxima execução)",
                 "failed_permanent": "recusado pelo servidor",
                 "skipped": "ignorado", "unknown": "situação desconhecida"}
PARTIAL_LABEL = "enviado só para parte dos destinatários"
SKIP_LABELS = {**SKIP_REASON_LABELS,
               "failed_permanent": "recusado pelo servidor hoje (reenvio só manual, em Envios)"}
# Lines staff may re-send by hand from the browser.
RESENDABLE = (LineStatus.FAILED_TEMPORARY.value, LineStatus.FAILED_PERMANENT.value,
              LineStatus.UNKNOWN.value)


class CannotRun(Exception):
    """The run cannot start (no SMTP settings, another run in progress, unreadable password)."""


def _settings_snapshot(settings: StationSettings) -> SimpleNamespace:
    """The settings as plain values: a commit per message must not reload the row each time."""
    return SimpleNamespace(**{c.key: getattr(settings, c.key)
                              for c in StationSettings.__table__.columns})


def run(session: Session, as_of: date, instance_path: str | os.PathLike, trigger: str = "scheduler",
        customer_code: str | None = None, options: DeliveryOptions | None = None,
        progress: Callable[[int, int], None] | None = None,
        on_wait: Callable[[LockHolder], None] | None = None) -> RunReport:
    """Send every reminder due on ``as_of`` and record the outcome; raises CannotRun.

    ``instance_path`` holds the password key and ``logs/envios.log``. Raises
    ``dunning.rules.UnknownCustomer`` for an unknown ``customer_code``. An invoice import in
    progress is waited for (``on_wait`` is told) up to ``options.import_wait`` seconds: the plan
    must see its data, and its transaction holds the SQLite file. The run's own writes retry
    while the database is busy (an import started meanwhile).
    """
    options = options or DeliveryOptions()
    importing = wait_while_held(session, IMPORT_LOCK_ID, IMPORT_STALE_AFTER, options.import_wait,
                                on_wait)
    if importing is not None:
        raise CannotRun(f"Uma importação de faturas ainda está em andamento ({importing.describe()}) "
                        f"depois de {options.import_wait / 60:.0f} minutos de espera. Nada foi "
                        f"enviado; rode o envio de novo quando ela terminar.")
    row = StationSettings.load(session)
    session.commit()
    if not row.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado: use `flask --app app configure-smtp` "
                        "ou a página Configurações.")
    settings = _settings_snapshot(row)
    try:
        config = connection_config(settings, instance_path, session.get_bind(), options)
    except SecretUnreadable as exc:
        raise CannotRun(str(exc)) from exc
    if not ascii_address(config.sender_address):
        raise CannotRun("O endereço do remetente tem acentos ou caracteres especiais antes do @; "
                        "configure um endereço só com letras sem acento.")
    busy = partial(retry_when_locked, rollback=session.rollback, limit=options.busy_limit)
    try:
        lease = busy(lambda: acquire(session, options.clock(), options.stale_after))
    except LockBusy as exc:
        raise CannotRun(str(exc)) from exc
    try:
        _fresh_token(config)
        marked = busy(lambda: _recover(session, options.clock()))
        due = plan(session, as_of, customer_code, now=options.clock())
        load_details(session, due.reminders)
        run_id = busy(lambda: _start(session, as_of, trigger, options.clock()))
        report = RunReport(run_id=run_id, as_of=as_of, marked_unknown=marked, held=due.held)
        if due.held:
            report.message = held_message(due.held)
        try:
            queue = busy(lambda: _queue(session, run_id, due, report, options.clock()))
            send_log = SendLog(Path(instance_path), run_id)
            send_log.held(due.held, options.clock())
            batch = Sender(session, settings, config, options, lease, report, send_log)
            try:
                batch.send_all(queue, progress)
            finally:
                if send_log.problem:
                    report.warn(send_log.problem)
        except Exception as exc:
            session.rollback()
            report.status, report.message = "error", f"Erro inesperado: {exc}"
            busy(lambda: _finish(session, run_id, report, options.clock()))
            raise
        busy(lambda: _finish(session, run_id, report, options.clock()))
        _prune(session, as_of, settings.skip_retention_days, options, lease, report)
        return report
    finally:
        session.rollback()
        busy(lease.release)


def _start(session: Session, as_of: date, trigger: str, now: datetime) -> int:
    """The run's record, committed; its id."""
    record = Run(as_of=as_of, started_at=now, trigger=trigger, status="running")
    session.add(record)
    session.commit()
    return record.id


def held_message(held: list) -> str:
    """pt-BR: which companies' invoices the run left out of every message, and why."""
    parts = [f"{h.display_name} ({h.code}): {SKIP_REASON_LABELS.get(h.reason, h.reason)}, "
             f"{h.detail}" for h in held]
    message = "Faturas retidas, fora de todas as mensagens: " + "; ".join(parts) + "."
    if any(h.reason == "creditor_incomplete" for h in held):
        message += " Complete o cadastro em Empresas e Contas (ou `flask --app app set-company`)."
    return message


def _fresh_token(config) -> None:
    """With OAuth 2.0 sign-in, a fresh access token before anything is queued: a refused
    authorization stops the run here, with nothing recorded for any customer. (Refreshing on
    every run, even one with nothing due, also keeps the refresh token from lapsing unused.)"""
    if config.tokens is None:
        return
    try:
        config.tokens.access_token()
    except AuthorizationRevoked as exc:
        raise CannotRun(f"A autorização OAuth 2.0 do e-mail falhou: {exc} {REAUTHORIZE}") from exc
    except ProviderUnreachable as exc:
        raise CannotRun(f"Não foi possível renovar a autorização OAuth 2.0 do e-mail: {exc}") \
            from exc


def _recover(session: Session, now: datetime) -> int:
    """Settle what dead runs left behind (safe: we hold the lock, so nobody else is running)."""
    dead = list(session.scalars(select(Run.id).where(Run.status == "running")))
    result = session.execute(update(OutboxLine).where(
        OutboxLine.status == LineStatus.SENDING.value).values(
        status=LineStatus.UNKNOWN.value, updated_at=now,
        smtp_reply="O processo de envio terminou de forma inesperada durante o envio; "
                   "não se sabe se a mensagem chegou ao servidor."))
    store_counts(session, dead)  # while still marked running (dunning.runcounts)
    session.execute(update(Run).where(Run.id.in_(dead)).values(
        status="interrupted", finished_at=now,
        message="Execução interrompida (o processo terminou sem concluir)."))
    session.commit()
    return result.rowcount


def _queue(session: Session, run_id: int, due, report: RunReport,
           now: datetime) -> list[tuple[OutboxItem, Reminder]]:
    """Record the skips and one line per reminder (re-using the date's retryable lines); commits."""
    existing = {row.customer_id: row for row in session.execute(
        select(OutboxLine.id, OutboxLine.customer_id, OutboxLine.status, OutboxLine.attempts)
        .where(OutboxLine.as_of == due.as_of, OutboxLine.status != LineStatus.SKIPPED.value))}
    skips = [(s.customer_id, s.customer_code, s.reason) for s in due.skipped]
    queue: list[tuple[OutboxItem, Reminder]] = []
    new: list[Reminder] = []
    for reminder in due.reminders:
        row = existing.get(reminder.customer_id)
        if row is None:
            new.append(reminder)
        elif row.status in RETRYABLE:
            session.execute(update(OutboxLine).where(OutboxLine.id == row.id).values(
                run_id=run_id, recipients=", ".join(reminder.to), updated_at=now,
                kind=reminder.kind, level=reminder.level_name))
            queue.append((OutboxItem(row.id, reminder.customer_code, list(reminder.to), due.as_of,
                                row.attempts, row.status), reminder))
        else:  # refused for good earlier today (or sent by hand): not again today
            reason = row.status if row.status == LineStatus.FAILED_PERMANENT.value \
                else "recently_sent"
            skips.append((reminder.customer_id, reminder.customer_code, reason))
    if new:
        ids = dict(session.execute(insert(OutboxLine).returning(
            OutboxLine.customer_id, OutboxLine.id, sort_by_parameter_order=True), [
            {"run_id": run_id, "customer_id": r.customer_id, "as_of": due.as_of,
             "status": LineStatus.PENDING.value, "recipients": ", ".join(r.to), "updated_at": now,
             "kind": r.kind, "level": r.level_name}
            for r in new]).all())
        queue.extend((OutboxItem(ids[r.customer_id], r.customer_code, list(r.to), due.as_of), r)
                     for r in new)
    if skips:
        session.execute(insert(OutboxLine), [
            {"run_id": run_id, "customer_id": cid, "as_of": due.as_of,
             "status": LineStatus.SKIPPED.value, "skip_reason": reason, "updated_at": now}
            for cid, _, reason in skips])
    session.commit()
    report.lines.extend(LineResult(code, LineStatus.SKIPPED.value, reason=reason)
                        for _, code, reason in skips)
    queue.sort(key=lambda item: item[1].customer_code)
    return queue


def _prune(session: Session, as_of: date, retention_days: int, options: DeliveryOptions,
           lease: RunLease, report: RunReport) -> None:
    """After the send: delete the `skipped` lines past the station's retention
    (dunning.retention), under the run lock, within ``options.prune_budget``. The send is already
    recorded, so nothing here may fail the run: a problem becomes a warning on the run, and the
    next run's prune carries on."""
    def beat(_: PruneReport) -> None:
        if lease.due(options.clock()):
            lease.heartbeat(options.clock())

    try:
        report.pruned = prune_skipped(session, as_of, retention_days, clock=options.clock,
                                      budget=options.prune_budget, between_batches=beat)
    except Exception as exc:  # noqa: BLE001 - the messages are out; the next run prunes again
        session.rollback()
        cause = getattr(exc, "orig", None) or exc  # the database's own words, without the SQL
        first_line = (str(cause).splitlines() or [""])[0]
        report.warn(f"A limpeza das linhas de clientes ignorados antigas não foi concluída "
                    f"({type(cause).__name__}: {first_line}); será tentada de novo no próximo "
                    f"envio.")
        try:
            session.execute(update(Run).where(Run.id == report.run_id).values(
                message=report.message))
            session.commit()
        except Exception:  # noqa: BLE001 - the database itself is failing: the warning is printed
            session.rollback()


def _finish(session: Session, run_id: int, report: RunReport, now: datetime) -> None:
    """Close the run record with its verdict and the counts of its lines; commits."""
    if report.status == "running":
        report.status = "failed" if report.failed or report.unknown else "ok"
    store_counts(session, [run_id])  # while still marked running (dunning.runcounts)
    session.execute(update(Run).where(Run.id == run_id).values(
        status=report.status, message=report.message, finished_at=now))
    session.commit()
