"""Command-line commands (``flask --app app ...``): thin wrappers around the domain package."""
from __future__ import annotations

import os
import sys

import click
from flask import Blueprint, Flask, current_app
from flask.cli import ScriptInfo

from blueprints.cli_input import PATH, guard_commands
from dunning.csvfile import FileRejected
from dunning.importing import import_invoices
from dunning.os_errors import describe_os_error, os_reason
from dunning.text import json_terminal_safe, terminal_safe
from dunning.typed_input import shown
from models import db

bp = Blueprint("cli", __name__, cli_group=None)


def echo(message: object = "", err: bool = False, nl: bool = True) -> None:
    """click.echo for everything the commands print: control characters from imported data are
    shown as escapes, never sent to the terminal raw (values are also escaped one by one, with
    their newlines, where they are formatted)."""
    click.echo(terminal_safe(message, keep_newlines=True), err=err, nl=nl)


def echo_rejection(exc: FileRejected) -> None:
    """Print a rejected file's errors to stderr, one per line."""
    echo("Arquivo recusado; nada foi alterado. Erros:", err=True)
    for error in exc.errors:
        echo(f"  {terminal_safe(error)}", err=True)
    if exc.truncated:
        echo("  (mostrando os primeiros 100 erros; corrija-os e importe de novo)", err=True)


def open_input(path: str):
    """Open a file named on the command line for reading, or exit 1 with a pt-BR message."""
    if os.path.isdir(path):
        problem = "é uma pasta, não um arquivo"
    else:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            problem = "arquivo não encontrado"
        except PermissionError:
            problem = "sem permissão para ler o arquivo"
        except OSError as exc:
            problem = f"não foi possível abrir o arquivo ({os_reason(exc)})"
    echo(f"Erro: {shown(path)}: {problem}.", err=True)
    sys.exit(1)


@bp.cli.command("import-invoices")
@click.argument("path", metavar="FILE", type=PATH)
def import_invoices_command(path: str) -> None:
    """Import open invoices from an ERP CSV export (all or nothing)."""
    with open_input(path) as file:
        _import_invoices(file)


def os_user() -> str:
    """Who runs the command (the history's "user" of a command-line import)."""
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return ""


def import_wait() -> float:
    """Seconds an import or a run waits for an import that holds the database."""
    return float(current_app.config.get("IMPORT_WAIT_SECONDS", 600))


def echo_waiting(holder) -> None:
    """Say that we wait for another import, and for whom (stderr: the JSON stays clean)."""
    echo(f"Aguardando a importação de faturas em andamento terminar ({holder.describe()}); "
         f"espera máxima de {import_wait() / 60:.0f} minutos...", err=True)


def _import_invoices(file) -> None:
    from dunning.dberrors import explain
    from dunning.importing import ImportBusy, ImportOrigin
    from sqlalchemy.exc import SQLAlchemyError
    bar = None
    if sys.stderr.isatty():
        bar = click.progressbar(length=1, label="Lendo o arquivo", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        if done >= total:  # the whole file is read and valid: the database work follows
            bar.label = "Gravando no banco de dados"
        bar.update(done - bar.pos)

    origin = ImportOrigin(source="cli", user=os_user(), file_name=os.path.basename(file.name))
    try:
        report = import_invoices(db.session, file, progress=progress if bar else None,
                                 origin=origin, wait=import_wait(), on_wait=echo_waiting)
    except FileRejected as exc:
        echo_rejection(exc)
        sys.exit(1)
    except ImportBusy as exc:
        echo(f"Erro: {exc}", err=True)
        sys.exit(2)
    except SQLAlchemyError as exc:
        echo(f"Erro: {explain(exc)} Nada foi importado.", err=True)
        sys.exit(2)
    finally:
        if bar:
            bar.render_finish()
    echo(f"Importado: {report.rows} linha{'s' if report.rows != 1 else ''} ({report.encoding_name}, "
         f"separador '{report.delimiter}').")
    echo(f"Faturas: {report.invoices_new} novas, {report.invoices_updated} atualizadas, "
         f"{report.invoices_settled} baixadas (ausentes do arquivo).")
    echo(f"Clientes: {report.customers_new} novos, {report.customers_updated} atualizados. "
         f"Empresas novas: {report.companies_new}.")
    if report.companies:
        echo(f"Empresas: {terminal_safe(', '.join(report.companies))} "
             f"(importação nº {report.record_id}).")
    if report.warnings_total:
        echo(f"Avisos ({report.warnings_total}):")
        for warning in report.warnings:
            echo(f"  {terminal_safe(warning)}")


@bp.cli.command("create-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True,
              help="read the password from standard input (never from the command line)")
def create_user_command(name: str, password_stdin: bool) -> None:
    """Create a user of the browser forms."""
    from dunning.users import UserError, create_user
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        create_user(db.session, name, password)
    except UserError as exc:
        echo(f"Erro: {exc}", err=True)
        sys.exit(1)
    echo(f"Usuário {name.strip()} criado.")


@bp.cli.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True,
              help="read the new password from standard input (never from the command line)")
def set_password_command(name: str, password_stdin: bool) -> None:
    """Set a user's password (e.g. a forgotten one); every session of that user ends."""
    from dunning.users import UserError, change_password, user_named
    user = user_named(db.session, name)
    if user is None:
        echo(f"Erro: usuário '{name}' não encontrado.", err=True)
        sys.exit(1)
    try:
        change_password(db.session, user, sys.stdin.readline().rstrip("\r\n"))
    except UserError as exc:
        echo(f"Erro: {exc}", err=True)
        sys.exit(1)
    echo(f"Senha de {user.username} alterada; as sessões abertas desse usuário foram "
         f"encerradas.")


@bp.cli.command("email-pendencia-financeira")
@click.option("--date", "date_text", metavar="AAAA-MM-DD", help="run as of this date (default: today)")
@click.option("--dry-run", is_flag=True, help="only show what would be sent: send and record nothing")
@click.option("--json", "as_json", is_flag=True, help="print the plan or the result as JSON")
@click.option("--customer", metavar="CODE", help="only this customer")
def email_pendencia_financeira_command(date_text: str | None, dry_run: bool, as_json: bool,
                                       customer: str | None) -> None:
    """E-mail every delinquent customer the open invoices it owes (the scheduler's daily job)."""
    from datetime import date as Date
    from dunning.formatting import parse_run_date
    as_of = Date.today()
    if date_text is not None:
        try:
            as_of = parse_run_date(date_text)
        except ValueError as exc:
            echo(str(exc), err=True)
            sys.exit(2)
    if not dry_run:
        if as_of > Date.today():
            echo(f"Erro: a data {as_of.strftime('%d/%m/%Y')} é futura (hoje é "
                 f"{Date.today().strftime('%d/%m/%Y')}). Um lembrete não pode dizer o que "
                 f"estará vencido numa data que ainda não chegou, e o envio bloquearia os "
                 f"envios seguintes. Nada foi enviado; para ver o que sairia nessa data, use "
                 f"--dry-run ou a Pré-visualização.", err=True)
            sys.exit(2)
        _send(as_of, customer, as_json)
        return
    from dunning.bulk import gc_paused
    # The plan is freed before the collector resumes, so it never walks its million objects.
    with gc_paused():
        code = _dry_run(as_of, customer, as_json)
    sys.exit(code)


def _dry_run(as_of, customer: str | None, as_json: bool) -> int:
    """Print what a run on ``as_of`` would send; the exit code the run would have."""
    from datetime import datetime
    from dunning.rules import UnknownCustomer, plan
    try:
        result = plan(db.session, as_of, customer, now=datetime.now())
    except UnknownCustomer as exc:
        echo(f"Cliente não encontrado: '{exc.code}'.", err=True)
        return 2
    if as_json:
        from dunning.plan_json import plan_json_parts
        for part in plan_json_parts(result):    # printed as it is written: never 85 MB at once
            click.echo(json_terminal_safe(part), nl=False)
        click.echo()
    else:
        _echo_plan(result, customer)
    return 1 if result.held else 0  # as the run would (SPEC §9): something is held back


def _echo_plan(result, customer: str | None) -> None:
    """The dry-run as a table staff can read: who would get what, and who not and why."""
    from dunning.formatting import format_brl, format_date
    from dunning.rules import SKIP_REASON_LABELS
    echo(f"Simulação para {format_date(result.as_of)}: nada será enviado nem registrado.")
    if customer and not result.reminders and not result.skipped:
        echo(f"O cliente {customer} não está habilitado para receber lembretes.")
        return
    rows = [(f"{r.customer_code} {r.customer_name}".strip()[:40], ", ".join(r.to),
             r.level_name or "Aviso de vencimento", str(len(r.invoices)),
             format_brl(r.overdue_cents)) for r in result.reminders]
    echo(f"\nLembretes a enviar: {len(rows)}")
    if rows:
        _echo_table(("Cliente", "E-mails", "Nível", "Faturas", "Vencido"), rows, right=(3, 4))
        total = sum(r.overdue_cents for r in result.reminders)
        echo(f"Total vencido: {format_brl(total)}")
        moved = [(r.customer_code, inv) for r in result.reminders for inv in r.invoices if inv.moved]
        if moved:
            echo("Vencimentos em dia não útil (pagáveis sem acréscimo no dia útil seguinte):")
            for code, inv in moved[:50]:
                echo(f"  {code} {inv.document}: {format_date(inv.due_date)} -> "
                     f"{format_date(inv.effective_due_date)}")
            if len(moved) > 50:
                echo(f"  ... e mais {len(moved) - 50}")
    if result.held:
        echo(f"\nEmpresas retidas (faturas fora de todas as mensagens): {len(result.held)}")
        _echo_table(("Empresa", "Motivo", "Detalhe"),
                    [(terminal_safe(f"{h.code} {h.name}".strip())[:40], SKIP_REASON_LABELS[h.reason], h.detail)
                     for h in result.held])
    echo(f"\nNão receberão lembrete: {len(result.skipped)}")
    if result.skipped:
        _echo_table(("Cliente", "Motivo"),
                    [(terminal_safe(s.customer_code), SKIP_REASON_LABELS[s.reason])
                     for s in result.skipped])


def _echo_table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    echo(line(header))
    for row in rows:
        echo(line(row))


def _send(as_of, customer: str | None, as_json: bool) -> None:
    """The real run: the import folder first (when configured), then the send
    (blueprints/cli_delivery.py). A refused or unreadable folder file makes the exit code at
    least 1, named in the output; the send goes on (stale data is held back by the plan)."""
    from blueprints.cli_delivery import send_reminders
    from blueprints.cli_folder import folder_pass
    folder_code = folder_pass(required=False, err=as_json)
    if folder_code == 2 and _database_failed():
        sys.exit(2)  # the cause is printed; the send would only fail the same way
    send_reminders(as_of, customer, as_json, at_least=1 if folder_code else 0)


def _database_failed() -> bool:
    """Whether the database itself cannot be read (after the folder pass reported an error)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    try:
        db.session.execute(text("SELECT 1 FROM station_settings"))
        db.session.rollback()
        return False
    except SQLAlchemyError:
        db.session.rollback()
        return True


@bp.cli.command("import-policies")
@click.argument("path", metavar="FILE", type=PATH)
def import_policies_command(path: str) -> None:
    """Import dunning settings from CSV: replaces those of every customer/group the file names."""
    from dunning.policies import import_policies
    try:
        with open_input(path) as file:
            report = import_policies(db.session, file)
    except FileRejected as exc:
        echo_rejection(exc)
        sys.exit(1)
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    echo(f"Configurações importadas: {count(report.rows, 'linha')}; "
         f"{count(report.customers, 'cliente')} e {count(report.groups, 'grupo')} atualizados.")


@bp.cli.command("export-policies")
@click.argument("file", required=False, type=PATH)
def export_policies_command(file: str | None) -> None:
    """Export the dunning settings as CSV (to FILE, or to the screen)."""
    from dunning.policies import export_policies
    text = export_policies(db.session)
    if file:
        try:
            with open(file, "w", encoding="utf-8", newline="") as out:
                out.write(text)
        except OSError as exc:
            echo(f"Erro: não foi possível gravar {describe_os_error(exc, file)}. Nada foi "
                 "exportado.", err=True)
            sys.exit(1)
        echo(f"Configurações exportadas para {file}.")
    else:
        # Data, not a message: escaped only when it lands on a terminal (a pipe gets it as is).
        click.echo(text if not sys.stdout.isatty() else terminal_safe(text, keep_newlines=True),
                   nl=False)


# configure-smtp and send-test-email live with the rest of the sending commands; backup and restore
# with the backups; settings, settings set and set-company with the station settings;
# configure-import and import-folder with the import folder; authorize-smtp with the OAuth 2.0
# sign-in.
from blueprints import cli_backup, cli_delivery, cli_folder, cli_oauth, cli_settings  # noqa: E402,F401

# Every command of this blueprint (here, cli_delivery, cli_backup, ...), once they are all defined.
guard_commands(bp.cli)


def run_reminder_job(app: Flask, date: str | None, dry_run: bool, as_json: bool,
                     customer: str | None) -> int:
    """The scheduler's entry (``python app.py --email_pendencia_financeira``); returns the exit code."""
    args = ["email-pendencia-financeira"]
    if date:
        args += ["--date", date]
    if dry_run:
        args.append("--dry-run")
    if as_json:
        args.append("--json")
    if customer:
        args += ["--customer", customer]
    code = 0
    try:
        # The ScriptInfo hands this very app to the command (else Flask would build a second one).
        app.cli.main(args=args, prog_name="python app.py --email_pendencia_financeira",
                     standalone_mode=True, obj=ScriptInfo(create_app=lambda: app))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not dry_run:  # after the send, whatever it did; the exit code stays the send's
        cli_backup.backup_after_send(app)
    return code
