"""Applying a validated ERP export to the database: the staging table and the set-based merge.

``dunning.importing`` parses and validates; this module only writes, inside the caller's
transaction, so a failure anywhere leaves the database as it was.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dunning.csvfile import RowError
from dunning.text import fold
from models.party import SendEmail

# Invoice fields that a present column sets exactly (an empty cell clears them).
_INVOICE_OPTIONAL = {"emissao": "issue_date", "valor": "amount_cents",
                     "linha_digitavel": "digitable_line", "pix": "pix_code",
                     "link_pagamento": "payment_link"}


@dataclass
class MergeCounts:
    """What a merge changed, for the import report."""

    invoices_new: int = 0
    invoices_updated: int = 0
    invoices_settled: int = 0
    customers_new: int = 0
    customers_updated: int = 0
    companies_new: int = 0


class Stage:
    """A temporary table holding the validated rows of one import, on the import's connection."""

    COLS = ("line", "empresa", "documento", "parcela", "cliente", "conta", "vencimento", "saldo",
            "emissao", "valor", "linha_digitavel", "pix", "link_pagamento")

    def __init__(self, conn: Connection):
        """Create the (empty) staging table; it lives as long as the connection or ``drop()``."""
        self.conn = conn
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.rows = 0
        conn.exec_driver_sql("DROP TABLE IF EXISTS import_stage")
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE import_stage (line INTEGER, empresa TEXT, documento TEXT, "
            "parcela TEXT, cliente TEXT, conta TEXT, vencimento TEXT, saldo INTEGER, emissao TEXT, "
            "valor INTEGER, linha_digitavel TEXT, pix TEXT, link_pagamento TEXT)")
        self._insert = (f"INSERT INTO import_stage ({', '.join(self.COLS)}) "
                        f"VALUES ({', '.join([self.mark] * len(self.COLS))})")

    def insert(self, rows: list[tuple]) -> None:
        """Append validated rows (tuples in ``COLS`` order)."""
        self.conn.exec_driver_sql(self._insert, rows)
        self.rows += len(rows)

    def duplicates(self, column: str) -> list[RowError]:
        """Errors for invoices (empresa, documento, parcela) that appear twice in the file."""
        # The usual case, no repeats, costs only the (needed anyway) index, built as UNIQUE.
        try:
            with self.conn.begin_nested():
                self.conn.exec_driver_sql(
                    "CREATE UNIQUE INDEX import_stage_key ON import_stage (empresa, documento, parcela)")
            return []
        except IntegrityError:
            pass
        self.conn.exec_driver_sql(
            "CREATE INDEX import_stage_key ON import_stage (empresa, documento, parcela)")
        repeated = self.conn.exec_driver_sql(
            "SELECT empresa, documento, parcela, min(line) FROM import_stage "
            "GROUP BY empresa, documento, parcela HAVING count(*) > 1 LIMIT 100").all()
        errors = []
        for company, document, installment, first in repeated:
            lines = self.conn.exec_driver_sql(
                f"SELECT line FROM import_stage WHERE empresa = {self.mark} "
                f"AND documento = {self.mark} AND parcela = {self.mark} AND line > {self.mark} "
                "ORDER BY line", (company, document, installment, first)).scalars()
            value = document + (f" parcela {installment}" if installment else "")
            errors += [RowError(line, column, value, f"fatura repetida no arquivo (já aparece na "
                                                     f"linha {first})") for line in lines]
        return sorted(errors, key=lambda e: e.line)[:100]

    def drop(self) -> None:
        """Remove the table (best effort: after a failure the connection may be gone)."""
        try:
            self.conn.exec_driver_sql("DROP TABLE IF EXISTS import_stage")
        except Exception:  # the table dies with the connection anyway
            pass


def merge(conn: Connection, stage: Stage, companies: dict[str, dict[str, str]],
          customers: dict[str, dict[str, str]], accounts: set[tuple[str, str]],
          columns: set[str], now: datetime, counts: MergeCounts) -> None:
    """Write companies, accounts, groups, customers and invoices from the staged rows.

    ``companies``/``customers`` map codes to the master data the file states (empty cells left
    out); ``columns`` are the optional invoice columns the file has; ``counts`` is filled in.
    """
    mark = stage.mark
    company_ids = _merge_companies(conn, companies, counts, mark)
    _merge_accounts(conn, accounts, company_ids, mark)
    group_ids = _merge_groups(conn, {v["group"] for v in customers.values() if "group" in v}, mark)
    _merge_customers(conn, customers, group_ids, counts, mark)
    stamp = now.isoformat(sep=" ")
    # Items this import inserts are in the file by definition: only older ones can be missing.
    last_old_id = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM invoice").scalar_one()
    _merge_invoices(conn, stage, columns, stamp, counts)
    ids = ", ".join(str(company_ids[code]) for code in companies)
    settled = conn.exec_driver_sql(
        f"UPDATE invoice SET balance_cents = 0, settled_at = {mark} "
        f"WHERE id <= {mark} AND +company_id IN ({ids}) AND balance_cents > 0 AND NOT EXISTS ("
        " SELECT 1 FROM import_stage s WHERE s.empresa = "
        "  (SELECT code FROM company WHERE company.id = invoice.company_id) "
        " AND s.documento = invoice.document AND s.parcela = invoice.installment)",
        (stamp, last_old_id))
    counts.invoices_settled = settled.rowcount


def _merge_invoices(conn: Connection, stage: Stage, columns: set[str], stamp: str,
                    counts: MergeCounts) -> None:
    """Insert new invoices and update changed ones in one statement."""
    before = conn.exec_driver_sql("SELECT count(*) FROM invoice").scalar_one()
    present = [col for name, col in _INVOICE_OPTIONAL.items() if name in columns]
    compared = ["customer_id", "account_id", "due_date", "balance_cents", *present]
    changed = " OR ".join(f"invoice.{c} IS DISTINCT FROM excluded.{c}" for c in compared)
    sets = ", ".join(f"{c} = excluded.{c}" for c in compared)
    # A first load (more rows than the table holds) builds the secondary indexes once at the
    # end instead of updating them row by row: several times faster on a large file.
    rebuilt = _drop_secondary_indexes(conn) if stage.rows > before else []
    upsert = conn.exec_driver_sql(
        "INSERT INTO invoice (company_id, document, installment, customer_id, account_id, due_date, "
        "balance_cents, issue_date, amount_cents, digitable_line, pix_code, payment_link, settled_at) "
        "SELECT c.id, s.documento, s.parcela, cu.id, a.id, s.vencimento, s.saldo, s.emissao, s.valor, "
        "s.linha_digitavel, s.pix, s.link_pagamento, "
        f"CASE WHEN s.saldo = 0 THEN {stage.mark} END "
        "FROM import_stage s JOIN company c ON c.code = s.empresa "
        "JOIN customer cu ON cu.code = s.cliente "
        "JOIN account a ON a.company_id = c.id AND a.code = s.conta WHERE true "
        "ON CONFLICT (company_id, document, installment) DO UPDATE SET "
        f"{sets}, settled_at = CASE WHEN excluded.balance_cents = 0 "
        "THEN coalesce(invoice.settled_at, excluded.settled_at) END "
        f"WHERE {changed}", (stamp,))
    for sql in rebuilt:
        conn.exec_driver_sql(sql)
    after = conn.exec_driver_sql("SELECT count(*) FROM invoice").scalar_one()
    counts.invoices_new = after - before
    counts.invoices_updated = upsert.rowcount - counts.invoices_new


def _drop_secondary_indexes(conn: Connection) -> list[str]:
    """On SQLite, drop the invoice table's non-unique indexes; return the SQL that recreates them.

    SQLite's DDL is transactional, so a rejected import leaves them in place.
    """
    if conn.dialect.name != "sqlite":
        return []
    indexes = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'invoice' "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'").all()
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]


def _merge_companies(conn: Connection, companies: dict[str, dict[str, str]], counts: MergeCounts,
                     mark: str) -> dict[str, int]:
    """Create missing companies, update names/CNPJ the file states; return code -> id."""
    existing = {code: (cid, name, tax) for cid, code, name, tax in
                conn.exec_driver_sql("SELECT id, code, name, tax_id FROM company")}
    for code, values in companies.items():
        name, tax = values.get("name"), values.get("tax_id")
        if code not in existing:
            conn.exec_driver_sql(
                f"INSERT INTO company (code, name, tax_id, address, phone, email) "
                f"VALUES ({mark}, {mark}, {mark}, '', '', '')", (code, name or "", tax or ""))
            counts.companies_new += 1
        else:
            cid, old_name, old_tax = existing[code]
            if (name and name != old_name) or (tax and tax != old_tax):
                conn.exec_driver_sql(
                    f"UPDATE company SET name = {mark}, tax_id = {mark} WHERE id = {mark}",
                    (name or old_name, tax or old_tax, cid))
    return {code: cid for cid, code in conn.exec_driver_sql("SELECT id, code FROM company")}


def _merge_accounts(conn: Connection, accounts: set[tuple[str, str]], company_ids: dict[str, int],
                    mark: str) -> None:
    """Create the (empresa, conta) pairs the file uses that the station does not know yet."""
    existing = set(conn.exec_driver_sql("SELECT company_id, code FROM account").all())
    missing = {(company_ids[e], c) for e, c in accounts} - existing
    if missing:
        conn.exec_driver_sql(
            f"INSERT INTO account (company_id, code, name) VALUES ({mark}, {mark}, '')",
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


def _merge_customers(conn: Connection, customers: dict[str, dict[str, str]],
                     group_ids: dict[str, int], counts: MergeCounts, mark: str) -> None:
    """Create or update customers' master data; their dunning settings are left alone."""
    existing = {row[1]: row for row in conn.exec_driver_sql(
        "SELECT id, code, name, tax_id, email_addresses, group_id FROM customer")}
    inserts, updates = [], []
    for code, v in customers.items():
        group_id = group_ids[v["group"]] if "group" in v else None
        if code not in existing:
            inserts.append((code, v.get("name", ""), fold(v.get("name", "")), v.get("tax_id", ""),
                            v.get("emails", ""), group_id, SendEmail.INHERIT.value))
            continue
        cid, _, name, tax, emails, old_group = existing[code]
        new = (v.get("name") or name, v.get("tax_id") or tax, v.get("emails") or emails,
               group_id if group_id is not None else old_group)
        if new != (name, tax, emails, old_group):
            updates.append((new[0], fold(new[0]), *new[1:], cid))
    if inserts:
        conn.exec_driver_sql(
            "INSERT INTO customer (code, name, name_folded, tax_id, email_addresses, group_id, "
            f"send_email) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark})", inserts)
    if updates:
        conn.exec_driver_sql(
            f"UPDATE customer SET name = {mark}, name_folded = {mark}, tax_id = {mark}, "
            f"email_addresses = {mark}, "
            f"group_id = {mark} WHERE id = {mark}", updates)
    counts.customers_new, counts.customers_updated = len(inserts), len(updates)
