"""Experiment: how fast the database itself writes rule 8's listing as JSON (not product code).

Usage: .venv/bin/python bench/plan_sql_listing.py --keep /tmp/plan.db   (bench/plan.py's file)

Issue 14 asks for the plan in 3 s and the dry-run in 5 s at 100,000 customers / 1,000,000
invoices; the Python listing builds one object per listed invoice. This measures the other road,
on SQLite: the due customers (from ``plan_summary``) and each distinct due date's effective date
and days late go into two temporary tables, and one statement writes every due customer's listing
as a JSON array (json_object per invoice, json_group_array per customer), sorted as rule 8 sorts.
It leaves out what a real version would add (rule 4's account lists, held companies, multa and
juros, levels, the pre-due notice), so the real cost would be higher than this figure.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.plan as bp  # noqa: E402
from dunning.rules import brazil_calendar, effective_due_date, plan_summary  # noqa: E402
from models import db  # noqa: E402

LISTING = """
SELECT customer_id, json_group_array(json(item)) FROM (
  SELECT i.customer_id, json_object(
      'empresa', co.code, 'documento', i.document, 'parcela', i.installment, 'conta', a.code,
      'vencimento', i.due_date,
      'saldo', printf('%d.%02d', i.balance_cents / 100, i.balance_cents % 100),
      'dias_atraso', d.late,
      'vencido', json(CASE WHEN d.effective < due.cutoff THEN 'true' ELSE 'false' END)) AS item
  FROM invoice i NOT INDEXED CROSS JOIN due CROSS JOIN dates d CROSS JOIN company co
       CROSS JOIN account a
  WHERE due.customer_id = i.customer_id + 0 AND d.due = i.due_date AND co.id = i.company_id
    AND a.id = i.account_id AND i.balance_cents + 0 > 0
  ORDER BY i.customer_id, co.code, i.due_date, i.document, i.installment)
GROUP BY customer_id"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True, help="bench/plan.py's SQLite file")
    path = parser.parse_args().keep
    app = bp.bench_app(f"sqlite:///{path}", Path("/tmp/bench-plan-instance"))
    with app.app_context():
        started = time.perf_counter()
        due = plan_summary(db.session, bp.AS_OF).due
        verdicts = time.perf_counter() - started
        db.session.rollback()
        db.engine.dispose()
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    conn.execute("CREATE TEMP TABLE due (customer_id INTEGER PRIMARY KEY, cutoff TEXT)")
    conn.executemany("INSERT INTO due VALUES (?, ?)",
                     [(d.customer_id, bp.AS_OF.isoformat()) for d in due])
    calendar = brazil_calendar()
    conn.execute("CREATE TEMP TABLE dates (due DATE PRIMARY KEY, effective TEXT, late INTEGER)")
    conn.executemany("INSERT INTO dates VALUES (?, ?, ?)", [
        (stored, effective_due_date(date.fromisoformat(stored), calendar).isoformat(),
         max(0, (bp.AS_OF - date.fromisoformat(stored)).days))
        for (stored,) in conn.execute("SELECT DISTINCT due_date FROM invoice")])
    tables = time.perf_counter() - started
    started = time.perf_counter()
    rows = conn.execute(LISTING).fetchall()
    listing = time.perf_counter() - started
    print(f"SQLite {sqlite3.sqlite_version}: verdicts (plan_summary) {verdicts:.2f} s, temporary "
          f"tables {tables:.2f} s, the listing as JSON {listing:.2f} s "
          f"({len(rows)} customers, {sum(len(r[1]) for r in rows) / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
