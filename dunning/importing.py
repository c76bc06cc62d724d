"""Import the ERP's open-items CSV: a snapshot of the open items of the companies it contains.

All or nothing: ``dunning.parsing`` validates the rows (in a second process for a large file)
while ``dunning.snapshot`` writes each batch, all in one transaction; an error anywhere rolls
everything back. Dunning settings are never touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from dunning.bulk import gc_paused
from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.parsing import COLUMNS, MAX_ERRORS, REQUIRED, Summary, batches
from dunning.snapshot import MergeCounts, Retry, Writer
from dunning.snapshot_pg import PostgresWriter

_CACHE_KIB = 24576


@dataclass
class ImportReport(MergeCounts):
    """What an accepted import changed (the counts), and what it noticed."""

    rows: int = 0
    encoding: str = ""
    delimiter: str = ""
    warnings: list[RowError] = field(default_factory=list)
    warnings_total: int = 0

    @property
    def encoding_name(self) -> str:
        """The encoding as staff know it."""
        return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(self.encoding, self.encoding)

    def warn(self, warning: RowError) -> None:
        """Keep the first MAX_ERRORS warnings and count them all."""
        self.warnings_total += 1
        if len(self.warnings) < MAX_ERRORS:
            self.warnings.append(warning)


def import_invoices(session: Session, stream: BinaryIO,
                    progress: Callable[[int, int], None] | None = None,
                    now: datetime | None = None, parallel: bool | None = None) -> ImportReport:
    """Import one ERP export; commit it whole, or raise FileRejected leaving the database as it was.

    ``progress(bytes_done, bytes_total)`` is called now and then for large files.
    ``now`` stamps items settled by this import (default: the current time).
    ``parallel`` parses in a second process (None: when the file is large; see dunning.parsing).
    """
    source = CsvSource(stream)
    columns, errors, unknown = source.map_columns(COLUMNS, REQUIRED)
    if errors:
        raise FileRejected(errors)
    now = now or datetime.now()
    try:
        return _import(session, source, columns, unknown, progress, now, parallel, exact=False)
    except Retry:  # a possible repeat or hash collision: again, with the exact keys
        source.rewind()
        return _import(session, source, columns, unknown, progress, now, parallel, exact=True)


def _import(session: Session, source: CsvSource, columns: dict[str, int], unknown: list[str],
            progress: Callable[[int, int], None] | None, now: datetime, parallel: bool | None,
            exact: bool) -> ImportReport:
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
