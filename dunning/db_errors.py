"""What to tell staff when the database itself fails (read-only, locked, missing, unreachable):
the same pt-BR words on a page (503) and in the terminal (exit 2), never a traceback; and when
it refuses a value that slipped past the checks (too long, a NUL): a 400 page or exit 1."""
from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, InternalError, OperationalError

# SQLite reports a read-only, locked or missing file as OperationalError; PostgreSQL a read-only
# transaction (default_transaction_read_only, a standby) as InternalError.
DATABASE_ERRORS = (OperationalError, InternalError)
# A value the database does not take (PostgreSQL: longer than its column, a NUL character).
VALUE_ERRORS = (DataError,)
VALUE_REFUSED = ("O banco de dados recusou um dos valores (longo demais ou com um caractere que "
                 "não pode ser gravado). Confira o que foi digitado ou importado. Nada foi alterado.")


def describe_database_error(exc: BaseException) -> str:
    """A pt-BR sentence for a database failure, naming what to check; nothing was changed."""
    text = str(getattr(exc, "orig", exc) or exc).lower()
    if "readonly" in text or "read-only" in text or "read only" in text:
        problem = ("O banco de dados está somente leitura: o sistema não tem permissão para "
                   "gravar no arquivo do banco (ou na pasta instance/). Peça para liberar a "
                   "escrita e tente de novo.")
    elif "locked" in text or "busy" in text:
        problem = ("O banco de dados está ocupado por outro programa (uma importação ou um envio "
                   "em andamento?). Aguarde um pouco e tente de novo.")
    elif "no such table" in text or "undefinedtable" in text or "does not exist" in text:
        problem = ("O banco de dados não está atualizado: rode `flask --app app db upgrade` "
                   "(ou `make run`).")
    elif "unable to open" in text or "disk" in text or "connection" in text \
            or isinstance(exc, DBAPIError) and exc.connection_invalidated:
        problem = ("O banco de dados está inacessível (arquivo em instance/ ou DATABASE_URL). "
                   "Confira se o disco ou o servidor do banco está disponível.")
    else:
        problem = "O banco de dados recusou a operação."
    return f"{problem} Nada foi alterado."
