"""Benchmark: a year of daily runs at 100,000 customers, with and without the retention of skipped lines.

Usage: /work/venv/bin/python bench/retention.py [--customers N] [--invoices N] [--days N]
           [--retention N] [--repeat N] [--keep DIR] [--backlog] [--pages-only]
           [--database-url postgresql+psycopg://USER@HOST:PORT/DB]

Builds bench/plan.py's data set (customers, invoices; SQLite unless --database-url names a
PostgreSQL server, where it works in databases of its own next to the one named), then two copies
with --days daily runs written directly by set-based SQL (INSERT ... SELECT over run x customer;
365 real sends would take many hours):

* "kept" (retention 0): every line of every run;
* "pruned": what the daily prune leaves with --retention days: every line that carried a message,
  the `skipped` lines of the last --retention days, and each run's counts per skip reason.

Every customer is enabled; 7 in 10 are overdue and e-mailed every 7 days (1 in 1,000 of those
messages refused for good), the rest are skipped as `nothing_overdue` (or `no_email` /
`invalid_email`): about 10,000 messages and 90,000 `skipped` lines a day, as bench/plan.py's data
would give with a 7-day resend interval. The lines are inserted with the outbox's secondary indexes
dropped and rebuilt afterwards (the same indexes, as the migrations made them).

On each copy it reports the database size and the median time (--repeat requests after a warm-up,
Flask test client, logged in) of the Envios pages, one run's page, the customer page and the
Painel; then the cost of one more day: recording its lines (with the indexes live) and, on the
pruned copy, the real ``prune_skipped`` of the day that falls out. With --backlog, last, the
first prune of the kept copy: a station upgraded with a year of history. --pages-only times the
pages again on the copies an earlier run left (--keep, or the same PostgreSQL server).
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402

from app import create_app  # noqa: E402
from dunning.retention import prune_skipped  # noqa: E402
from dunning.users import create_user  # noqa: E402
from models import db  # noqa: E402
from plan import AS_OF, _fill, ensure_built  # noqa: E402  (bench/plan.py: one data set)

# Who gets what on run r (ids 1..days, one a day) for customer c: the same rule in every query.
MESSAGE = "(c.id % 10 < 7 AND (c.id + r.id) % 7 = 0)"
STATUS = (f"CASE WHEN {MESSAGE} THEN (CASE WHEN c.id % 1000 = 0 THEN 'failed_permanent' "
          "ELSE 'sent' END) ELSE 'skipped' END")
REASON = (f"CASE WHEN {MESSAGE} THEN '' WHEN c.id % 10 < 7 THEN 'recently_sent' "
          "WHEN c.id % 97 = 0 THEN 'no_email' WHEN c.id % 89 = 0 THEN 'invalid_email' "
          "ELSE 'nothing_overdue' END")
ID = "CAST(c.id AS TEXT)"
LINES = f"""
INSERT INTO outbox_line (run_id, customer_id, as_of, status, skip_reason, kind, level, recipients,
                         subject, message_id, attempts, smtp_code, smtp_reply, refused,
                         updated_at, sent_at, message)
SELECT r.id, c.id, r.as_of, {STATUS}, {REASON}, 'overdue',
       CASE WHEN {MESSAGE} THEN 'Lembrete' ELSE '' END,
       CASE WHEN {MESSAGE} THEN 'financeiro' || {ID} || '@cliente' || {ID} || '.com.br' ELSE '' END,
       CASE WHEN {MESSAGE} THEN 'Pendências financeiras em aberto - Posto 1' ELSE '' END,
       CASE WHEN {MESSAGE} THEN '<' || CAST(r.id AS TEXT) || '.' || {ID} || '@posto.example.com>'
            ELSE '' END,
       CASE WHEN {MESSAGE} THEN 1 ELSE 0 END,
       CASE WHEN {MESSAGE} THEN (CASE WHEN c.id % 1000 = 0 THEN 550 ELSE 250 END) END,
       CASE WHEN {MESSAGE} THEN (CASE WHEN c.id % 1000 = 0 THEN '5.1.1 <financeiro@cliente> User unknown'
                                      ELSE '2.0.0 Ok: queued as 4Xk9Qz1abc' END) ELSE '' END,
       '', r.started_at, CASE WHEN {MESSAGE} AND c.id % 1000 <> 0 THEN r.started_at END, ''
FROM run r CROSS JOIN customer c
WHERE r.id BETWEEN :first AND :last"""
COUNTS = f"""
SELECT r.id, {STATUS}, {REASON}, count(*) FROM run r CROSS JOIN customer c
WHERE r.id BETWEEN :first AND :last GROUP BY r.id, {STATUS}, {REASON}"""


class Database:
    """One bench database (a SQLite file, or a PostgreSQL database), made by copying another."""

    def __init__(self, url: str, folder: Path):
        self.url, self.folder = url, folder
        self.pg = make_url(url).get_backend_name() == "postgresql"
        self._engine = None

    def child(self, name: str) -> Database:
        """A copy of this database called ``name`` (replacing an older one)."""
        self.close()  # PostgreSQL copies only a database nobody is connected to
        if not self.pg:
            target = self.folder / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            source = make_url(self.url).database
            with closing(sqlite3.connect(source)) as conn:  # what the WAL holds, into the file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy(source, target)
            return Database(f"sqlite:///{target}", self.folder)
        source = make_url(self.url).database
        with self.admin() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return Database(make_url(self.url).set(database=name).render_as_string(False), self.folder)

    def admin(self):
        engine = create_engine(make_url(self.url).set(database="postgres"),
                               isolation_level="AUTOCOMMIT")
        return engine.connect()

    def engine(self):
        if self._engine is None:
            self._engine = create_engine(self.url, connect_args={} if self.pg else {"timeout": 60})
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def size(self) -> str:
        """The database's size, and what of it the outbox takes."""
        with self.engine().connect() as conn:
            lines = conn.scalar(text("SELECT count(*) FROM outbox_line"))
            if self.pg:
                total = conn.scalar(text("SELECT pg_database_size(current_database())"))
                outbox = conn.scalar(text("SELECT pg_total_relation_size('outbox_line')"))
                return (f"{total / 2**20:,.0f} MB (outbox_line with its indexes "
                        f"{outbox / 2**20:,.0f} MB, {lines:,} lines)")
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar()
            outbox = conn.scalar(text(
                "SELECT sum(pgsize) FROM dbstat WHERE name = 'outbox_line' OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = 'outbox_line')"))
        return (f"{pages * size / 2**20:,.0f} MB file, {(pages - free) * size / 2**20:,.0f} MB in "
                f"use (outbox_line with its indexes {outbox / 2**20:,.0f} MB, {lines:,} lines)")


def base_database(args, folder: Path) -> Database:
    """bench/plan.py's customers and invoices, without its one run, migrated to the newest schema."""
    if args.database_url:
        base = Database(make_url(args.database_url).set(database="bench_retention_base")
                        .render_as_string(False), folder)
        with base.admin() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                 {"n": "bench_retention_base"})
            if not exists:
                conn.exec_driver_sql('CREATE DATABASE "bench_retention_base"')
        if not exists:
            import random
            started = time.perf_counter()
            app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                              "SQLALCHEMY_DATABASE_URI": base.url,
                              "INSTANCE_PATH": str(folder / "instance")})
            with app.app_context():
                upgrade()
                with db.engine.begin() as conn:
                    _fill(conn, random.Random(7), args.customers, args.invoices)
                db.engine.dispose()
            print(f"built {args.customers} customers / {args.invoices} invoices "
                  f"in {time.perf_counter() - started:.1f} s")
    else:
        path = folder / "plan.db"
        ensure_built(path, args.customers, args.invoices)
        base = Database(f"sqlite:///{path}", folder)
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": base.url,
                          "INSTANCE_PATH": str(folder / "instance")})
        with app.app_context():
            upgrade()  # a kept file from an older schema
            db.engine.dispose()
    return base


def run_dates(days: int) -> list:
    """(id, as_of) of the runs, one a day, the last on bench/plan.py's date."""
    first_day = AS_OF - timedelta(days=days - 1)
    return [(n, first_day + timedelta(days=n - 1)) for n in range(1, days + 1)]


def year_of_runs(base: Database, days: int) -> tuple[Database, list]:
    """A copy of ``base`` with ``days`` finished runs (no lines yet) and their counts, stored as a
    run stores them; returns it and the runs' (id, as_of)."""
    year = base.child("bench_retention_year")
    runs = run_dates(days)
    with year.engine().begin() as conn:
        conn.execute(text("DELETE FROM outbox_line"))
        conn.execute(text("DELETE FROM run_skip_count"))
        conn.execute(text("DELETE FROM run"))
        conn.execute(text(
            "INSERT INTO run (id, as_of, started_at, finished_at, status, \"trigger\", message, "
            "sent_count, failed_count, skipped_count, pending_count, unknown_count, partial_count) "
            "VALUES (:id, :as_of, :started, :finished, 'ok', 'scheduler', '', 0, 0, 0, 0, 0, 0)"),
            [{"id": n, "as_of": day, "started": datetime.combine(day, datetime.min.time()) +
              timedelta(hours=7), "finished": datetime.combine(day, datetime.min.time()) +
              timedelta(hours=7, minutes=20)} for n, day in runs])
        counts: dict[int, dict] = {}
        reasons = []
        for run_id, status, reason, n in conn.execute(text(COUNTS), {"first": 1, "last": days}):
            counts.setdefault(run_id, {"sent": 0, "failed": 0, "skipped": 0})
            key = {"sent": "sent", "failed_permanent": "failed", "skipped": "skipped"}[status]
            counts[run_id][key] += n
            if status == "skipped":
                reasons.append({"run_id": run_id, "reason": reason, "count": n})
        conn.execute(text("UPDATE run SET sent_count = :sent, failed_count = :failed, "
                          "skipped_count = :skipped WHERE id = :id"),
                     [{"id": run_id, **c} for run_id, c in counts.items()])
        conn.execute(text("INSERT INTO run_skip_count (run_id, reason, count) "
                          "VALUES (:run_id, :reason, :count)"), reasons)
        if year.pg:
            conn.exec_driver_sql("SELECT setval('run_id_seq', (SELECT max(id) FROM run))")
        else:  # plan.py ANALYZEs its file; a station has no statistics on its outbox
            conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl IN ('outbox_line', 'run', "
                                 "'run_skip_count')")
    return year, runs


def outbox_indexes(conn, pg: bool) -> list[tuple[str, str]]:
    """The outbox's secondary indexes: (name, the SQL that makes it)."""
    if pg:
        return list(conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox_line' "
            "AND indexname <> 'pk_outbox_line'")))
    return list(conn.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox_line' "
        "AND sql IS NOT NULL")))


def fill(database: Database, days: int, kept_from: int, chunk: int = 10) -> float:
    """Insert the lines of runs 1..days (runs before ``kept_from``: only those that carried a
    message) with the secondary indexes dropped, then rebuild them; seconds taken."""
    started = time.perf_counter()
    with database.engine().begin() as conn:
        if database.pg:
            conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        else:
            conn.exec_driver_sql("PRAGMA cache_size = -400000")
        indexes = outbox_indexes(conn, database.pg)
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for first in range(1, days + 1, chunk):
            last = min(days, first + chunk - 1)
            stmt = LINES if first >= kept_from else LINES + f" AND ({MESSAGE} OR r.id >= :kept_from)"
            conn.execute(text(stmt), {"first": first, "last": last, "kept_from": kept_from})
            print(f"  runs {first}-{last}: {time.perf_counter() - started:6.0f} s", flush=True)
        for _, sql in indexes:
            conn.exec_driver_sql(sql)
        print(f"  indexes rebuilt: {time.perf_counter() - started:6.0f} s", flush=True)
    if database.pg:
        with database.engine().execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE outbox_line")
            conn.exec_driver_sql("VACUUM ANALYZE run")
    return time.perf_counter() - started


def pages(runs: list, customers: int) -> list[tuple[str, str]]:
    last, first = runs[-1][0], runs[0][0]
    overdue, on_time = (customers // 2) // 10 * 10 + 2, (customers // 2) // 10 * 10 + 9
    return [
        ("Painel", "/"),
        ("Envios, página 1", "/envios/"),
        ("Envios, última página", f"/envios/?page={(len(runs) + 49) // 50}"),
        ("Envio do último dia", f"/envios/{last}"),
        ("Envio do último dia, página 1000", f"/envios/{last}?page=1000"),
        ("Envio do último dia, só ignorados", f"/envios/{last}?situacao=skipped"),
        ("Envio do último dia, com falha", f"/envios/{last}?situacao=failed"),
        ("Envio do primeiro dia (um ano antes)", f"/envios/{first}"),
        ("Envio do primeiro dia, só ignorados", f"/envios/{first}?situacao=skipped"),
        ("Cliente em atraso", f"/clientes/{overdue}"),
        ("Cliente em dia", f"/clientes/{on_time}"),
    ]


def measure(database: Database, folder: Path, runs: list, customers: int,
            repeat: int) -> dict[str, float]:
    """The median time of each page (ms), printed."""
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": database.url,
                      "INSTANCE_PATH": str(folder / "instance")})
    with app.app_context():
        if db.session.scalar(text('SELECT count(*) FROM "user"')) == 0:
            create_user(db.session, "bench", "bench-password")
    client = app.test_client()
    client.post("/entrar", data={"username": "bench", "password": "bench-password"})
    medians = {}
    for label, url in pages(runs, customers):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        medians[label] = statistics.median(times)
        print(f"  {label:40} {medians[label]:7.0f} ms (max {max(times):5.0f})  {url}")
    with app.app_context():
        db.engine.dispose()
    return medians


def one_more_day(database: Database, runs: list, retention: int) -> None:
    """Record a next day's lines with the indexes live, then (retention > 0) prune as the daily run
    does; print the times."""
    run_id, as_of = runs[-1][0] + 1, runs[-1][1] + timedelta(days=1)
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO run (id, as_of, started_at, finished_at, status, \"trigger\", "
                          "message, sent_count, failed_count, skipped_count, pending_count, "
                          "unknown_count, partial_count) VALUES (:id, :as_of, :t, :t, 'ok', "
                          "'scheduler', '', 0, 0, 0, 0, 0, 0)"),
                     {"id": run_id, "as_of": as_of, "t": datetime.combine(as_of, datetime.min.time())})
    started = time.perf_counter()
    with engine.begin() as conn:
        added = conn.execute(text(LINES), {"first": run_id, "last": run_id}).rowcount
    recorded = time.perf_counter() - started
    print(f"  day {run_id}: {added:,} lines recorded in {recorded:.1f} s")
    if not retention:
        return
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database.url,
                      "INSTANCE_PATH": str(database.folder / "instance")})
    with app.app_context():
        started = time.perf_counter()
        report = prune_skipped(db.session, as_of, retention)
        print(f"  the daily prune: {report.lines:,} lines of {report.runs} run(s) in "
              f"{time.perf_counter() - started:.1f} s")
        db.engine.dispose()


def backlog(database: Database, runs: list, retention: int) -> None:
    """The first prune after an upgrade: a year of skipped lines down to ``retention`` days."""
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database.url,
                      "INSTANCE_PATH": str(database.folder / "instance")})
    with app.app_context():
        started = time.perf_counter()
        batches = []
        report = prune_skipped(db.session, runs[-1][1] + timedelta(days=1), retention,
                               between_batches=lambda _: batches.append(time.perf_counter()))
        took = time.perf_counter() - started
        gaps = [b - a for a, b in zip([started, *batches], batches)]
        db.engine.dispose()
    print(f"  {report.lines:,} lines of {report.runs} runs in {took:.0f} s "
          f"({report.lines / took:,.0f} lines/s; a batch: median {statistics.median(gaps) * 1000:.0f} ms, "
          f"longest {max(gaps) * 1000:.0f} ms)")


def build(args, folder: Path, runs: list, kept_from: int) -> dict[str, Database]:
    """The kept and pruned copies, built from the base data set."""
    year, _ = year_of_runs(base_database(args, folder), args.days)
    built = {}
    for name, first_kept in (("kept", 1), ("pruned", kept_from)):
        print(f"{name}: {args.days} runs x {args.customers:,} customers"
              + (f", skipped lines of runs {first_kept}-{args.days} only" if first_kept > 1
                 else ", every line"), flush=True)
        database = built[name] = year.child(f"bench_retention_{name}")
        if first_kept > 1:
            with database.engine().begin() as conn:
                conn.execute(text("UPDATE run SET skips_pruned_at = finished_at "
                                  "WHERE id < :kept_from"), {"kept_from": first_kept})
        print(f"  built in {fill(database, args.days, first_kept):.0f} s", flush=True)
    return built


def copies(args, folder: Path) -> dict[str, Database]:
    """The kept and pruned copies an earlier run left (``--pages-only``)."""
    if args.database_url:
        url = make_url(args.database_url)
        return {name: Database(url.set(database=f"bench_retention_{name}").render_as_string(False),
                               folder) for name in ("kept", "pruned")}
    return {name: Database(f"sqlite:///{folder / f'bench_retention_{name}.db'}", folder)
            for name in ("kept", "pruned")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--retention", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build (or reuse the base data) in this folder")
    parser.add_argument("--backlog", action="store_true",
                        help="also time the first prune of the kept copy (a year of history)")
    parser.add_argument("--pages-only", action="store_true",
                        help="only time the pages again, on the copies an earlier run with the "
                             "same --keep (or --database-url) left")
    parser.add_argument("--database-url", help="a PostgreSQL server (any database on it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runs = run_dates(args.days)
        cutoff = runs[-1][1] - timedelta(days=args.retention)
        kept_from = next((n for n, day in runs if day >= cutoff), len(runs) + 1)
        databases = copies(args, folder) if args.pages_only else build(args, folder, runs,
                                                                        kept_from)
        results = {}
        for name, database in databases.items():
            print(f"{name}: {database.size()}", flush=True)
            results[name] = (database, measure(database, folder, runs, args.customers, args.repeat))
            if not args.pages_only:
                one_more_day(database, runs, args.retention if name == "pruned" else 0)
        print(f"\n{'page':40} {'kept':>9} {'pruned':>9}")
        for label in results["kept"][1]:
            print(f"{label:40} {results['kept'][1][label]:6.0f} ms {results['pruned'][1][label]:6.0f} ms")
        if args.backlog:
            print("\nbacklog: the first prune of the kept copy", flush=True)
            backlog(results["kept"][0], runs, args.retention)
            print(f"  size after: {results['kept'][0].size()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
