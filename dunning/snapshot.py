"""Applying a parsed ERP export to the database, batch by batch, inside the caller's transaction.

``dunning.parsing`` reads and validates; this module only writes, so a failure anywhere (or a
rejected file) is undone by the caller's rollback. Invoices go straight into their table with
one upsert per batch; on a re-import the file's invoice keys are remembered as 64-bit hashes
(8 bytes a row, in sorted arrays: ``HashedKeys``) to find repeated invoices and the items
missing from the file.
A hash can collide: whenever the hashes say something they cannot prove (a repeat, or a count
that does not add up), ``Retry`` asks the caller to run the import again with the exact keys.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from itertools import islice
from operator import eq, itemgetter

from sqlalchemy import Connection

from dunning.csvfile import RowError
from dunning.parsing import MAX_ERRORS, ROW_FIELDS, Batch, Ids, Summary, check_master_data
from dunning.text import fold
from models.party import SendEmail

# Invoice fields that a present column sets exactly (an empty cell clears them).
_INVOICE_OPTIONAL = {"emissao": "issue_date", "valor": "amount_cents",
                     "linha_digitavel": "digitable_line", "pix": "pix_code",
                     "link_pagamento": "payment_link"}


_SORT_CACHE_KIB = 16384
_IN_CHUNK = 500  # ids per "IN (...)" list


class HashedKeys:
    """Many 64-bit hashes in little memory: 8 bytes each, in 256 arrays by their top byte.

    ``add`` them, ``sort`` once (False if one repeats), then ask whether it ``holds`` a hash.
    """

    def __init__(self):
        self.unsorted = array("q")
        self.buckets: list[array] = []

    def add(self, hashes) -> None:
        self.unsorted.extend(hashes)

    def sort(self) -> bool:
        """Sort the hashes by bucket (a list of a few thousand ints at a time); True when all
        are different."""
        buckets = [array("q") for _ in range(256)]
        for value in self.unsorted:
            buckets[value >> 56 & 255].append(value)
        self.unsorted = array("q")
        self.buckets = [array("q", sorted(bucket)) for bucket in buckets]
        return not any(any(map(eq, bucket, islice(bucket, 1, None))) for bucket in self.buckets)

    def holds(self, value: int) -> bool:
        bucket = self.buckets[value >> 56 & 255]
        i = bisect_left(bucket, value)
        return i < len(bucket) and bucket[i] == value


class Retry(Exception):
    """The hashed bookkeeping met something only the exact keys can settle: import again."""


@dataclass
class MergeCounts:
    """What an import changed, for its report."""

    invoices_new: int = 0
    invoices_updated: int = 0
    invoices_settled: int = 0
    customers_new: int = 0
    customers_updated: int = 0
    companies_new: int = 0


class Writer:
    """Writes one import's batches: master data first, then the batch's invoices."""

    def __init__(self, conn: Connection, columns: set[str], stamp: str, counts: MergeCounts,
                 expected_rows: int, exact: bool, column_names: dict[str, str]):
        """Read the known codes and the next free ids; on a first load (more rows coming than
        the table holds), drop the invoice table's secondary indexes so that ``finish`` builds
        them once, several times faster than updating them row by row."""
        self.conn = conn
        self.mark = mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.stamp = stamp  # settled_at of the items this import settles
        self.counts = counts
        self.exact = exact
        self.column_names = column_names  # canonical field -> the file's header
        self.warnings: list[RowError] = []
        # Ids up to these are the station's; above, this import's own.
        self.last_old = {table: conn.exec_driver_sql(
            f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one()
            for table in ("company", "account", "customer", "customer_group")}
        self.ids = Ids(_codes(conn, "company"), _account_ids(conn), _codes(conn, "customer"),
                       self.last_old["company"] + 1, self.last_old["account"] + 1,
                       self.last_old["customer"] + 1)
        self.group_ids = _codes(conn, "customer_group")
        self.before, self.last_old_invoice = conn.exec_driver_sql(
            "SELECT count(*), coalesce(max(id), 0) FROM invoice").one()
        # The keys are needed to find items missing from the file, so only when there are old
        # ones; without them a repeat in the file shows in the counts (see ``finish``).
        self.keys: dict | HashedKeys | None = (
            {} if exact else HashedKeys() if self.last_old_invoice else None)
        self.duplicates: list[RowError] = []
        self.updated: set[int] = set()  # the station's customers whose data the file changed
        self.changes = 0
        self.rows = 0
        self.rebuild = self._drop_secondary_indexes() if expected_rows > self.before else []

        present = [col for name, col in _INVOICE_OPTIONAL.items() if name in columns]
        compared = ["customer_id", "account_id", "due_date", "balance_cents", *present]
        changed = " OR ".join(f"invoice.{c} IS DISTINCT FROM excluded.{c}" for c in compared)
        sets = ", ".join(f"{c} = excluded.{c}" for c in compared)
        self.upsert = (
            f"INSERT INTO invoice ({', '.join(ROW_FIELDS)}) VALUES ({', '.join([mark] * 13)}) "
            f"ON CONFLICT (company_id, document, installment) DO UPDATE SET {sets}, "
            "settled_at = CASE WHEN excluded.balance_cents = 0 "
            f"THEN coalesce(invoice.settled_at, excluded.settled_at) END WHERE {changed}")

    def write(self, batch: Batch) -> None:
        """Create the master data the batch introduces, then write its invoices."""
        self._add_companies(batch.companies)
        self._add_accounts(batch.accounts)
        self._add_customers(batch.customers)
        self.warnings += check_master_data(batch.checks, self.column_names)
        self._write_rows(batch)

    def _drop_secondary_indexes(self) -> list[str]:
        """Drop the invoice table's non-unique indexes; return the SQL that recreates them.

        SQLite's DDL is transactional, so a rejected import leaves them in place.
        """
        indexes = _rows(self.conn, "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                   "AND tbl_name = 'invoice' AND sql IS NOT NULL "
                                   "AND sql NOT LIKE 'CREATE UNIQUE%'").fetchall()
        for name, _ in indexes:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [sql for _, sql in indexes]

    def find_repeats(self) -> None:
        """Fill ``duplicates`` with the file's repeated invoices, if any are still to be found
        once every batch is written (here they were found along the way, or in ``finish``)."""

    def _write_rows(self, batch: Batch) -> None:
        """Upsert the batch's invoices.

        Exact keys record a repeat as an error and stop the writing (the caller rejects the
        file); hashed ones are checked for repeats in ``finish``.
        """
        rows, keys = batch.rows, self.keys
        if self.exact:
            rows = []
            for row, line in zip(batch.rows, batch.lines):
                first = keys.setdefault(row[:3], line)
                if first == line:
                    rows.append(row)
                else:
                    self._duplicate(line, row[1], row[2], first)
        elif keys is not None:
            keys.add(map(hash, map(_KEY, rows)))
        self.rows += len(rows)
        if rows and not self.duplicates:
            self.changes += self.conn.exec_driver_sql(self.upsert, rows).rowcount

    def finish(self, summary: Summary) -> None:
        """Master data the file completed later, settlement, the indexes and the counts."""
        self._update_customers(summary.customers)  # the final data of those changed later
        self.counts.customers_updated = len(self.updated)
        self._update_companies(summary.companies)
        # A customer's group may have changed after its first rows: drop groups left unused.
        self.conn.exec_driver_sql(
            f"DELETE FROM customer_group WHERE id > {self.mark} AND id NOT IN "
            "(SELECT group_id FROM customer WHERE group_id IS NOT NULL)",
            (self.last_old["customer_group"],))
        after = self.conn.exec_driver_sql("SELECT count(*) FROM invoice").scalar_one()
        self.counts.invoices_new = after - self.before
        self.counts.invoices_updated = self.changes - self.counts.invoices_new
        if self.keys is None and self.counts.invoices_new != self.rows:
            raise Retry  # into an empty table every row is new, unless the file repeats one
        if not self.exact and self.keys is not None and not self.keys.sort():
            raise Retry  # a hash seen twice: a repeat, or two keys with one hash
        if self.last_old_invoice:
            self._settle([company_id for company_id, _ in summary.companies.values()])
        if self.rebuild and self.conn.dialect.name == "sqlite":
            # Sorter help from the idle core, in a smaller cache (each sorter thread takes up
            # to the cache size in memory).
            self.conn.exec_driver_sql("PRAGMA threads = 2")
            self.conn.exec_driver_sql(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
        for sql in self.rebuild:
            self.conn.exec_driver_sql(sql)

    def _duplicate(self, line: int, document: str, installment: str, first: int) -> None:
        if len(self.duplicates) < MAX_ERRORS:
            value = document + (f" parcela {installment}" if installment else "")
            self.duplicates.append(RowError(line, self.column_names["documento"], value,
                                            f"fatura repetida no arquivo (já aparece na linha {first})"))

    def _settle(self, company_ids: list[int]) -> None:
        """Settle the open items of the file's companies that the file no longer lists.

        Items this import inserted are in the file by definition: only older ones can be missing.
        """
        keys, exact = self.keys, self.exact
        listed, missing = 0, []
        old = _rows(self.conn,
                    "SELECT id, company_id, document, installment, balance_cents FROM invoice "
                    f"WHERE id <= {self.mark} AND company_id IN ({', '.join(map(str, company_ids))})",
                    (self.last_old_invoice,))
        for invoice_id, company, document, installment, balance in old:
            key = (company, document, installment)
            if key in keys if exact else keys.holds(hash(key)):
                listed += 1
            elif balance > 0:
                missing.append(invoice_id)
        # Every row of the file matched one old item or made a new one; more matches than that
        # means a hash stood for another key.
        if listed != self.rows - self.counts.invoices_new:
            raise Retry
        if missing:
            stamp = self.stamp
            self.conn.exec_driver_sql(
                f"UPDATE invoice SET balance_cents = 0, settled_at = {self.mark} "
                f"WHERE id = {self.mark}", [(stamp, invoice_id) for invoice_id in missing])
        self.counts.invoices_settled = len(missing)

    def _add_companies(self, companies: dict[str, tuple[int, dict[str, str]]]) -> None:
        new = [(company_id, code, v.get("name", ""), v.get("tax_id", ""))
               for code, (company_id, v) in companies.items()
               if company_id > self.last_old["company"]]
        if new:
            mark = self.mark
            self.conn.exec_driver_sql(
                f"INSERT INTO company (id, code, name, tax_id, address, phone, email) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, '', '', '')", new)
            self.counts.companies_new += len(new)

    def _add_accounts(self, accounts: list[tuple[int, int, str]]) -> None:
        if accounts:
            mark = self.mark
            self.conn.exec_driver_sql(
                f"INSERT INTO account (id, company_id, code, name) VALUES ({mark}, {mark}, {mark}, '')",
                accounts)

    def _add_groups(self, customers: dict[str, tuple[int, dict[str, str]]]) -> None:
        new = sorted({v["group"] for _, v in customers.values() if "group" in v}
                     - self.group_ids.keys())
        if new:
            mark = self.mark
            self.conn.exec_driver_sql(
                f"INSERT INTO customer_group (code, name, send_email) VALUES ({mark}, {mark}, {mark})",
                [(code, code, False) for code in new])
            self.group_ids = _codes(self.conn, "customer_group")

    def _add_customers(self, customers: dict[str, tuple[int, dict[str, str]]]) -> None:
        """Insert the customers the station does not know; remember what is said of the others."""
        if not customers:
            return
        self._add_groups(customers)
        new, known = [], {}
        inherit = SendEmail.INHERIT.value
        for code, (customer_id, v) in customers.items():
            if customer_id <= self.last_old["customer"]:
                known[code] = (customer_id, v)
            else:
                name = v.get("name", "")
                new.append((customer_id, code, name, fold(name), v.get("tax_id", ""),
                            v.get("emails", ""), self.group_ids.get(v.get("group")), inherit))
        if new:
            self._insert_customers(new)
            self.counts.customers_new += len(new)
        self._update_customers(known)

    def _insert_customers(self, rows: list[tuple]) -> None:
        """Insert new customers: (id, code, name, name_folded, tax_id, email_addresses, group_id,
        send_email) each."""
        mark = self.mark
        self.conn.exec_driver_sql(
            f"INSERT INTO customer ({_CUSTOMER_FIELDS}) VALUES ({', '.join([mark] * 8)})", rows)

    def _update_customers(self, customers: dict[str, tuple[int, dict[str, str]]]) -> None:
        """Apply the master data the file states (empty cells never erase); settings untouched."""
        if not customers:
            return
        self._add_groups(customers)
        told = {customer_id: v for customer_id, v in customers.values()}
        ids = sorted(told)
        updates = []
        mark = self.mark
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ", ".join(map(str, ids[start:start + _IN_CHUNK]))
            for customer_id, name, tax, emails, group in _rows(
                    self.conn, "SELECT id, name, tax_id, email_addresses, group_id FROM customer "
                               f"WHERE id IN ({chunk})").fetchall():
                v = told[customer_id]
                new = (v.get("name") or name, v.get("tax_id") or tax, v.get("emails") or emails,
                       self.group_ids[v["group"]] if "group" in v else group)
                if new != (name, tax, emails, group):
                    updates.append((new[0], fold(new[0]), *new[1:], customer_id))
                    if customer_id <= self.last_old["customer"]:
                        self.updated.add(customer_id)
        if updates:
            self.conn.exec_driver_sql(
                f"UPDATE customer SET name = {mark}, name_folded = {mark}, tax_id = {mark}, "
                f"email_addresses = {mark}, group_id = {mark} WHERE id = {mark}", updates)

    def _update_companies(self, companies: dict[str, tuple[int, dict[str, str]]]) -> None:
        """New names/CNPJ the file states for its (older) companies."""
        mark = self.mark
        for company_id, code, name, tax in list(
                _rows(self.conn, "SELECT id, code, name, tax_id FROM company")):
            v = companies.get(code, (0, {}))[1]
            new = (v.get("name") or name, v.get("tax_id") or tax)
            if new != (name, tax):
                self.conn.exec_driver_sql(
                    f"UPDATE company SET name = {mark}, tax_id = {mark} WHERE id = {mark}",
                    (*new, company_id))


_CUSTOMER_FIELDS = "id, code, name, name_folded, tax_id, email_addresses, group_id, send_email"


def _rows(conn: Connection, sql: str, params: tuple = ()):
    """The rows of a query straight from the driver's cursor (no result objects: many rows)."""
    cursor = conn.connection.cursor()
    cursor.execute(sql, params)
    return cursor


def _codes(conn: Connection, table: str) -> dict[str, int]:
    return {code: row_id for row_id, code in _rows(conn, f"SELECT id, code FROM {table}")}


def _account_ids(conn: Connection) -> dict[tuple[int, str], int]:
    return {(company, code): row_id for row_id, company, code in
            _rows(conn, "SELECT id, company_id, code FROM account")}


_KEY = itemgetter(0, 1, 2)  # (company_id, document, installment) of a row
