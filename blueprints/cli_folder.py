"""Command-line side of the import folder: configure-import, import-folder, and the folder pass
the scheduled job makes before it sends.

Registered on the ``cli`` blueprint (imported at the end of blueprints/cli.py).
"""
from __future__ import annotations

import sys
from datetime import datetime

import click
from sqlalchemy.exc import SQLAlchemyError

from blueprints.cli import bp, echo, echo_waiting, import_wait, os_user
from dunning.dberrors import explain
from dunning.folder import FileOutcome, FolderUnusable, folder_problem, import_folder
from dunning.importing import ImportBusy
from dunning.settings_registry import integer, text
from dunning.station_edit import save_import
from models import StationSettings, db

RESULT_WORDS = {"accepted": "importado", "refused": "RECUSADO", "repeated": "repetido",
                "waiting": "aguardando", "unreadable": "NÃO LIDO"}


@bp.cli.command("configure-import")
@click.option("--folder", help="the folder the ERP's scheduled export writes into (\"\" = none)")
@click.option("--pattern", help="which files of it to import (default *.csv)")
@click.option("--max-age-hours",
              help="hold back a company whose invoice data is older than this (0 to 8760 hours, "
                   "0 = no limit)")
def configure_import_command(folder: str | None, pattern: str | None,
                             max_age_hours: str | None) -> None:
    """Set the import folder, its file pattern and the maximum age of the invoice data."""
    # Checked as the Configurações form checks them (lengths, one line, hours in range).
    try:
        folder = None if folder is None else text("Pasta de importação", 1000)(folder)
        pattern = None if pattern is None else text("Arquivos a importar", 200)(pattern)
        max_age_hours = None if max_age_hours is None else integer(
            "Idade máxima dos dados (horas)", 0, 8760)(max_age_hours)
    except ValueError as exc:
        echo(f"Erro: {exc} Nada foi alterado.", err=True)
        sys.exit(1)
    settings = StationSettings.load(db.session)
    if folder is not None and folder.strip():
        problem = folder_problem(folder)
        if problem:
            echo(f"Erro: {problem}. Nada foi alterado.", err=True)
            sys.exit(1)
    save_import(db.session, settings.import_folder if folder is None else folder,
                settings.import_pattern if pattern is None else pattern,
                settings.max_data_age_hours if max_age_hours is None else max_age_hours)
    settings = StationSettings.load(db.session)
    echo(f"Pasta de importação: {settings.import_folder or '(nenhuma)'}; arquivos "
         f"{settings.import_pattern}; idade máxima dos dados: "
         + (f"{settings.max_data_age_hours} horas." if settings.max_data_age_hours
            else "sem limite (0: os lembretes saem mesmo de dados antigos)."))
    db.session.commit()


@bp.cli.command("import-folder")
def import_folder_command() -> None:
    """Import every file waiting in the import folder (exit 0, 1 some file refused, 2 cannot run)."""
    code = folder_pass()
    sys.exit(code)


def folder_pass(required: bool = True, err: bool = False) -> int:
    """Import the folder, printing each file; the exit code (0, 1 or 2).

    ``required`` False (the scheduled job): no folder configured is not an error. ``err`` prints
    everything on stderr (the job's --json output stays clean).
    """
    try:
        settings = StationSettings.load(db.session)
        folder, pattern = settings.import_folder, settings.import_pattern
        db.session.commit()
        if not folder and not required:
            return 0
        report = import_folder(db.session, folder, pattern, datetime.now(), user=os_user(),
                               wait=import_wait(), on_wait=echo_waiting,
                               on_file=lambda outcome: _echo_file(outcome, err))
    except FolderUnusable as exc:
        echo(f"Erro: {exc}.", err=True)
        return 2
    except ImportBusy as exc:
        echo(f"Erro: {exc}", err=True)
        return 2
    except SQLAlchemyError as exc:
        db.session.rollback()
        echo(f"Erro: {explain(exc)}", err=True)
        return 2
    if not report.files:
        echo(f"Pasta de importação {folder}: nenhum arquivo novo.", err=err)
    refused = [f.name for f in report.files if f.problem]
    if refused:
        echo(f"Atenção: arquivo(s) com problema na pasta de importação: {', '.join(refused)} "
             f"(veja recusados/ e o arquivo .erros.txt, ou Importar › Histórico).", err=True)
    return report.exit_code


def _echo_file(outcome: FileOutcome, err: bool) -> None:
    """One line per file, as it is done (a large file takes a while)."""
    line = f"{outcome.name}: {RESULT_WORDS.get(outcome.result, outcome.result)}"
    if outcome.report is not None:
        r = outcome.report
        line += (f", {r.rows} linhas, empresas {', '.join(r.companies)}; faturas: "
                 f"{r.invoices_new} novas, {r.invoices_updated} atualizadas, "
                 f"{r.invoices_settled} baixadas")
    elif outcome.message:
        line += f": {outcome.message}"
    if outcome.moved_to:
        line += f" -> {outcome.moved_to}"
    if outcome.note:
        line += f". {outcome.note}"
    echo(line, err=err or outcome.problem)
    for error in outcome.errors[:10]:
        echo(f"    {error}", err=True)
    if len(outcome.errors) > 10:
        echo(f"    ... (todos os erros no arquivo .erros.txt)", err=True)
