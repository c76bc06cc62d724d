"""Benchmark: the plan, the dry-run JSON and the preview for 100,000 customers / 1,000,000 invoices.

Usage: .venv/bin/python bench/plan.py [--customers N] [--invoices N] [--repeat N]
                                      [--only plan|dry-run|preview ...]
                                      [--keep FILE | --database-url URL]

Fills a migrated SQLite file in a temporary folder (or the kept FILE, or the empty database at URL,
e.g. PostgreSQL: rows inserted directly with Core executemany, not through the CSV import); a
database that already holds the data is reused. Then times, --repeat times each (median, and the
range): ``plan()`` in this process; ``python app.py --email_pendencia_financeira --dry-run --json``
as a whole process (start to exit, its JSON written to a file); and "Pré-visualizar envio" (its
first page and a middle one) through the Flask test client, logged in.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402

try:  # the server's look ahead (not in older commits, when this script times one of them)
    from blueprints.preview import PreviewWarmer  # noqa: E402
except ImportError:
    PreviewWarmer = None
from dunning.rules import plan, plan_summary  # noqa: E402
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule,  # noqa: E402
                    CustomerGroup, GroupAccountRule, Invoice, OutboxLine, Run, db)

AS_OF = date(2026, 11, 28)
COMPANIES = 5
ACCOUNTS_PER_COMPANY = 4          # codes '', '1', '2', '3'
GROUPS = 200
STEPS = ("plan", "dry-run", "preview")


def bench_app(url: str, instance: Path):
    return create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                       "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance)})


def build(url: str, instance: Path, customers: int, invoices: int, seed: int = 7) -> None:
    """Create the schema with the real migrations, then fill it quickly (Core executemany)."""
    rnd = random.Random(seed)
    app = bench_app(url, instance)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            _fill(conn, rnd, customers, invoices)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
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


def timed(step, repeat: int) -> tuple[object, list[float], list[float]]:
    """(the last result, wall seconds, CPU seconds of this process) of ``step()`` run ``repeat`` times."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        result = None
        started, cpu = time.perf_counter(), time.process_time()
        result = step()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return result, walls, cpus


def figure(label: str, walls: list[float], cpus: list[float] | None = None, note: str = "") -> None:
    cpu = f"  CPU {statistics.median(cpus):5.2f} s" if cpus else ""
    print(f"{label:34} {statistics.median(walls):6.2f} s  ({min(walls):.2f}-{max(walls):.2f}){cpu}"
          f"{'  ' + note if note else ''}", flush=True)


def dry_run(url: str, instance: Path, out: Path) -> float:
    """CPU seconds of one ``python app.py --email_pendencia_financeira --dry-run --json``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # As on a station, Python keeps the modules it compiled (__pycache__, ignored by git).
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    with open(out, "wb") as sink:
        subprocess.run([sys.executable, "app.py", "--email_pendencia_financeira", "--dry-run",
                        "--json", "--date", AS_OF.isoformat()], cwd=ROOT, stdout=sink, check=True,
                       env={**env, "DATABASE_URL": url, "APPLIANCE_INSTANCE": str(instance)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def measure(url: str, instance: Path, repeat: int, steps: set[str]) -> None:
    """Time the plan, the dry-run and the preview (those of ``steps``) on the built data."""
    app = bench_app(url, instance)
    with app.app_context():
        codes = [due.customer_code for due in plan_summary(db.session, AS_OF).due]
        db.session.rollback()
    if "plan" in steps:
        time_plan(app, repeat, codes)
    if "dry-run" in steps:
        time_dry_run(url, instance, repeat, codes)
    if "preview" in steps:
        time_preview(app, repeat, codes)
    with app.app_context():
        db.engine.dispose()


def time_plan(app, repeat: int, codes: list[str]) -> None:
    with app.app_context():
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result, walls, cpus = timed(lambda: plan(db.session, AS_OF), repeat)
        figure("plan()", walls, cpus, f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
               f" (before: {rss_before / 1024:.0f} MB)")
        reasons: dict[str, int] = {}
        for skip in result.skipped:
            reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
        print(f"  reminders: {len(result.reminders)}, invoices listed: "
              f"{sum(len(r.invoices) for r in result.reminders)}, skipped: {reasons}")
        assert [r.customer_code for r in result.reminders] == codes
        del result
        db.session.rollback()


def time_dry_run(url: str, instance: Path, repeat: int, codes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dry-run.json"
        walls, cpus = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            cpus.append(dry_run(url, instance, out))
            walls.append(time.perf_counter() - started)
        figure("dry-run --json, whole process", walls, cpus, f"{out.stat().st_size / 1e6:.0f} MB of JSON")
        listed = json.loads(out.read_text(encoding="utf-8"))
        assert [r["customer"] for r in listed["reminders"]] == codes


def time_preview(app, repeat: int, codes: list[str]) -> None:
    with app.app_context():
        from dunning.users import create_user
        from models import User
        if db.session.scalar(db.select(db.func.count()).select_from(User)) == 0:
            create_user(db.session, "bench", "bench-password")
        db.session.remove()
    client = app.test_client()
    client.post("/entrar", data={"username": "bench", "password": "bench-password"})
    middle = max(1, len(codes) // 10 // 2)

    def get(page: int) -> str:
        response = client.get(f"/previa/?data={AS_OF.isoformat()}&page={page}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert codes[(page - 1) * 10] in html, "the page shows the plan's messages"
        return html

    def after_a_change() -> float:
        """A committed write first (as an import or a staff edit makes), then page 1."""
        with app.app_context():
            db.session.execute(db.update(Company).values(data_time=datetime.now()))
            db.session.commit()
        started = time.perf_counter()
        get(1)
        return time.perf_counter() - started

    figure("Pré-visualizar envio, page 1, first view after a change",
           [after_a_change() for _ in range(repeat)])
    for label, page in (("... page 1, nothing changed since", 1),
                        (f"... page {middle}, nothing changed since", middle)):
        _, walls, _ = timed(lambda: get(page), repeat)
        figure(label, walls)
    if PreviewWarmer is not None:
        figure("... today, after a change and the server's look ahead",
               [after_the_look_ahead(app, client) for _ in range(repeat)])


def after_the_look_ahead(app, client) -> float:
    """A committed change, then the server's two looks (the one that sees it, the quiet one that
    computes today's counts), then today's preview, timed."""
    with app.app_context():
        db.session.execute(db.update(Company).values(data_time=datetime.now()))
        db.session.commit()
    warmer = PreviewWarmer(app)
    warmer.step()
    assert warmer.step() is not None, "the quiet look computed today's counts"
    started = time.perf_counter()
    response = client.get("/previa/")
    assert response.status_code == 200
    return time.perf_counter() - started


def ensure_built(target: Path | str, customers: int, invoices: int) -> str:
    """The database URL of ``target`` (a SQLite file or a URL), filled with the data set unless it
    already holds it (then brought to the newest migration)."""
    url = target if isinstance(target, str) else f"sqlite:///{target}"
    instance = Path(tempfile.gettempdir()) / "bench-plan-instance"
    app = bench_app(url, instance)
    with app.app_context():
        try:
            filled = db.session.scalar(db.select(db.func.count()).select_from(Customer)) > 0
        except Exception:  # noqa: BLE001 - no schema yet
            filled = False
        db.session.rollback()
        if filled:
            upgrade()
        db.engine.dispose()
    if not filled:
        started = time.perf_counter()
        build(url, instance, customers, invoices)
        print(f"built {customers} customers / {invoices} invoices "
              f"in {time.perf_counter() - started:.1f} s")
    with app.app_context():
        # Fresh data for the data age guard, which measures against the real clock (a kept file
        # may be days old): the bench times the plan, not a hold-back.
        db.session.execute(db.update(Company).values(data_time=datetime.now()))
        db.session.commit()
        db.engine.dispose()
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build (or reuse) this SQLite database file")
    parser.add_argument("--database-url", help="build (or reuse) this database, e.g. PostgreSQL")
    parser.add_argument("--only", action="append", choices=STEPS,
                        help="time only this step (repeatable; default: all three)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = ensure_built(args.database_url or args.keep or Path(tmp) / "bench.db",
                           args.customers, args.invoices)
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        measure(url, Path(tmp) / "instance", args.repeat, set(args.only or STEPS))
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
