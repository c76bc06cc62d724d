"""Benchmark: the dry-run plan for 100,000 enabled customers over 1,000,000 invoices.

Usage: .venv/bin/python bench/plan.py [--customers N] [--invoices N] [--keep FILE]

Builds a migrated SQLite file in a temporary folder (rows inserted directly with Core executemany,
not through the CSV import), then times ``plan()`` and the SPEC §6 JSON, and reports peak memory.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from dunning.rules import plan  # noqa: E402
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule,  # noqa: E402
                    CustomerGroup, GroupAccountRule, Invoice, OutboxLine, Run, db)

AS_OF = date(2026, 11, 28)
COMPANIES = 5
ACCOUNTS_PER_COMPANY = 4          # codes '', '1', '2', '3'
GROUPS = 200


def build(path: Path, customers: int, invoices: int, seed: int = 7) -> None:
    """Create the schema with the real migrations, then fill it quickly (Core executemany)."""
    rnd = random.Random(seed)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "INSTANCE_PATH": str(path.parent / "instance")})
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            _fill(conn, rnd, customers, invoices)
            conn.exec_driver_sql("ANALYZE")
        db.engine.dispose()


def _fill(conn, rnd: random.Random, customers: int, invoices: int) -> None:
    def insert(model, rows: list[dict]) -> None:
        if rows:
            conn.execute(model.__table__.insert(), rows)

    # A complete creditor (CDC art. 42-A), else plan() holds the company back.
    insert(Company, [{"id": c, "code": str(c), "name": f"Posto {c}", "address": "Rua X, 1",
                      "tax_id": "11.222.333/0001-81"}
                     for c in range(1, COMPANIES + 1)])
    accounts = [(a, c, code) for a, (c, code) in enumerate(
        ((c, code) for c in range(1, COMPANIES + 1) for code in ("", "1", "2", "3")), start=1)]
    insert(Account, [{"id": a, "company_id": c, "code": code} for a, c, code in accounts])
    # Groups: a third on, a third with account entries, a third off.
    insert(CustomerGroup, [{"id": g, "code": f"G{g}", "name": f"Grupo {g}", "send_email": g % 3 == 0,
                            "tolerance_days": (g % 4) or None} for g in range(1, GROUPS + 1)])
    insert(GroupAccountRule, [{"group_id": g, "account_id": rnd.randint(1, len(accounts))}
                              for g in range(1, GROUPS + 1) if g % 3 == 1])
    enabled_groups = [g for g in range(1, GROUPS + 1) if g % 3 != 2]
    rows, rules, billing = [], [], []
    for cid in range(1, customers + 1):
        kind = cid % 10
        emails = f"financeiro{cid}@cliente{cid}.com.br"
        if kind == 9:
            emails += f", compras{cid}@cliente{cid}.com.br"
        elif cid % 97 == 0:
            emails = ""
        elif cid % 89 == 0:
            emails = f"financeiro{cid}@cliente{cid}"
        row = {"id": cid, "code": f"C{cid:06d}", "name": f"Cliente {cid}",
               "name_folded": f"cliente {cid}", "email_addresses": emails,
               "group_id": None, "send_email": "herdar", "tolerance_days": None}
        if kind < 5:            # Sim
            row["send_email"] = "sim"
        elif kind < 8:          # Herdar, in a group that enables it
            row["group_id"] = rnd.choice(enabled_groups)
        else:                   # Herdar, enabled by its own account entries
            row["tolerance_days"] = 5
            rules.append({"customer_id": cid, "account_id": rnd.randint(1, len(accounts))})
        if cid % 20 == 0:
            billing.append({"customer_id": cid, "account_id": rnd.randint(1, len(accounts))})
        rows.append(row)
    insert(Customer, rows)
    insert(CustomerAccountRule, rules)
    insert(BillingAccount, billing)

    first_due = AS_OF - timedelta(days=400)
    batch = []
    for n in range(1, invoices + 1):
        aid, company, _ = accounts[rnd.randrange(len(accounts))]
        due = first_due + timedelta(days=rnd.randrange(460))
        balance = 0 if rnd.random() < 0.2 else rnd.randint(1000, 500000)
        batch.append({"id": n, "company_id": company, "document": f"F{n}",
                      "installment": "" if n % 3 else "1", "customer_id": rnd.randint(1, customers),
                      "account_id": aid, "due_date": due, "issue_date": due - timedelta(days=30),
                      "amount_cents": balance + 500, "balance_cents": balance,
                      "digitable_line": f"2379{n:043d}" if n % 4 == 0 else ""})
        if len(batch) == 50_000:
            insert(Invoice, batch)
            batch.clear()
    insert(Invoice, batch)
    # A reminder went out three days ago to one customer in 20.
    sent_on = AS_OF - timedelta(days=3)
    insert(Run, [{"id": 1, "as_of": sent_on, "started_at": datetime(2026, 11, 25, 7), "status": "done"}])
    insert(OutboxLine, [{"run_id": 1, "customer_id": cid, "as_of": sent_on, "status": "sent"}
                        for cid in range(1, customers + 1, 20)])


def measure(path: Path) -> None:
    """Time plan() and its JSON on the built file; print the figures."""
    app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "INSTANCE_PATH": str(path.parent / "instance")})
    with app.app_context():
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        result = plan(db.session, AS_OF)
        planned, planned_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_plan = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        text = json.dumps(result.to_json(), ensure_ascii=False)
        dumped, dumped_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        reasons: dict[str, int] = {}
        for skip in result.skipped:
            reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
        print(f"plan():          {planned:6.2f} s  (CPU {planned_cpu:.2f} s)")
        print(f"to_json + dumps: {dumped:6.2f} s  (CPU {dumped_cpu:.2f} s; {len(text) / 1e6:.0f} MB of JSON)")
        print(f"reminders: {len(result.reminders)}, invoices listed: "
              f"{sum(len(r.invoices) for r in result.reminders)}, skipped: {reasons}")
        print(f"peak RSS: {rss_plan / 1024:.0f} MB after plan(), {rss_after / 1024:.0f} MB after the JSON "
              f"(before plan: {rss_before / 1024:.0f} MB)")
        db.engine.dispose()


def ensure_built(path: Path, customers: int, invoices: int) -> None:
    """Build the data set into ``path`` unless a kept file is already there."""
    if not path.exists():
        started = time.perf_counter()
        build(path, customers, invoices)
        print(f"built {customers} customers / {invoices} invoices "
              f"in {time.perf_counter() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) this database file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.db"
        ensure_built(path, args.customers, args.invoices)
        measure(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
