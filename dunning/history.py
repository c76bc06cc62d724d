"""The import history (Importar > Histórico): the home of ImportRecord rows and of each company's
data time, which the run's data age guard reads.

An accepted import writes its record and its companies' data time inside its own transaction,
so they exist exactly when its data does; a refused or repeated one is recorded apart (the data
is unchanged, the attempt is kept).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dunning.csvfile import RowError
from models import Company, ImportRecord

_LISTED = 20  # warnings and errors kept in a record (the import prints up to 100)


@dataclass
class ImportOrigin:
    """Where an import comes from, for its record.

    ``data_time`` is when the data was taken from the ERP: None means the file's modification
    time when the stream is a file on disk, else the import's start.
    """

    source: str = "cli"              # cli | browser | folder
    user: str = ""
    file_name: str = ""
    data_time: datetime | None = None
    refuse_repeats: bool = False     # the import folder: a file already imported is not again


@dataclass
class FileFacts:
    """What is known of the file itself, as far as the import got."""

    name: str = ""
    size: int = 0
    sha256: str = ""
    encoding: str = ""
    delimiter: str = ""


class Repeated(Exception):
    """The file is identical (SHA-256) to one already imported: not imported again."""

    def __init__(self, original_id: int, record_id: int):
        super().__init__(f"arquivo idêntico ao da importação nº {original_id}, já importado")
        self.original_id = original_id
        self.record_id = record_id


def file_data_time(stream: BinaryIO) -> datetime | None:
    """The modification time of the file behind ``stream`` (None when it is no file on disk)."""
    try:
        return datetime.fromtimestamp(os.fstat(stream.fileno()).st_mtime)
    except (AttributeError, OSError, ValueError):
        return None


def stream_name(stream: BinaryIO) -> str:
    """The file name of a stream opened from disk, without its folder ("" when it has none)."""
    name = getattr(stream, "name", "")
    return os.path.basename(name) if isinstance(name, str) else ""


def sha256_of(stream: BinaryIO) -> str:
    """The SHA-256 of a whole stream, for files refused before the import read them."""
    digest = hashlib.sha256()
    try:
        stream.seek(0)
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
        stream.seek(0)
    except (AttributeError, OSError, ValueError):
        return ""
    return digest.hexdigest()


def _base(origin: ImportOrigin, facts: FileFacts, data_time: datetime, started: datetime,
          result: str) -> dict:
    return {"source": origin.source, "user_name": origin.user[:150],
            "file_name": (origin.file_name or facts.name)[:500], "size_bytes": facts.size,
            "sha256": facts.sha256, "encoding": facts.encoding, "delimiter": facts.delimiter[:1],
            "data_time": data_time, "started_at": started, "finished_at": datetime.now(),
            "result": result}


def _lines(items: list) -> str:
    return "\n".join(str(item) for item in items[:_LISTED])


def write_accepted(conn: Connection, origin: ImportOrigin, facts: FileFacts, data_time: datetime,
                   started: datetime, report, company_ids: dict[str, int]) -> int:
    """Inside the import's transaction: its record, and the data time of the companies it held."""
    values = _base(origin, facts, data_time, started, "accepted") | {
        "rows": report.rows, "invoices_new": report.invoices_new,
        "invoices_updated": report.invoices_updated, "invoices_settled": report.invoices_settled,
        "invoices_unchanged": max(report.rows - report.invoices_new - report.invoices_updated, 0),
        "customers_new": report.customers_new, "customers_updated": report.customers_updated,
        "companies_new": report.companies_new, "warnings_total": report.warnings_total,
        "warnings": _lines(report.warnings), "companies": ",".join(sorted(company_ids))}
    record_id = conn.execute(insert(ImportRecord).returning(ImportRecord.id), values).scalar_one()
    if company_ids:
        conn.execute(update(Company).where(Company.id.in_(list(company_ids.values())))
                     .values(data_time=data_time))
    return record_id


def record_refused(session: Session, origin: ImportOrigin, facts: FileFacts, data_time: datetime,
                   started: datetime, errors: list[RowError | str], truncated: bool) -> int | None:
    """Keep the attempt of a refused file (the data was left as it was); commits.

    Best effort: when the database itself is what failed, the record may not be writable either,
    and the error the caller is about to report matters more.
    """
    values = _base(origin, facts, data_time, started, "refused") | {
        "errors": _lines(errors), "errors_truncated": truncated or len(errors) > _LISTED}
    return _commit_record(session, values)


def record_repeated(session: Session, origin: ImportOrigin, facts: FileFacts, data_time: datetime,
                    started: datetime, original: ImportRecord) -> int | None:
    """Keep the attempt of a file identical to an imported one; commits.

    When the original is the latest accepted import, the database holds exactly this file's
    snapshot: its companies' data time moves on to this file's (a daily export that did not
    change is still fresh data). An older original is not re-applied (later imports changed the
    data since), and only recorded.
    """
    values = _base(origin, facts, data_time, started, "repeated") | {
        "rows": original.rows, "companies": original.companies,
        "note": f"Idêntico ao arquivo da importação nº {original.id} ({original.file_name})."}
    latest = session.scalar(select(ImportRecord.id).where(ImportRecord.result == "accepted")
                            .order_by(ImportRecord.id.desc()).limit(1))
    if latest == original.id and original.company_codes:
        session.execute(update(Company).where(Company.code.in_(original.company_codes),
                                              (Company.data_time.is_(None))
                                              | (Company.data_time < data_time))
                        .values(data_time=data_time))
    return _commit_record(session, values)


def _commit_record(session: Session, values: dict) -> int | None:
    try:
        record_id = session.execute(insert(ImportRecord).returning(ImportRecord.id),
                                    values).scalar_one()
        session.commit()
        return record_id
    except SQLAlchemyError:
        session.rollback()
        return None


def accepted_with(session: Session, sha256: str) -> ImportRecord | None:
    """The latest accepted import of a file with this SHA-256, if any."""
    if not sha256:
        return None
    return session.scalar(select(ImportRecord).where(ImportRecord.sha256 == sha256,
                                                     ImportRecord.result == "accepted")
                          .order_by(ImportRecord.id.desc()).limit(1))


def add_note(session: Session, record_id: int | None, note: str) -> None:
    """Append a note to a record (e.g. the file could not be moved); commits, best effort."""
    if record_id is None:
        return
    try:
        record = session.get(ImportRecord, record_id)
        if record is not None:
            record.note = f"{record.note} {note}".strip()
            session.commit()
    except SQLAlchemyError:
        session.rollback()


def history_query():
    """The history, newest first (the view paginates it)."""
    return select(ImportRecord).order_by(ImportRecord.id.desc())
