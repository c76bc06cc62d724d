"""Command-line side of sending: the real run's output, configure-smtp and send-test-email.

Registered on the ``cli`` blueprint (imported at the end of blueprints/cli.py).
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, datetime

import click
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from blueprints.cli import bp, echo, echo_waiting
from dunning.delivery import (PARTIAL_LABEL, SKIP_LABELS, STATUS_LABELS, CannotRun, DeliveryOptions, RunReport,
                              run)
from dunning.dberrors import explain as explain_db
from dunning.formatting import format_date
from dunning.manual import send_test_email
from dunning.oauth import AUTH_METHOD_LABELS, AUTH_METHODS, GOOGLE, MICROSOFT, PASSWORD
from dunning.retention import PruneReport, prune_skipped, retention_days
from dunning.rules import UnknownCustomer
from dunning.runlock import LockBusy, LockLost, acquire
from dunning.settings_registry import REGISTRY, choice
from dunning.smtp import SmtpFailure, usable_address
from dunning.smtp_replies import explain
from dunning.station_edit import SmtpSettingsError, SmtpValues, save_smtp
from dunning.text import json_terminal_safe, terminal_safe
from dunning.typed_input import shown
from models import StationSettings, db


def delivery_options() -> DeliveryOptions:
    """Retry knobs, the import wait and the OAuth 2.0 providers from the app config."""
    return DeliveryOptions.from_config(current_app.config)


def send_reminders(as_of: date, customer: str | None, as_json: bool, at_least: int = 0) -> None:
    """The real run: send, print the summary (or JSON) and exit with SPEC §6's code (at least
    ``at_least``: the import folder's verdict)."""
    bar = None
    if sys.stderr.isatty() and not as_json:
        bar = click.progressbar(length=1, label="Enviando", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    try:
        report = run(db.session, as_of, current_app.instance_path, trigger="scheduler",
                     customer_code=customer, options=delivery_options(),
                     progress=progress if bar else None, on_wait=echo_waiting)
    except CannotRun as exc:
        _fail(str(exc))
    except UnknownCustomer as exc:
        _fail(f"Cliente não encontrado: '{exc.code}'.")
    except SQLAlchemyError as exc:
        _fail(f"{explain_db(exc)} Confira em Envios o que já tinha saído.")
    finally:
        if bar:
            bar.render_finish()
    if as_json:
        echo(json_terminal_safe(json.dumps(report.to_json(), ensure_ascii=False, indent=1)))
    else:
        echo_report(report)
    if at_least and report.exit_code < at_least:
        echo("Envio concluído, mas a pasta de importação teve arquivo(s) com problema "
             "(veja acima): código de saída 1.", err=True)
    sys.exit(max(report.exit_code, at_least))


def _fail(message: str) -> None:
    echo(f"Erro: {message}", err=True)
    sys.exit(2)


def echo_report(report: RunReport) -> None:
    """The summary staff read in the terminal (or in the scheduler's history)."""
    echo(f"Envio de {format_date(report.as_of)} (execução {report.run_id}): "
         f"{report.counts().summary()}.")
    failures = [line for line in report.lines
                if line.status not in ("sent", "skipped") or line.partial]
    if failures:
        echo("Falhas:")
        for line in failures:
            reply = f" ({line.smtp_code or ''} {terminal_safe(line.smtp_reply)})".replace(
                "( ", "(") if line.smtp_reply else ""
            label = PARTIAL_LABEL if line.partial else STATUS_LABELS.get(line.status, line.status)
            why = "" if line.partial else explain(line.smtp_code, line.smtp_reply)
            why = f" — {why}" if why else ""
            refused = f"; recusados: {terminal_safe(line.refused)}" if line.refused else ""
            echo(f"  {terminal_safe(line.customer)} {terminal_safe(', '.join(line.to))}: "
                 f"{label}{why}{reply}{refused}")
    reasons = Counter(line.reason for line in report.lines if line.status == "skipped")
    if reasons:
        echo("Ignorados: " + "; ".join(f"{SKIP_LABELS.get(r, r)}: {n}"
                                             for r, n in sorted(reasons.items())))
    if report.pruned and (report.pruned.lines or not report.pruned.finished):
        echo(report.pruned.summary())
    if report.marked_unknown:
        echo(f"Atenção: {report.marked_unknown} mensagem(ns) de uma execução interrompida "
             f"ficaram com situação desconhecida (não serão reenviadas automaticamente; "
             f"confira e reenvie em Envios, se for o caso).")
    if report.message:
        echo(report.message, err=True)


@bp.cli.command("configure-smtp")
@click.option("--server", required=True, help="SMTP server host name")
@click.option("--auth-method", default="password",
              help="sign-in: password (user + password), microsoft or google (OAuth 2.0; then "
                   "run authorize-smtp)")
@click.option("--tenant", default="", help="Microsoft 365: directory (tenant) id or domain")
@click.option("--client-id", default="", help="OAuth 2.0: application (client) id")
@click.option("--client-secret-stdin", is_flag=True,
              help="Google: read the OAuth client secret from standard input")
@click.option("--port", required=True, help="port (587, 465, 25)")
@click.option("--security", required=True,
              help="none, starttls (usually port 587) or ssl (usually port 465)")
@click.option("--user", default="", help="login user (empty: no authentication)")
@click.option("--password-stdin", is_flag=True,
              help="read the password from standard input (never from the command line)")
@click.option("--sender", required=True, help="sender address (From)")
@click.option("--sender-name", default="", help="sender name shown to customers")
@click.option("--reply-to", default="", help="Reply-To address")
@click.option("--bcc", default="", help="send a hidden copy of every reminder to this address")
@click.option("--timeout", default="60", help="seconds for every SMTP operation (1 to 600)")
@click.option("--max-per-minute", default="", help="cap on messages per minute (Microsoft 365: 30)")
def configure_smtp_command(server, auth_method, tenant, client_id, client_secret_stdin, port,
                           security, user, password_stdin, sender, sender_name, reply_to, bcc,
                           timeout, max_per_minute) -> None:
    """Store the station's SMTP settings (the password and secrets encrypted, never printed)."""
    # Numbers, security and sign-in read as `settings set` and the form read them (pt-BR errors).
    try:
        port, timeout, max_per_minute, security = (REGISTRY[name].parse(value) for name, value in (
            ("smtp_porta", port), ("smtp_tempo_limite", timeout),
            ("max_por_minuto", max_per_minute), ("smtp_seguranca", security)))
        auth_method = choice("--auth-method", {method: method for method in AUTH_METHODS})(
            auth_method)
    except ValueError as exc:
        _fail(f"{exc} Nada foi alterado.")
    for label, address in (("--sender", sender), ("--reply-to", reply_to), ("--bcc", bcc)):
        if address and not usable_address(address):
            _fail(f"{label}: endereço de e-mail inválido '{shown(address)}' (sem acentos antes "
                  "do @). Nada foi alterado.")
    _check_oauth_options(auth_method, tenant, client_id, client_secret_stdin, user,
                         password_stdin)
    secret = sys.stdin.readline().rstrip("\r\n") if client_secret_stdin else ""
    if client_secret_stdin and not secret:
        _fail("--client-secret-stdin: nenhum segredo recebido na entrada padrão.")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else ""
    if password_stdin and not password:
        _fail("--password-stdin: nenhuma senha recebida na entrada padrão.")
    current = StationSettings.load(db.session)
    if auth_method == GOOGLE and not secret and not (
            current.oauth_client_secret_encrypted and current.oauth_client_id == client_id):
        _fail("--client-secret-stdin: informe o segredo do cliente OAuth do Google (client "
              "secret) pela entrada padrão.")
    try:
        saved = save_smtp(
            db.session, current_app.instance_path,
            SmtpValues(server=server, port=port, security=security, user=user,
                       sender_name=sender_name, sender_address=sender, reply_to=reply_to,
                       bcc=bcc, timeout=timeout, max_per_minute=max_per_minute,
                       auth_method=auth_method, oauth_tenant=tenant, oauth_client_id=client_id),
            new_password=password, new_client_secret=secret)
    except SmtpSettingsError as exc:
        db.session.rollback()
        hint = " (--password-stdin)" if exc.field == "password" else ""
        _fail(f"{exc}{hint} Nada foi alterado.")
    settings = StationSettings.load(db.session)
    if auth_method == PASSWORD:
        stored = "gravada (criptografada)" if password else (
            "mantida" if settings.smtp_password_encrypted else "nenhuma")
        dropped = "; autorização OAuth 2.0 descartada" if saved.authorization_forgotten else ""
        echo(f"SMTP configurado: {server}:{port} ({security}), remetente {sender}; "
             f"senha {stored}{dropped}.")
        return
    state = ("autorização anterior descartada (outro cliente, caixa de correio ou servidor); "
             if saved.authorization_forgotten else "")
    state += "senha gravada apagada (não é usada com OAuth 2.0); " if saved.password_forgotten else ""
    state += ("autorização gravada para " + (settings.oauth_account or settings.smtp_user)
              if settings.oauth_refresh_token_encrypted
              else "falta autorizar: rode `flask --app app authorize-smtp`")
    echo(f"SMTP configurado: {server}:{port} ({security}), remetente {sender}; entrada "
         f"{AUTH_METHOD_LABELS[auth_method]}; {state}.")


def _check_oauth_options(auth_method, tenant, client_id, client_secret_stdin, user,
                         password_stdin) -> None:
    """Each sign-in method's required options, or a pt-BR message and exit 2."""
    if auth_method == PASSWORD:
        for flag, given in (("--tenant", tenant), ("--client-id", client_id),
                            ("--client-secret-stdin", client_secret_stdin)):
            if given:
                _fail(f"{flag} só vale com --auth-method microsoft ou google.")
        return
    if password_stdin:
        _fail("--password-stdin não vale com OAuth 2.0: a senha não é usada (rode "
              "`flask --app app authorize-smtp` depois de configurar).")
    if not client_id.strip():
        _fail("--client-id: informe o ID do aplicativo (client id) registrado no provedor.")
    if auth_method == MICROSOFT and not tenant.strip():
        _fail("--tenant: informe o ID do diretório (tenant id) do Microsoft Entra ID.")
    if auth_method == GOOGLE and tenant:
        _fail("--tenant só vale com --auth-method microsoft.")
    if auth_method == MICROSOFT and client_secret_stdin:
        _fail("--client-secret-stdin só vale com --auth-method google (o fluxo da Microsoft "
              "não usa segredo).")
    if auth_method == GOOGLE and not user:
        _fail("--user: informe o endereço da conta Google que envia (ex.: cobranca@posto.com.br).")


@bp.cli.command("send-test-email")
@click.argument("address")
def send_test_email_command(address: str) -> None:
    """Send a short test message with the stored SMTP settings."""
    if not usable_address(address):
        _fail(f"Endereço de e-mail inválido '{shown(address)}' (sem acentos antes do @).")
    try:
        code, reply = send_test_email(db.session, address, current_app.instance_path,
                                      datetime.now(), delivery_options())
    except CannotRun as exc:
        _fail(str(exc))
    except SmtpFailure as exc:
        echo(f"Falha no envio de teste: {explain(exc.code, exc.reply) or 'erro'}. Resposta "
             f"do servidor: {exc.code or ''} {exc.reply}".replace(":  ", ": "), err=True)
        sys.exit(1)
    echo(f"Mensagem de teste aceita pelo servidor ({code} {reply}).")


@bp.cli.command("prune-skipped")
def prune_skipped_command() -> None:
    """Delete now the `skipped` lines older than the station's retention (the daily run also does
    it after its send, a few minutes at a time); exit 2 while a run is in progress."""
    days = retention_days(db.session)
    try:
        lease = acquire(db.session, datetime.now())
    except LockBusy as exc:
        _fail(f"{str(exc).replace(' Nada foi enviado.', '')} Tente depois que o envio terminar; "
              "nada foi apagado.")

    def beat(report: PruneReport) -> None:
        if lease.due(datetime.now()):  # every 30 s at most: also when to say how far it got
            lease.heartbeat(datetime.now())
            echo(f"... {report.lines} linha(s) apagada(s) até agora")

    try:
        result = prune_skipped(db.session, date.today(), days, between_batches=beat)
    except (SQLAlchemyError, LockLost) as exc:
        db.session.rollback()
        why = ("a trava do envio foi tomada por outro processo" if isinstance(exc, LockLost)
               else f"erro do banco de dados, {type(exc).__name__}")
        _fail(f"Limpeza interrompida ({why}); o que já foi apagado fica apagado, o restante na "
              "próxima vez.")
    finally:
        lease.release()
    echo(result.summary())
