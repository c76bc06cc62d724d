"""Import the ERP's open-items CSV: a snapshot of the open items of the companies it contains.

All or nothing: rows are validated while they stream into a temporary staging table; only a
file without errors is merged, with set-based SQL, in the same transaction. Dunning settings are
never touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import gt, itemgetter
from typing import BinaryIO, Callable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from dunning.addresses import is_valid_email, split_emails
from dunning.bulk import gc_paused
from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.formatting import parse_cents, parse_date
from dunning.snapshot import MergeCounts, Stage, merge
from dunning.taxid import is_valid_tax_id

MAX_ERRORS = 100
_BATCH = 5000
_CACHE_KIB = 32768

COLUMNS: dict[str, tuple[str, ...]] = {
    "empresa": ("cod_empresa", "codigo_empresa", "filial"),
    "cliente": ("cod_cliente", "codigo_cliente", "cliente_codigo"),
    "documento": ("numero", "fatura", "num_documento", "nr_documento", "numero_documento", "doc"),
    "vencimento": ("dt_vencimento", "data_vencimento", "vcto", "venc"),
    "saldo": ("valor_aberto", "saldo_aberto", "valor_em_aberto", "saldo_devedor"),
    "parcela": ("prestacao", "num_parcela"),
    "nome": ("nome_cliente", "razao_social", "cliente_nome"),
    "cpf_cnpj": ("cpf", "cnpj", "cnpj_cpf", "documento_cliente"),
    "email": ("emails", "e_mail", "email_cliente"),
    "grupo": ("grupo_pessoas", "grupo_de_pessoas", "grupo_cliente", "cod_grupo"),
    "empresa_nome": ("nome_empresa", "razao_social_empresa"),
    "empresa_cnpj": ("cnpj_empresa",),
    "conta": ("cod_conta", "codigo_conta", "conta_codigo"),
    "emissao": ("dt_emissao", "data_emissao"),
    "valor": ("valor_original", "valor_fatura", "valor_documento"),
    "linha_digitavel": ("linha_digitável", "codigo_barras"),
    "pix": ("pix_copia_e_cola", "pix_copia_cola", "pix_copiaecola"),
    "link_pagamento": ("link", "url_pagamento", "link_de_pagamento"),
}
REQUIRED = ("empresa", "cliente", "documento", "vencimento", "saldo")
# The fields a row is read into, in order, and the longest text each may hold (the schema's sizes).
_FIELDS = ("empresa", "cliente", "documento", "vencimento", "saldo", "parcela", "conta", "emissao",
           "valor", "linha_digitavel", "pix", "link_pagamento",
           "nome", "cpf_cnpj", "email", "grupo", "empresa_nome", "empresa_cnpj")
_LIMITS = (40, 40, 60, 40, 40, 20, 40, 40, 40, 80, 10_000, 2_000, 200, 40, 2_000, 40, 200, 40)
_PARTY_LIMITS, _FIRM_LIMITS = _LIMITS[12:16], _LIMITS[16:]


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


def _state(known: dict[str, str], **values: str) -> None:
    """Record the master data a row states; an empty cell never erases what another row said."""
    for key, value in values.items():
        if value:
            known[key] = value


class _RowParser:
    """Validates rows into staging tuples.

    The common case (a valid row) takes a fast path: one itemgetter, cached dates and master data
    compared with the customer's previous row; a row that fails it is re-checked by ``_errors``,
    which names every problem. Caches are bounded so memory does not grow with the file.
    """

    def __init__(self, columns: dict[str, int], header: list[str], report: ImportReport):
        self.col = columns
        self.header = header
        self.width = len(header)
        # A missing optional column reads the empty cell appended to every row (index = width).
        self.pick = itemgetter(*(columns.get(name, self.width) for name in _FIELDS))
        # Only a file without some optional column needs that extra cell (a copy of each row).
        self.padded = any(name not in columns for name in _FIELDS)
        self.report = report
        self.dates: dict[str, str] = {}
        self.customers: dict[str, dict[str, str]] = {}
        self.customer_rows: dict[str, tuple[str, ...]] = {}
        self.companies: dict[str, dict[str, str]] = {}
        self.company_rows: dict[str, tuple[str, ...]] = {}
        self.accounts: set[tuple[str, str]] = set()
        self.checked_tax_ids: set[str] = set()
        self.checked_emails: set[str] = set()

    def parse(self, line: int, cells: list[str]) -> tuple | list[RowError]:
        """A staging tuple for a valid row, else the row's errors."""
        if len(cells) != self.width or self.padded:
            if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
                return self._errors(line, cells)
            values = tuple(map(str.strip, self.pick(
                cells[:self.width] + [""] * (self.width + 1 - min(len(cells), self.width)))))
        else:
            values = tuple(map(str.strip, self.pick(cells)))
        (company, customer, document, due, balance, installment, account, issued, amount,
         digitable, pix, link) = invoice = values[:12]
        # Master data equal to the customer's (company's) previous row passed these checks then.
        party = values[12:16]
        firm = values[16:]
        new_party = self.customer_rows.get(customer) != party
        new_firm = self.company_rows.get(company) != firm
        try:
            if not (company and customer and document and due and balance) \
                    or any(map(gt, map(len, invoice), _LIMITS)) \
                    or (new_party and any(map(gt, map(len, party), _PARTY_LIMITS))) \
                    or (new_firm and any(map(gt, map(len, firm), _FIRM_LIMITS))):
                raise ValueError
            due = self.dates.get(due) or self._date(due)
            # Most open items are not paid in part: saldo repeats valor, parse it once.
            amount = parse_cents(amount) if amount else None
            balance = amount if balance == values[8] else parse_cents(balance)
            if issued:
                issued = self.dates.get(issued) or self._date(issued)
            else:
                issued = None
            if balance < 0 or (amount is not None and amount < 0):
                raise ValueError
        except ValueError:
            return self._errors(line, cells)
        if new_party:
            self.customer_rows[customer] = party
            self._note_customer(line, customer, *party)
        if new_firm:
            self.company_rows[company] = firm
            _state(self.companies.setdefault(company, {}), name=firm[0], tax_id=firm[1])
        self.accounts.add((company, account))
        return (line, company, document, installment, customer, account, due, balance, issued,
                amount, digitable, pix, link)

    def _date(self, value: str) -> str:
        iso = self.dates.get(value)
        if iso is None:
            iso = parse_date(value).isoformat()
            if len(self.dates) < 100_000:
                self.dates[value] = iso
        return iso

    def _note_customer(self, line: int, customer: str, name: str, tax_id: str, emails: str,
                       group: str) -> None:
        """Record the master data a row states, warning once per doubtful CPF/CNPJ or address."""
        addresses = split_emails(emails)
        _state(self.customers.setdefault(customer, {}),
               name=name, tax_id=tax_id, emails=", ".join(addresses), group=group)
        if tax_id and tax_id not in self.checked_tax_ids:
            self.checked_tax_ids.add(tax_id)
            if not is_valid_tax_id(tax_id):
                self.report.warn(RowError(line, self.header[self.col["cpf_cnpj"]], tax_id,
                                          "CPF/CNPJ com dígitos verificadores inválidos "
                                          "(importado assim mesmo)"))
        for address in addresses:
            if address not in self.checked_emails:
                self.checked_emails.add(address)
                if not is_valid_email(address):
                    self.report.warn(RowError(line, self.header[self.col["email"]], address,
                                              "e-mail inválido (importado; o cliente não "
                                              "receberá nesse endereço)"))

    def _errors(self, line: int, cells: list[str]) -> list[RowError]:
        """Every problem of a row the fast path refused, each naming its column and value."""
        errors: list[RowError] = []

        def get(name: str) -> str:
            i = self.col.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        def bad(name: str, value: str, message: str) -> None:
            column = self.header[self.col[name]] if name in self.col else name
            errors.append(RowError(line, column, value, message))

        if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
            errors.append(RowError(line, "", "", f"a linha tem {len(cells)} campos e o cabeçalho "
                                                 f"{self.width}"))
        for name in ("empresa", "cliente", "documento", "vencimento", "saldo"):
            if not get(name):
                bad(name, "", "campo obrigatório vazio")
        for name in ("vencimento", "emissao"):
            if get(name):
                try:
                    parse_date(get(name))
                except ValueError:
                    bad(name, get(name), "data inválida (use dd/mm/aaaa ou aaaa-mm-dd)")
        for name in ("saldo", "valor"):
            if get(name):
                try:
                    if parse_cents(get(name)) < 0:
                        bad(name, get(name), f"{name} negativo")
                except ValueError:
                    bad(name, get(name), "valor inválido (use 1.234,56, 1234,56 ou 1234.56)")
        for name, limit in zip(_FIELDS, _LIMITS):
            if len(get(name)) > limit:
                bad(name, get(name)[:limit] + "…", f"texto longo demais (máximo {limit} caracteres)")
        return errors


def import_invoices(session: Session, stream: BinaryIO,
                    progress: Callable[[int, int], None] | None = None,
                    now: datetime | None = None) -> ImportReport:
    """Import one ERP export; commit it whole, or raise FileRejected leaving the database as it was.

    ``progress(bytes_done, bytes_total)`` is called now and then for large files.
    ``now`` stamps items settled by this import (default: the current time).
    """
    source = CsvSource(stream)
    report = ImportReport(encoding=source.encoding, delimiter=source.delimiter)
    columns, errors, unknown = source.map_columns(COLUMNS, REQUIRED)
    if errors:
        raise FileRejected(errors)
    if unknown:
        report.warn(RowError(1, ", ".join(unknown), "", "colunas desconhecidas ignoradas"))

    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # a larger page cache for this connection while it works
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
    stage = Stage(conn)
    try:
        parser = _RowParser(columns, source.header, report)
        with gc_paused():  # rows, tuples and strings only: nothing here forms a cycle
            errors = _stage_rows(source, parser, stage, report, progress)
        if not errors and report.rows == 0:
            raise FileRejected([RowError(2, "", "", "o arquivo não tem linhas de dados")])
        if not errors:
            errors = stage.duplicates(source.header[columns["documento"]])
        if errors:
            raise FileRejected(errors[:MAX_ERRORS], truncated=len(errors) >= MAX_ERRORS)
        merge(conn, stage, parser.companies, parser.customers, parser.accounts, set(columns),
              now or datetime.now(), report)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        stage.drop()
        if sqlite:
            _restore_cache_size(conn)
    return report


def _restore_cache_size(conn: Connection) -> None:
    """Give the pooled connection its default page cache back (best effort)."""
    try:
        conn.exec_driver_sql("PRAGMA cache_size = -2000")
    except Exception:  # a connection that failed is discarded by the pool anyway
        pass


def _stage_rows(source: CsvSource, parser: _RowParser, stage: Stage, report: ImportReport,
                progress: Callable[[int, int], None] | None) -> list[RowError]:
    """Stream rows into the staging table; stop writing at the first error, reading at 100."""
    errors: list[RowError] = []
    batch: list[tuple] = []
    parse, append, rows = parser.parse, batch.append, 0
    for line, cells in source.rows():
        parsed = parse(line, cells)
        if type(parsed) is list:
            errors.extend(parsed)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        rows += 1
        if errors:
            continue
        append(parsed)
        if len(batch) >= _BATCH:
            stage.insert(batch)
            batch.clear()
            if progress:
                progress(source.position(), source.size)
    report.rows += rows
    if batch and not errors:
        stage.insert(batch)
    if progress and not errors:
        progress(source.size, source.size)
    return errors
