"""Sends staff start by hand: re-send one outbox line, and the settings' test e-mail."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from dunning.crypto import SecretUnreadable
from dunning.delivery import (RESENDABLE, CannotRun, DeliveryOptions, LineResult, RunReport, _Batch,
                              _Log, _stop_message)
from dunning.runlock import LockBusy, acquire
from dunning.smtp import Mailer, SmtpConfig, SmtpFailure, build_message
from models.delivery import OutboxLine
from models.settings import StationSettings


def resend_line(session: Session, line_id: int, instance_path: str | os.PathLike,
                options: DeliveryOptions | None = None) -> LineResult:
    """Re-send one failed or `unknown` line by hand, exactly as first sent (same Message-ID).

    Takes the run lock (raises CannotRun while a run is sending) and tries once; the line's new
    status, attempts and the server's reply are recorded. Raises ValueError for a line that is
    not re-sendable.
    """
    options = options or DeliveryOptions()
    line = session.get(OutboxLine, line_id)
    if line is None or line.status not in RESENDABLE or not line.message:
        raise ValueError("Esta linha não pode ser reenviada (só falhas e envios de situação "
                         "desconhecida, com a mensagem guardada).")
    settings = StationSettings.load(session)
    if not settings.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado.")
    try:
        config = SmtpConfig.from_settings(settings, instance_path)
        lease = acquire(session, options.clock(), options.stale_after)
    except (SecretUnreadable, LockBusy) as exc:
        raise CannotRun(str(exc)) from exc
    try:
        line = session.get(OutboxLine, line_id)
        customer = line.customer.code
        report = RunReport(run_id=line.run_id, as_of=line.as_of)
        batch = _Batch(session, settings, config, options, lease, report,
                       _Log(Path(instance_path), line.run_id))
        with Mailer(config) as mailer:
            try:
                mailer.ensure_connected()
            except SmtpFailure as exc:
                raise CannotRun(_stop_message(exc)) from exc
            batch._attempt(mailer, line, line.message.encode("utf-8"))
        batch.log.write(line.updated_at, customer, line)
        return LineResult(customer, line.status, line.recipients.split(", "),
                          message_id=line.message_id, attempts=line.attempts,
                          smtp_code=line.smtp_code, smtp_reply=line.smtp_reply)
    finally:
        session.rollback()
        lease.release()


def send_test_email(session: Session, address: str, instance_path: str | os.PathLike,
                    now: datetime) -> tuple[int, str]:
    """Send a short test message with the stored settings: (code, reply), or raise SmtpFailure."""
    settings = StationSettings.load(session)
    if not settings.smtp_configured:
        raise CannotRun("O servidor SMTP não está configurado.")
    try:
        config = SmtpConfig.from_settings(settings, instance_path)
    except SecretUnreadable as exc:
        raise CannotRun(str(exc)) from exc
    text = (f"Esta é uma mensagem de teste enviada em {now:%d/%m/%Y %H:%M} pelo sistema de "
            f"cobrança por e-mail.\n\nSe você a recebeu, a configuração SMTP está correta.\n")
    html = f"<p>{text.splitlines()[0]}</p><p>Se você a recebeu, a configuração SMTP está correta.</p>"
    message = build_message(config, [address], "", "Teste de envio de e-mail", text, html)
    with Mailer(config) as mailer:
        code, reply, _ = mailer.send([address], message.as_bytes())
    return code, reply
