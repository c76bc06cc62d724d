"""Import the ERP's open-items CSV: a snapshot of the open items of the companies it contains.

All or nothing: rows are validated while they stream into a temporary staging table; only a
file without errors is merged, with set-based SQL, in the same transaction. Dunning settings are
never touched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.formatting import parse_cents, parse_date
from dunning.taxid import is_valid_tax_id

MAX_ERRORS = 100
_BATCH = 5000

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
# Invoice fields that a present column sets exactly (an empty cell clears them).
_INVOICE_OPTIONAL = {"emissao": "issue_date", "valor": "amount_cents",
                     "linha_digitavel": "digitable_line", "pix": "pix_code",
                     "link_pagamento": "payment_link"}
_EMAIL_SPLIT = re.compile(r"[,;\s]+")


@dataclass
class ImportReport:
    """What an accepted import changed."""

    rows: int = 0
    invoices_new: int = 0
    invoices_updated: int = 0
    invoices_settled: int = 0
    customers_new: int = 0
    customers_updated: int = 0
    companies_new: int = 0
    encoding: str = ""
    delimiter: str = ""
    warnings: list[RowError] = field(default_factory=list)
    warnings_total: int = 0

    def warn(self, warning: RowError) -> None:
        """Keep the first MAX_ERRORS warnings and count them all."""
        self.warnings_total += 1
        if len(self.warnings) < MAX_ERRORS:
            self.warnings.append(warning)


@dataclass
class _Party:
    """Master data of a customer or company as the file last states it (empty cells ignored)."""

    values: dict[str, str] = field(default_factory=dict)

    def update(self, **values: str) -> None:
        for key, value in values.items():
            if value:
                self.values[key] = value


def split_emails(cell: str) -> list[str]:
    """Addresses in a cell separated by ``,``, ``;`` or spaces, without repeats."""
    seen: dict[str, None] = {}
    for address in _EMAIL_SPLIT.split(cell.strip()):
        if address and address.lower() not in {s.lower() for s in seen}:
            seen[address] = None
    return list(seen)


def is_valid_email(address: str) -> bool:
    """Syntax check only (no DNS look-up): the station's PC may be offline."""
    try:
        validate_email(address, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


class _RowParser:
    """Validates rows into staging tuples; caches dates, which repeat a lot in a large file."""

    def __init__(self, columns: dict[str, int], header: list[str], report: ImportReport):
        self.col = columns
        self.header = header
        self.report = report
        self.dates: dict[str, str] = {}
        self.customers: dict[str, _Party] = {}
        self.companies: dict[str, _Party] = {}
        self.accounts: set[tuple[str, str]] = set()
        self.checked_tax_ids: set[str] = set()
        self.checked_emails: set[str] = set()

    def _cell(self, cells: list[str], name: str) -> str:
        i = self.col.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def _date(self, value: str) -> str:
        iso = self.dates.get(value)
        if iso is None:
            iso = parse_date(value).isoformat()
            if len(self.dates) < 100_000:
                self.dates[value] = iso
        return iso

    def parse(self, line: int, cells: list[str]) -> tuple | list[RowError]:
        """A staging tuple for a valid row, else the row's errors."""
        errors: list[RowError] = []

        def bad(name: str, value: str, message: str) -> None:
            errors.append(RowError(line, self.header[self.col[name]] if name in self.col else name,
                                   value, message))

        if len(cells) > len(self.header) and any(c.strip() for c in cells[len(self.header):]):
            errors.append(RowError(line, "", "", f"a linha tem {len(cells)} campos e o cabeçalho "
                                                 f"{len(self.header)}"))
        get = self._cell
        for name in ("empresa", "cliente", "documento"):
            if not get(cells, name):
                bad(name, "", "campo obrigatório vazio")
        due = self._parsed(get(cells, "vencimento"), "vencimento", self._date, bad, required=True)
        balance = self._parsed(get(cells, "saldo"), "saldo", parse_cents, bad, required=True)
        if isinstance(balance, int) and balance < 0:
            bad("saldo", get(cells, "saldo"), "saldo negativo")
        issued = self._parsed(get(cells, "emissao"), "emissao", self._date, bad)
        amount = self._parsed(get(cells, "valor"), "valor", parse_cents, bad)
        if isinstance(amount, int) and amount < 0:
            bad("valor", get(cells, "valor"), "valor negativo")
        if errors:
            return errors

        company, customer, account = get(cells, "empresa"), get(cells, "cliente"), get(cells, "conta")
        self._note_parties(line, cells, company, customer)
        self.accounts.add((company, account))
        return (line, company, get(cells, "documento"), get(cells, "parcela"), customer, account,
                due, balance, issued, amount, get(cells, "linha_digitavel"), get(cells, "pix"),
                get(cells, "link_pagamento"))

    @staticmethod
    def _parsed(value: str, name: str, parser: Callable, bad: Callable, required: bool = False):
        if not value:
            if required:
                bad(name, "", "campo obrigatório vazio")
            return None
        try:
            return parser(value)
        except ValueError:
            hint = "data inválida (use dd/mm/aaaa ou aaaa-mm-dd)" if parser is not parse_cents \
                else "valor inválido (use 1.234,56, 1234,56 ou 1234.56)"
            bad(name, value, hint)
            return None

    def _note_parties(self, line: int, cells: list[str], company: str, customer: str) -> None:
        get = self._cell
        tax_id, emails = get(cells, "cpf_cnpj"), get(cells, "email")
        addresses = split_emails(emails)
        self.customers.setdefault(customer, _Party()).update(
            name=get(cells, "nome"), tax_id=tax_id, emails=", ".join(addresses), group=get(cells, "grupo"))
        self.companies.setdefault(company, _Party()).update(
            name=get(cells, "empresa_nome"), tax_id=get(cells, "empresa_cnpj"))
        if tax_id and tax_id not in self.checked_tax_ids:
            self.checked_tax_ids.add(tax_id)
            if not is_valid_tax_id(tax_id):
                self.report.warn(RowError(line, self.header[self.col["cpf_cnpj"]], tax_id,
                                          "CPF/CNPJ com dígitos verificadores inválidos (importado assim mesmo)"))
        for address in addresses:
            if address not in self.checked_emails:
                self.checked_emails.add(address)
                if not is_valid_email(address):
                    self.report.warn(RowError(line, self.header[self.col["email"]], address,
                                              "e-mail inválido (importado; o cliente não receberá nesse endereço)"))


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
    stage = _Stage(conn)
    try:
        parser = _RowParser(columns, source.header, report)
        errors = _stage_rows(source, parser, stage, report, progress)
        if not errors:
            errors = stage.duplicates(source.header[columns["documento"]])
        if errors:
            raise FileRejected(errors[:MAX_ERRORS], truncated=len(errors) >= MAX_ERRORS)
        if report.rows == 0:
            raise FileRejected([RowError(2, "", "", "o arquivo não tem linhas de dados")])
        _merge(conn, stage, parser, columns, report, now or datetime.now())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        stage.drop()
    return report


def _stage_rows(source: CsvSource, parser: _RowParser, stage: _Stage, report: ImportReport,
                progress: Callable[[int, int], None] | None) -> list[RowError]:
    """Stream rows into the staging table; stop writing at the first error, reading at 100."""
    errors: list[RowError] = []
    batch: list[tuple] = []
    for line, cells in source.rows():
        parsed = parser.parse(line, cells)
        if isinstance(parsed, list):
            errors.extend(parsed)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        report.rows += 1
        if errors:
            continue
        batch.append(parsed)
        if len(batch) >= _BATCH:
            stage.insert(batch)
            batch.clear()
            if progress:
                progress(source.position(), source.size)
    if batch and not errors:
        stage.insert(batch)
    if progress:
        progress(source.size, source.size)
    return errors


class _Stage:
    """A temporary table holding the validated rows of one import, on the import's connection."""

    COLS = ("line", "empresa", "documento", "parcela", "cliente", "conta", "vencimento", "saldo",
            "emissao", "valor", "linha_digitavel", "pix", "link_pagamento")

    def __init__(self, conn: Connection):
        self.conn = conn
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql("DROP TABLE IF EXISTS import_stage")
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE import_stage (line INTEGER, empresa TEXT, documento TEXT, "
            "parcela TEXT, cliente TEXT, conta TEXT, vencimento TEXT, saldo INTEGER, emissao TEXT, "
            "valor INTEGER, linha_digitavel TEXT, pix TEXT, link_pagamento TEXT)")

    def insert(self, rows: list[tuple]) -> None:
        marks = ", ".join([self.mark] * len(self.COLS))
        self.conn.exec_driver_sql(
            f"INSERT INTO import_stage ({', '.join(self.COLS)}) VALUES ({marks})", rows)

    def duplicates(self, column: str) -> list[RowError]:
        """Errors for invoices (empresa, documento, parcela) that appear twice in the file."""
        self.conn.exec_driver_sql(
            "CREATE INDEX import_stage_key ON import_stage (empresa, documento, parcela)")
        rows = self.conn.exec_driver_sql(
            "SELECT s.line, s.documento, s.parcela, "
            " (SELECT min(f.line) FROM import_stage f WHERE f.empresa = s.empresa "
            "   AND f.documento = s.documento AND f.parcela = s.parcela) AS first_line "
            "FROM import_stage s WHERE EXISTS (SELECT 1 FROM import_stage o "
            " WHERE o.empresa = s.empresa AND o.documento = s.documento "
            " AND o.parcela = s.parcela AND o.line < s.line) ORDER BY s.line LIMIT 100").all()
        return [RowError(line, column, doc + (f" parcela {inst}" if inst else ""),
                         f"fatura repetida no arquivo (já aparece na linha {first})")
                for line, doc, inst, first in rows]

    def drop(self) -> None:
        try:
            self.conn.exec_driver_sql("DROP TABLE IF EXISTS import_stage")
        except Exception:  # the connection may be gone after a failure; the table dies with it
            pass


def _merge(conn: Connection, stage: _Stage, parser: _RowParser, columns: dict[str, int],
           report: ImportReport, now: datetime) -> None:
    """Write companies, accounts, groups, customers and invoices from the staged rows."""
    mark = stage.mark
    company_ids = _merge_companies(conn, parser.companies, report, mark)
    _merge_accounts(conn, parser.accounts, company_ids, mark)
    group_ids = _merge_groups(conn, {p.values["group"] for p in parser.customers.values()
                                     if "group" in p.values}, mark)
    _merge_customers(conn, parser.customers, group_ids, report, mark)

    stamp = now.isoformat(sep=" ")
    before = conn.exec_driver_sql("SELECT count(*) FROM invoice").scalar_one()
    present = [col for name, col in _INVOICE_OPTIONAL.items() if name in columns]
    stage_expr = {"issue_date": "s.emissao", "amount_cents": "s.valor",
                  "digitable_line": "coalesce(s.linha_digitavel, '')", "pix_code": "coalesce(s.pix, '')",
                  "payment_link": "coalesce(s.link_pagamento, '')"}
    compared = ["customer_id", "account_id", "due_date", "balance_cents", *present]
    changed = " OR ".join(f"invoice.{c} IS DISTINCT FROM excluded.{c}" for c in compared)
    sets = ", ".join(f"{c} = excluded.{c}" for c in compared)
    upsert = conn.exec_driver_sql(
        "INSERT INTO invoice (company_id, document, installment, customer_id, account_id, due_date, "
        "balance_cents, issue_date, amount_cents, digitable_line, pix_code, payment_link, settled_at) "
        f"SELECT c.id, s.documento, s.parcela, cu.id, a.id, s.vencimento, s.saldo, "
        f"{stage_expr['issue_date']}, {stage_expr['amount_cents']}, {stage_expr['digitable_line']}, "
        f"{stage_expr['pix_code']}, {stage_expr['payment_link']}, "
        f"CASE WHEN s.saldo = 0 THEN {mark} END "
        "FROM import_stage s JOIN company c ON c.code = s.empresa "
        "JOIN customer cu ON cu.code = s.cliente "
        "JOIN account a ON a.company_id = c.id AND a.code = s.conta WHERE true "
        "ON CONFLICT (company_id, document, installment) DO UPDATE SET "
        f"{sets}, settled_at = CASE WHEN excluded.balance_cents = 0 "
        "THEN coalesce(invoice.settled_at, excluded.settled_at) END "
        f"WHERE {changed}", (stamp,))
    after = conn.exec_driver_sql("SELECT count(*) FROM invoice").scalar_one()
    report.invoices_new = after - before
    report.invoices_updated = upsert.rowcount - report.invoices_new

    ids = ", ".join(str(company_ids[code]) for code in parser.companies)
    settled = conn.exec_driver_sql(
        f"UPDATE invoice SET balance_cents = 0, settled_at = {mark} "
        f"WHERE company_id IN ({ids}) AND balance_cents > 0 AND NOT EXISTS ("
        " SELECT 1 FROM import_stage s WHERE s.empresa = "
        "  (SELECT code FROM company WHERE company.id = invoice.company_id) "
        " AND s.documento = invoice.document AND s.parcela = invoice.installment)", (stamp,))
    report.invoices_settled = settled.rowcount


def _merge_companies(conn: Connection, companies: dict[str, _Party], report: ImportReport,
                     mark: str) -> dict[str, int]:
    """Create missing companies, update names/CNPJ the file states; return code -> id."""
    existing = {code: (cid, name, tax) for cid, code, name, tax in
                conn.exec_driver_sql("SELECT id, code, name, tax_id FROM company")}
    for code, party in companies.items():
        name, tax = party.values.get("name"), party.values.get("tax_id")
        if code not in existing:
            conn.exec_driver_sql(
                f"INSERT INTO company (code, name, tax_id, address, phone, email) "
                f"VALUES ({mark}, {mark}, {mark}, '', '', '')", (code, name or "", tax or ""))
            report.companies_new += 1
        else:
            cid, old_name, old_tax = existing[code]
            if (name and name != old_name) or (tax and tax != old_tax):
                conn.exec_driver_sql(f"UPDATE company SET name = {mark}, tax_id = {mark} WHERE id = {mark}",
                                     (name or old_name, tax or old_tax, cid))
    return {code: cid for cid, code in conn.exec_driver_sql("SELECT id, code FROM company")}


def _merge_accounts(conn: Connection, accounts: set[tuple[str, str]], company_ids: dict[str, int],
                    mark: str) -> None:
    """Create the (empresa, conta) pairs the file uses that the station does not know yet."""
    existing = set(conn.exec_driver_sql("SELECT company_id, code FROM account").all())
    missing = {(company_ids[e], c) for e, c in accounts} - existing
    if missing:
        conn.exec_driver_sql(f"INSERT INTO account (company_id, code, name) VALUES ({mark}, {mark}, '')",
                             sorted(missing))


def _merge_groups(conn: Connection, codes: set[str], mark: str) -> dict[str, int]:
    """Create missing customer groups (dunning settings off); return code -> id."""
    existing = {code for (code,) in conn.exec_driver_sql("SELECT code FROM customer_group")}
    missing = sorted(codes - existing)
    if missing:
        conn.exec_driver_sql(
            f"INSERT INTO customer_group (code, name, send_email) VALUES ({mark}, {mark}, {mark})",
            [(code, code, False) for code in missing])
    return {code: gid for gid, code in conn.exec_driver_sql("SELECT id, code FROM customer_group")}


def _merge_customers(conn: Connection, customers: dict[str, _Party], group_ids: dict[str, int],
                     report: ImportReport, mark: str) -> None:
    """Create or update customers' master data; their dunning settings are left alone."""
    existing = {row[1]: row for row in conn.exec_driver_sql(
        "SELECT id, code, name, tax_id, email_addresses, group_id FROM customer")}
    inserts, updates = [], []
    for code, party in customers.items():
        v = party.values
        group_id = group_ids[v["group"]] if "group" in v else None
        if code not in existing:
            inserts.append((code, v.get("name", ""), v.get("tax_id", ""), v.get("emails", ""),
                            group_id, "herdar"))
            continue
        cid, _, name, tax, emails, old_group = existing[code]
        new = (v.get("name") or name, v.get("tax_id") or tax, v.get("emails") or emails,
               group_id if group_id is not None else old_group)
        if new != (name, tax, emails, old_group):
            updates.append((*new, cid))
    if inserts:
        conn.exec_driver_sql(
            "INSERT INTO customer (code, name, tax_id, email_addresses, group_id, send_email) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark})", inserts)
    if updates:
        conn.exec_driver_sql(
            f"UPDATE customer SET name = {mark}, tax_id = {mark}, email_addresses = {mark}, "
            f"group_id = {mark} WHERE id = {mark}", updates)
    report.customers_new, report.customers_updated = len(inserts), len(updates)
