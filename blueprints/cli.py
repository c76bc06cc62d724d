"""Command-line commands (``flask --app app ...``): thin wrappers around the domain package."""
from __future__ import annotations

import sys

import click
from flask import Blueprint, Flask

from dunning.csvfile import FileRejected
from dunning.importing import import_invoices
from models import db

bp = Blueprint("cli", __name__, cli_group=None)


def echo_rejection(exc: FileRejected) -> None:
    """Print a rejected file's errors to stderr, one per line."""
    click.echo("Arquivo recusado; nada foi alterado. Erros:", err=True)
    for error in exc.errors:
        click.echo(f"  {error}", err=True)
    if exc.truncated:
        click.echo("  (mostrando os primeiros 100 erros; corrija-os e importe de novo)", err=True)


@bp.cli.command("import-invoices")
@click.argument("file", type=click.File("rb"))
def import_invoices_command(file) -> None:
    """Import open invoices from an ERP CSV export (all or nothing)."""
    bar = None
    if sys.stderr.isatty():
        bar = click.progressbar(length=1, label="Importando", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    try:
        report = import_invoices(db.session, file, progress=progress if bar else None)
    except FileRejected as exc:
        echo_rejection(exc)
        sys.exit(1)
    finally:
        if bar:
            bar.render_finish()
    click.echo(f"Importado: {report.rows} linhas ({report.encoding}, separador '{report.delimiter}').")
    click.echo(f"Faturas: {report.invoices_new} novas, {report.invoices_updated} atualizadas, "
               f"{report.invoices_settled} baixadas (ausentes do arquivo).")
    click.echo(f"Clientes: {report.customers_new} novos, {report.customers_updated} atualizados. "
               f"Empresas novas: {report.companies_new}.")
    if report.warnings_total:
        click.echo(f"Avisos ({report.warnings_total}):")
        for warning in report.warnings:
            click.echo(f"  {warning}")


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
        click.echo(f"Erro: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Usuário {name.strip()} criado.")


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
    try:
        app.cli.main(args=args, prog_name="python app.py --email_pendencia_financeira",
                     standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return 0
