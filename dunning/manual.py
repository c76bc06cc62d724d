"""Sends staff start by hand: re-send one outbox line, and the settings' test e-mail."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning.addresses import addresses_of, is_valid_email
from dunning.crypto import SecretUnreadable
from dunning.delivery import RESENDABLE, CannotRun
from dunning.runlock import LockBusy, acquire
from dunning.sender import (DeliveryOptions, LineResult, OutboxItem, RunReport, Sender, SendLog,
                            connection_config, stop_message)
from dunning.rules import stale_companies
from dunning.smtp import Mailer, SmtpFailure, build_message, readdress
from models import Invoice
from models.delivery import OutboxLine
from models.settings import StationSettings


def resend_recipients(line: OutboxLine) -> list[str]:
    """The addresses a manual re-send of ``line`` goes to: the customer's valid addresses on file
    now (the address that failed may have been corrected since), by the plan's own rule."""
    return [a for a in addresses_of(line.customer.email_addresses or "") if is_valid_email(a)]


def resend_line(session: Session, line_id: int, instance_path: str | os.PathLike,
                options: DeliveryOptions | None = None) -> LineResult:
    """Re-send one failed or `unknown` line by hand to the customer's addresses on file now.

    The stored message goes out again with its To header rewritten for those addresses; its
    content and Message-ID stay (it is the same reminder: a mail program that has the first copy
    sees the second as a duplicate). The line's recipients become the new ones. Takes the run
    lock (raises CannotRun while a run is sending) and tries once; the line's new status,
    attempts and the server's reply are recorded. Raises ValueError for a line that is not
    re-sendable or a customer without a valid address.
    """
    options = options or DeliveryOptions()
    line = session.get(OutboxLine, line_id)
    if line is None or line.status not in RESENDABLE or not line.message:
        raise ValueError("Esta linha não pode ser reenviada (só falhas e envios de situação "
                         "desconhecida, com a mensagem guardada).")
    stale = _stale_companies_of(session, line.customer_id, options.clock())
    if stale:
        raise CannotRun("a mensagem cobra faturas de empresa com dados "
                        "desatualizados (" + "; ".join(f"empresa {h.label}: {h.detail}"
                                                       for h in stale) + ").")
    settings = StationSettings.load(session)
    if not settings.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado.")
    try:
        config = connection_config(settings, instance_path, session.get_bind(), options)
        lease = acquire(session, options.clock(), options.stale_after)
    except (SecretUnreadable, LockBusy) as exc:
        raise CannotRun(str(exc)) from exc
    try:
        row = session.get(OutboxLine, line_id)
        if row.status not in RESENDABLE:  # a run or another re-send dealt with it meanwhile
            raise ValueError(f"Esta linha já está na situação '{row.status}'.")
        to = resend_recipients(row)
        if not to:
            raise ValueError(f"O cliente {row.customer.code} não tem nenhum e-mail válido "
                             f"cadastrado: corrija o e-mail na página do cliente.")
        raw = row.message.encode("utf-8")
        if to != row.recipients.split(", "):
            raw = readdress(raw, to, row.customer.name)
            row.recipients = ", ".join(to)
        line = OutboxItem(row.id, row.customer.code, to, row.as_of, row.attempts, row.status,
                          row.subject, row.message_id)
        batch = Sender(session, settings, config, options, lease,
                       RunReport(run_id=row.run_id, as_of=row.as_of),
                       SendLog(Path(instance_path), row.run_id))
        session.commit()
        with Mailer(config) as mailer:
            try:
                mailer.ensure_connected()
            except SmtpFailure as exc:
                raise CannotRun(stop_message(exc)) from exc
            try:
                batch.attempt(mailer, line, raw)
                batch.log.write(line)
            finally:
                batch.close()
        return line.result()
    finally:
        session.rollback()
        lease.release()


def _stale_companies_of(session: Session, customer_id: int, now: datetime) -> list:
    """The held-back companies among those the customer has invoices with (the stored message
    may list any of them): a re-send must not remind from data the run would not use."""
    held = stale_companies(session, now)
    if not held:
        return []
    ids = set(session.scalars(select(Invoice.company_id).where(Invoice.customer_id == customer_id)
                              .distinct()))
    return [held[company_id] for company_id in sorted(ids & set(held))]


def send_test_email(session: Session, address: str, instance_path: str | os.PathLike,
                    now: datetime, options: DeliveryOptions | None = None) -> tuple[int, str]:
    """Send a short test message with the stored settings: (code, reply), or raise SmtpFailure.

    With OAuth 2.0 sign-in it refreshes the token as a run would (and records the outcome)."""
    settings = StationSettings.load(session)
    session.commit()
    if not settings.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado.")
    try:
        config = connection_config(settings, instance_path, session.get_bind(),
                                   options or DeliveryOptions())
    except SecretUnreadable as exc:
        raise CannotRun(str(exc)) from exc
    text = (f"Esta é uma mensagem de teste enviada em {now:%d/%m/%Y %H:%M} pelo sistema de "
            f"cobrança por e-mail.\n\nSe você a recebeu, a configuração SMTP está correta.\n")
    html = f"<p>{text.splitlines()[0]}</p><p>Se você a recebeu, a configuração SMTP está correta.</p>"
    message = build_message(config, [address], "", "Teste de envio de e-mail", text, html)
    with Mailer(config) as mailer:
        code, reply, _ = mailer.send([address], message.raw)
    return code, reply
