"""Command-line side of backups: ``backup [FOLDER]``, ``restore FOLDER``, and the daily job's backup.

Registered on the ``cli`` blueprint (imported at the end of blueprints/cli.py).
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from blueprints.cli import bp, echo
from blueprints.cli_input import PATH
from dunning import backup as backups
from dunning.dberrors import explain
from dunning.runlock import LockBusy, acquire
from models import db

PG_BACKUP = ("O banco de dados é PostgreSQL: faça o backup com pg_dump (por exemplo "
             "`pg_dump -Fc -f cobranca.dump NOME_DO_BANCO`) e guarde também os arquivos de chave "
             "da pasta instance/ (smtp.key, secret_key).")
PG_RESTORE = ("O banco de dados é PostgreSQL: restaure com pg_restore (por exemplo "
              "`pg_restore --clean -d NOME_DO_BANCO cobranca.dump`) e devolva os arquivos de chave "
              "à pasta instance/.")


def _sqlite_file() -> Path | None:
    return backups.sqlite_file(db.engine)


def take_station_backup(folder: str | None = None) -> backups.Backup:
    return backups.take_station_backup(db.session, db.engine, current_app.instance_path,
                                       datetime.now(), folder)


@bp.cli.command("backup")
@click.argument("folder", required=False, type=PATH)
def backup_command(folder: str | None) -> None:
    """Copy the database and the key files into a dated folder (default: the one set in Configurações)."""
    if _sqlite_file() is None:
        echo(PG_BACKUP, err=True)
        sys.exit(2)
    try:
        item = take_station_backup(folder)
    except backups.BackupError as exc:
        echo(f"Backup não feito: {exc}", err=True)
        sys.exit(1)
    echo(f"Backup gravado em {item.path} ({item.size / 1_048_576:.1f} MB).")


@bp.cli.command("restore")
@click.argument("folder", type=PATH)
@click.option("--yes", is_flag=True, help="do not ask for confirmation (for scripts)")
def restore_command(folder: str, yes: bool) -> None:
    """Put a backup back in place of the database and the key files (asks first)."""
    db_file = _sqlite_file()
    if db_file is None:
        echo(PG_RESTORE, err=True)
        sys.exit(2)
    try:
        backups.check_backup(folder)
    except backups.BackupError as exc:
        echo(f"Restauração recusada: {exc} Nada foi alterado.", err=True)
        sys.exit(1)
    if not yes:
        echo(f"O banco de dados atual ({db_file}) será substituído pelo backup em {folder}.\n"
             "Tudo o que foi feito depois do backup será perdido (uma cópia da situação "
             "atual é guardada antes).")
        answer = click.prompt("Digite sim para restaurar", default="", show_default=False)
        if answer.strip().lower() not in ("s", "sim"):
            echo("Restauração cancelada; nada foi alterado.")
            sys.exit(1)
    try:
        lease = acquire(db.session, datetime.now())
    except LockBusy as exc:
        echo(f"Restauração recusada: {str(exc).replace(' Nada foi enviado.', '')} "
             "Espere o envio terminar. Nada foi alterado.", err=True)
        sys.exit(2)
    instance = current_app.instance_path
    try:
        safety = backups.take_backup(db_file, instance, backups.default_folder(instance),
                                     datetime.now(), keep=None)
        db.session.close()
        db.engine.dispose()
        keys = backups.restore_backup(folder, db_file, instance)
    except backups.BackupError as exc:
        lease.release()
        echo(f"Restauração não feita: {exc}", err=True)
        sys.exit(1)
    from flask_migrate import upgrade
    upgrade()  # a backup from an older version gets the newer tables and columns
    echo(f"A situação anterior foi guardada em {safety.path}.")
    echo(f"Backup restaurado de {folder}"
         + (f" (com {', '.join(keys)})." if keys else " (sem arquivos de chave)."))


def backup_after_send(app: Flask) -> None:
    """The daily job's last step: a backup; a failure is reported but leaves the exit code alone."""
    with app.app_context():
        if _sqlite_file() is None:
            return  # on PostgreSQL the backup is pg_dump's job (README)
        try:
            item = take_station_backup()
        except backups.BackupError as exc:
            echo(f"Backup não feito: {exc}", err=True)
        except SQLAlchemyError as exc:
            echo(f"Backup não feito: {explain(exc)}", err=True)
        except Exception as exc:  # the send's result must stand whatever the backup does
            echo(f"Backup não feito: {type(exc).__name__}: {exc}", err=True)
        else:
            echo(f"Backup gravado em {item.path}.")
