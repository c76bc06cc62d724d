"""Import the ERP's open-items CSV: a snapshot of the open items of the companies it contains.

All or nothing: ``dunning.parsing`` validates the rows (in a second process for a large file)
while ``dunning.snapshot`` writes each batch, all in one transaction; an error anywhere rolls
everything back. Dunning settings are never touched. Every import is recorded in the history
(``dunning.history``), refused ones too; one import at a time (the import lock,
``dunning.runlock``), a second one waits or is told another is running.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from dunning import history
from dunning.bulk import gc_paused
from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.dberrors import explain, is_locked
from dunning.history import FileFacts, ImportOrigin, Repeated
from dunning.parsing import COLUMNS, MAX_ERRORS, REQUIRED, Summary, batches
from dunning.runlock import IMPORT_LOCK_ID, IMPORT_STALE_AFTER, LockBusy, LockHolder, acquire, \
    wait_while_held
from dunning.snapshot import MergeCounts, Retry, Writer
from dunning.snapshot_pg import PostgresWriter

__all__ = ["import_invoices", "ImportReport", "ImportOrigin", "ImportBusy", "Repeated",
           "FileRejected"]

_CACHE_KIB = 24576


@dataclass
class ImportReport(MergeCounts):
    """What an accepted import changed (the counts), and what it noticed."""

    rows: int = 0
    encoding: str = ""
    delimiter: str = ""
    warnings: list[RowError] = field(default_factory=list)
    warnings_total: int = 0
    record_id: int | None = None  # its row in the import history
    companies: list[str] = field(default_factory=list)  # codes of the Empresas the file held

    @property
    def encoding_name(self) -> str:
        """The encoding as staff know it."""
        return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(self.encoding, self.encoding)

    def warn(self, warning: RowError) -> None:
        """Keep the first MAX_ERRORS warnings and count them all."""
        self.warnings_total += 1
        if len(self.warnings) < MAX_ERRORS:
            self.warnings.append(warning)


class ImportBusy(Exception):
    """Another invoice import is running (and this one did not, or could no longer, wait)."""


def import_invoices(session: Session, stream: BinaryIO,
                    progress: Callable[[int, int], None] | None = None,
                    now: datetime | None = None, parallel: bool | None = None,
                    origin: ImportOrigin | None = None, wait: float = 0,
                    on_wait: Callable[[LockHolder], None] | None = None) -> ImportReport:
    """Import one ERP export; commit it whole, or raise FileRejected leaving the database as it was.

    ``progress(bytes_done, bytes_total)`` is called now and then for large files.
    ``now`` stamps items settled by this import (default: the current time).
    ``parallel`` parses in a second process (None: when the file is large; see dunning.parsing).
    ``origin`` says where the file comes from, for the history (default: the command line).
    While another import runs, wait up to ``wait`` seconds (``on_wait`` is told once), then
    raise ImportBusy. Raises Repeated when ``origin.refuse_repeats`` and the file was imported.
    """
    started = datetime.now()
    origin = origin or ImportOrigin(file_name=history.stream_name(stream))
    data_time = origin.data_time or history.file_data_time(stream) or started
    lease = _claim(session, wait, on_wait)
    try:
        return _recorded(session, stream, progress, now or datetime.now(), parallel, origin,
                         data_time, started)
    finally:
        try:
            lease.release()
        except SQLAlchemyError:  # the error being raised says more; a dead claim is taken over
            session.rollback()


def _claim(session: Session, wait: float, on_wait: Callable[[LockHolder], None] | None):
    """The import lock, waiting up to ``wait`` seconds for an import that holds it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return acquire(session, datetime.now(), IMPORT_STALE_AFTER, IMPORT_LOCK_ID)
        except LockBusy as exc:
            busy = str(exc)
        except OperationalError as exc:  # SQLite: the other import's transaction holds the file
            session.rollback()
            if not is_locked(exc):
                raise
            busy = "Outra importação de faturas está em andamento. Espere ela terminar e tente de novo."
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ImportBusy(busy)
        wait_while_held(session, IMPORT_LOCK_ID, IMPORT_STALE_AFTER, remaining, on_wait)
        on_wait = None  # told once


def _recorded(session: Session, stream: BinaryIO, progress, now: datetime, parallel: bool | None,
              origin: ImportOrigin, data_time: datetime, started: datetime) -> ImportReport:
    """The import and its history record, whatever the outcome."""
    facts = FileFacts(name=origin.file_name or history.stream_name(stream))
    try:
        source = CsvSource(stream)
        facts.size, facts.sha256 = source.size, source.sha256
        facts.encoding, facts.delimiter = source.encoding, source.delimiter
        if origin.refuse_repeats:
            original = history.accepted_with(session, source.sha256)
            session.rollback()
            if original is not None:
                record_id = history.record_repeated(session, origin, facts, data_time, started,
                                                    original)
                raise Repeated(original.id, record_id)
        columns, errors, unknown = source.map_columns(COLUMNS, REQUIRED)
        if errors:
            raise FileRejected(errors)

        def before_commit(conn: Connection, report: ImportReport, summary: Summary) -> None:
            report.companies = sorted(summary.companies)
            report.record_id = history.write_accepted(
                conn, origin, facts, data_time, started, report,
                {code: company_id for code, (company_id, _) in summary.companies.items()})

        try:
            return _import(session, source, columns, unknown, progress, now, parallel,
                           exact=False, before_commit=before_commit)
        except Retry:  # a possible repeat or hash collision: again, with the exact keys
            source.rewind()
            return _import(session, source, columns, unknown, progress, now, parallel,
                           exact=True, before_commit=before_commit)
    except FileRejected as exc:
        _facts_of_unread(facts, stream)
        exc.record_id = history.record_refused(session, origin, facts, data_time, started,
                                               exc.errors, exc.truncated)
        raise
    except SQLAlchemyError as exc:
        session.rollback()
        history.record_refused(session, origin, facts, data_time, started, [explain(exc)], False)
        raise


def _facts_of_unread(facts: FileFacts, stream: BinaryIO) -> None:
    """Size and SHA-256 of a file refused before it was read through (empty, binary)."""
    if not facts.sha256:
        facts.sha256 = history.sha256_of(stream)
        try:
            stream.seek(0, 2)
            facts.size = stream.tell()
        except (AttributeError, OSError, ValueError):
            pass


def _import(session: Session, source: CsvSource, columns: dict[str, int], unknown: list[str],
            progress: Callable[[int, int], None] | None, now: datetime, parallel: bool | None,
            exact: bool, before_commit: Callable[[Connection, ImportReport, Summary], None]
            ) -> ImportReport:
    """One attempt at the import (see ``dunning.snapshot`` for ``exact``)."""
    report = ImportReport(encoding=source.encoding, delimiter=source.delimiter)
    if unknown:
        report.warn(RowError(1, ", ".join(unknown), "", "colunas desconhecidas ignoradas"))
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # a larger page cache for this connection while it works
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
        # The driver would open the transaction only at the first INSERT: the dropped indexes
        # must be part of it too, and the codes and ids read first must not change under us
        # (the parser numbers new ones). Outside
        # a transaction the per-row foreign-key checks can also go (they double the writing
        # time): every id written was read from its table under this lock or inserted here.
        if not conn.connection.driver_connection.in_transaction:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        stamp = now.isoformat(sep=" ")
        writer_class = PostgresWriter if conn.dialect.name == "postgresql" else Writer
        writer = writer_class(conn, set(columns), stamp, report,
                              expected_rows=source.estimated_rows, exact=exact,
                              column_names={name: source.header[index]
                                            for name, index in columns.items()})
        with gc_paused():  # rows, tuples and strings only: nothing here forms a cycle
            # Exact mode reads in file order, here: a repeat names the line it repeats.
            for message in batches(source, columns, writer.ids, stamp,
                                   False if exact else parallel):
                if isinstance(message, Summary):
                    break
                writer.write(message)
                if progress:
                    progress(message.position, source.size)
        summary = message
        report.rows = summary.rows
        if summary.errors:
            raise FileRejected(summary.errors[:MAX_ERRORS],
                               truncated=len(summary.errors) >= MAX_ERRORS)
        if summary.rows == 0:
            raise FileRejected([RowError(2, "", "", "o arquivo não tem linhas de dados")])
        writer.find_repeats()
        if writer.duplicates:
            raise FileRejected(writer.duplicates, truncated=len(writer.duplicates) >= MAX_ERRORS)
        if progress:
            progress(source.size, source.size)
        writer.finish(summary)
        for warning in writer.warnings:
            report.warn(warning)
        before_commit(conn, report, summary)
    except BaseException:
        _end(session, conn, sqlite, commit=False)
        raise
    _end(session, conn, sqlite, commit=True)
    return report


def _end(session: Session, conn: Connection, sqlite: bool, commit: bool) -> None:
    """Commit (or roll back), then give the connection its usual pragmas before the pool has it.

    The session would hand the connection back to the pool as it commits, and a pragma such as
    foreign_keys only takes effect outside a transaction: so the driver ends the transaction
    first, the pragmas follow, and the session's own commit finds nothing left to do.
    """
    if sqlite:
        driver = conn.connection.driver_connection
        try:
            driver.commit() if commit else driver.rollback()
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            conn.exec_driver_sql("PRAGMA cache_size = -2000")
            conn.exec_driver_sql("PRAGMA threads = 0")
    session.commit() if commit else session.rollback()
