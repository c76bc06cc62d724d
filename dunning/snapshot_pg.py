"""The import's writer on PostgreSQL: COPY into a temporary table, then set-based SQL.

On PostgreSQL a row-by-row upsert is slow (a round trip's worth of work per row) and uses up an
invoice id per row, changed or not (the id's default is drawn before the conflict is seen). So
the rows of every batch are streamed with ``COPY`` into a temporary table, with their line
numbers, and ``finish`` merges them with a few statements: repeats found by a unique index (the
lines named exactly, no hashes), changed items updated, new ones inserted (only they draw ids, in
file order), missing ones settled. The master data is written as on SQLite (``Writer``).

Imports are serialized by a table lock taken before the station's codes and ids are read: the
parser numbers new companies, accounts and customers from them, and nobody else may insert into
those tables meanwhile (readers are not blocked). A second import waits for the first to commit.
At the end each table's id sequence is moved past the ids the import wrote, so a later plain
insert (the ORM's) gets a free one.
"""
from __future__ import annotations

from sqlalchemy import Connection

from dunning.parsing import MAX_ERRORS, ROW_FIELDS, Batch, Summary
from dunning.snapshot import _CUSTOMER_FIELDS, _INVOICE_OPTIONAL, MergeCounts, Writer

# Tables the import writes; locked in this order by every import.
_LOCKED = ("company", "account", "customer_group", "customer", "invoice")
# Tables whose ids the import (or the parser) writes itself, or draws: their sequences follow.
_SEQUENCED = ("company", "account", "customer_group", "customer", "invoice")
# How long an import waits for another one (or a long write) before giving up with a message.
LOCK_WAIT = "15min"

_STAGE = "import_row"
_STAGE_COLUMNS = (
    "company_id integer, document varchar(60), installment varchar(20), customer_id integer, "
    "account_id integer, due_date date, balance_cents bigint, issue_date date, "
    "amount_cents bigint, digitable_line varchar(80), pix_code text, payment_link text, "
    "settled_at timestamp, line integer")
_KEY_MATCH = ("i.company_id = r.company_id AND i.document = r.document "
              "AND i.installment = r.installment")


class PostgresWriter(Writer):
    """``Writer`` for PostgreSQL: the invoices go through a temporary table (see the module)."""

    def __init__(self, conn: Connection, columns: set[str], stamp: str, counts: MergeCounts,
                 expected_rows: int, exact: bool, column_names: dict[str, str]):
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(_LOCKED)} IN SHARE ROW EXCLUSIVE MODE")
        super().__init__(conn, columns, stamp, counts, expected_rows, exact, column_names)
        self.keys = None  # the temporary table holds them
        self.present = [col for name, col in _INVOICE_OPTIONAL.items() if name in columns]
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {_STAGE} ({_STAGE_COLUMNS}) ON COMMIT DROP")
        self.cursor = conn.connection.driver_connection.cursor()

    def _write_rows(self, batch: Batch) -> None:
        """Stream the batch's rows, each with its line, into the temporary table."""
        self.rows += len(batch.rows)
        with self.cursor.copy(f"COPY {_STAGE} ({', '.join(ROW_FIELDS)}, line) FROM STDIN") as copy:
            write = copy.write_row
            for row, line in zip(batch.rows, batch.lines):
                write((*row, line))

    def _drop_secondary_indexes(self) -> list[str]:
        """Drop the invoice table's non-unique indexes and its foreign keys; return the SQL that
        recreates them.

        The foreign keys, checked row by row, cost more than the indexes (a first load of
        1,000,000 rows took 54 s in its INSERT); re-adding one checks every row in one pass. The
        drop locks the invoice table until the import commits (pages that read invoices wait for
        it), which is why only a first load does it. A rejected import rolls it back.
        """
        indexes = self.conn.exec_driver_sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'invoice'::regclass AND NOT i.indisunique").all()
        for name, _ in indexes:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [sql for _, sql in indexes] + _drop_constraints(self.conn, "f")

    def _insert_customers(self, rows: list[tuple]) -> None:
        """New customers by ``COPY`` (a statement per customer cost 9 s at 100,000)."""
        with self.cursor.copy(f"COPY customer ({_CUSTOMER_FIELDS}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)

    def find_repeats(self) -> None:
        """The file's repeated invoices, each line named with the line it repeats."""
        from psycopg.errors import UniqueViolation
        cursor = self.cursor
        try:
            with cursor.connection.transaction():  # a savepoint: a failed index leaves no trace
                cursor.execute(f"CREATE UNIQUE INDEX ON {_STAGE} "
                               "(company_id, document, installment)")
        except UniqueViolation:
            pass
        else:
            cursor.execute(f"ANALYZE {_STAGE}")
            return
        cursor.execute(
            f"SELECT line, document, installment, first FROM (SELECT line, document, installment, "
            "min(line) OVER (PARTITION BY company_id, document, installment) AS first "
            f"FROM {_STAGE}) AS r WHERE line > first ORDER BY line LIMIT {MAX_ERRORS}")
        for line, document, installment, first in cursor.fetchall():
            self._duplicate(line, document, installment, first)

    def finish(self, summary: Summary) -> None:
        """Master data the file completed later, then the invoices merged set-wise, the
        settlement of missing items and the sequences."""
        self._update_customers(summary.customers)
        self.counts.customers_updated = len(self.updated)
        self._update_companies(summary.companies)
        execute = self.conn.exec_driver_sql
        execute(f"DELETE FROM customer_group WHERE id > %s AND id NOT IN "
                "(SELECT group_id FROM customer WHERE group_id IS NOT NULL)",
                (self.last_old["customer_group"],))
        compared = ["customer_id", "account_id", "due_date", "balance_cents", *self.present]
        changed = " OR ".join(f"i.{c} IS DISTINCT FROM r.{c}" for c in compared)
        sets = ", ".join(f"{c} = r.{c}" for c in compared)
        updated = execute(
            f"UPDATE invoice AS i SET {sets}, settled_at = CASE WHEN r.balance_cents = 0 "
            f"THEN coalesce(i.settled_at, r.settled_at) END FROM {_STAGE} AS r "
            f"WHERE {_KEY_MATCH} AND ({changed})").rowcount
        fields = ", ".join(ROW_FIELDS)
        rebuild_unique = []
        if self.before == 0:  # an empty table: every row is new (the file has no repeats)
            rebuild_unique = _drop_constraints(self.conn, "u")
            new_only = ""
        else:
            new_only = f"WHERE NOT EXISTS (SELECT 1 FROM invoice AS i WHERE {_KEY_MATCH})"
        self.counts.invoices_new = execute(
            f"INSERT INTO invoice ({fields}) SELECT {fields} FROM {_STAGE} AS r {new_only} "
            "ORDER BY line").rowcount
        self.counts.invoices_updated = updated
        if self.last_old_invoice:
            company_ids = [company_id for company_id, _ in summary.companies.values()]
            self.counts.invoices_settled = execute(
                "UPDATE invoice AS i SET balance_cents = 0, settled_at = %s "
                "WHERE i.id <= %s AND i.company_id = ANY(%s) AND i.balance_cents > 0 "
                f"AND NOT EXISTS (SELECT 1 FROM {_STAGE} AS r WHERE {_KEY_MATCH})",
                (self.stamp, self.last_old_invoice, company_ids)).rowcount
        # What a first load dropped (here and in _drop_secondary_indexes),
        # built once over the whole table, several times faster than row by row.
        for sql in rebuild_unique + self.rebuild:
            execute(sql)
        for table in _SEQUENCED:
            move_sequence_past_ids(self.conn, table)


def _drop_constraints(conn: Connection, kind: str) -> list[str]:
    """Drop the invoice table's constraints of one kind ("u" unique, "f" foreign key); return the
    SQL that adds them back."""
    keys = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'invoice'::regclass AND contype = %s", (kind,)).all()
    for name, _ in keys:
        conn.exec_driver_sql(f'ALTER TABLE invoice DROP CONSTRAINT "{name}"')
    return [f'ALTER TABLE invoice ADD CONSTRAINT "{name}" {sql}' for name, sql in keys]


def move_sequence_past_ids(conn: Connection, table: str) -> None:
    """Make the next id ``table``'s sequence gives larger than every id in the table (never
    moving it back: ids it gave out may be in use by a transaction not yet committed)."""
    conn.exec_driver_sql(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max_id) FROM "
        f"(SELECT max(id) AS max_id FROM {table}) AS t, "
        f"(SELECT last_value, is_called FROM {sequence_of(conn, table)}) AS s "
        "WHERE max_id > last_value OR (max_id = last_value AND NOT is_called)")


def sequence_of(conn: Connection, table: str) -> str:
    """The name of the sequence behind ``table``'s id column."""
    return conn.exec_driver_sql(
        f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar_one()

