"""The import history: one row per invoice import, accepted, refused or repeated."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models import db

# How staff read a record's origin and result (pages and terminal).
SOURCE_LABELS = {"cli": "linha de comando", "browser": "navegador", "folder": "pasta"}
RESULT_LABELS = {"accepted": "aceito", "refused": "recusado", "repeated": "repetido"}


class ImportRecord(db.Model):
    """One invoice import: where the file came from, what it held and what became of it.

    A refused import leaves the data as it was but its record is kept (committed apart), so the
    history shows every attempt. ``companies`` lists the Empresa codes an accepted file covered.
    """

    __tablename__ = "import_record"
    __table_args__ = (Index("ix_import_record_sha256", "sha256", "result"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(10))              # cli | browser | folder
    user_name: Mapped[str] = mapped_column(String(150), default="")
    file_name: Mapped[str] = mapped_column(String(500), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    encoding: Mapped[str] = mapped_column(String(20), default="")
    delimiter: Mapped[str] = mapped_column(String(1), default="")
    # When the data was taken from the ERP: the file's modification time, or the upload time.
    data_time: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[str] = mapped_column(String(10))              # accepted | refused | repeated
    rows: Mapped[int] = mapped_column(default=0)
    invoices_new: Mapped[int] = mapped_column(default=0)
    invoices_updated: Mapped[int] = mapped_column(default=0)
    invoices_settled: Mapped[int] = mapped_column(default=0)
    invoices_unchanged: Mapped[int] = mapped_column(default=0)
    customers_new: Mapped[int] = mapped_column(default=0)
    customers_updated: Mapped[int] = mapped_column(default=0)
    companies_new: Mapped[int] = mapped_column(default=0)
    warnings_total: Mapped[int] = mapped_column(default=0)
    warnings: Mapped[str] = mapped_column(Text, default="")      # the first ones, one a line
    errors: Mapped[str] = mapped_column(Text, default="")        # the first ones, one a line
    errors_truncated: Mapped[bool] = mapped_column(default=False)
    companies: Mapped[str] = mapped_column(Text, default="")     # Empresa codes, comma-separated
    note: Mapped[str] = mapped_column(Text, default="")          # e.g. a file that could not be moved

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)

    @property
    def result_label(self) -> str:
        return RESULT_LABELS.get(self.result, self.result)

    @property
    def company_codes(self) -> list[str]:
        return [code for code in self.companies.split(",") if code]
