"""Database errors as staff should read them: the real cause (busy, read-only, disk full, schema
missing, unreachable) and what to do, for SQLite and PostgreSQL alike; a page (503) or the
terminal (exit 2) says so instead of a traceback, and a value the database refuses that slipped
past the checks is a 400 page or exit 1 (blueprints/web.py, blueprints/cli_input.py)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, InternalError, OperationalError, SQLAlchemyError

T = TypeVar("T")

# The database failed: SQLite reports a read-only, locked or missing file as OperationalError;
# PostgreSQL a read-only transaction (a standby, default_transaction_read_only) as InternalError.
DATABASE_ERRORS = (OperationalError, InternalError)
# A value the database does not take (PostgreSQL: longer than its column, a NUL character).
VALUE_ERRORS = (DataError,)
VALUE_REFUSED = ("O banco de dados recusou um dos valores (longo demais ou com um caractere que "
                 "não pode ser gravado). Confira o que foi digitado ou importado. Nada foi alterado.")

# PostgreSQL SQLSTATE codes -> cause.
_PG_CODES = {"55P03": "locked", "40P01": "locked", "25006": "read_only", "53100": "disk_full",
             "42P01": "schema", "42703": "schema", "3D000": "unreachable", "28P01": "unreachable",
             "57P03": "unreachable"}

MESSAGES = {
    "locked": "o banco de dados está ocupado por outra operação (uma importação de faturas ou "
              "outro envio) há mais tempo que o limite de espera; tente de novo quando ela terminar",
    "read_only": "o banco de dados está somente leitura: confira as permissões do arquivo em "
                 "instance/ (e da pasta) para o usuário que executa o programa, ou DATABASE_URL",
    "disk_full": "o disco está cheio: libere espaço no disco do banco de dados e tente de novo",
    "schema": "o banco de dados não tem as tabelas desta versão: rode `flask --app app db upgrade`",
    "unreachable": "não foi possível abrir o banco de dados: confira o arquivo em instance/ ou "
                   "DATABASE_URL (servidor ligado, usuário e senha)",
}


def cause(exc: SQLAlchemyError) -> str:
    """One of MESSAGES' keys, or "" when the error is none of those."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_CODES:
        return _PG_CODES[code]
    text = str(orig if orig is not None else exc).lower()
    if "locked" in text or "busy" in text or "lock timeout" in text:
        return "locked"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "read_only"
    if "disk is full" in text or "disk full" in text or "no space left" in text:
        return "disk_full"
    if "no such table" in text or "no such column" in text or "does not exist" in text:
        return "schema"
    if "unable to open" in text or "connection refused" in text or "could not connect" in text \
            or isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "unreachable"
    return ""


def is_locked(exc: SQLAlchemyError) -> bool:
    """The database was busy with another writer (worth waiting and trying again)."""
    return cause(exc) == "locked"


def explain(exc: SQLAlchemyError) -> str:
    """A pt-BR sentence naming the cause, with the driver's own words for anything else."""
    found = cause(exc)
    if found:
        return f"Banco de dados: {MESSAGES[found]}."
    orig = getattr(exc, "orig", None)
    detail = " ".join(str(orig if orig is not None else exc).split())[:300]
    return f"Erro no banco de dados ({type(exc).__name__}: {detail})."


def retry_when_locked(work: Callable[[], T], rollback: Callable[[], None], limit: float,
                      pause: float = 0.5) -> T:
    """``work()``, tried again (after ``rollback()``) while the database is busy with another
    writer, for up to ``limit`` seconds; any other error, or the limit, raises."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return work()
        except OperationalError as exc:
            rollback()
            if not is_locked(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
