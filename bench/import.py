"""Benchmark the invoice import against the sqlite3 CLI's ``.import`` of the same file.

Generates an ERP export (Windows-1252, ``;``, ``1.234,56``, ``dd/mm/aaaa``) of ROWS rows for
CUSTOMERS customers and 3 companies, imports it with ``import_invoices`` into a freshly migrated
SQLite file (in a child process, so its peak memory can be read: that process's own plus its
parsing child's), and with the sqlite3 CLI just before and just after (their mean is the
baseline: the shared machine's speed drifts), and prints the times, the ratio and the peak
memory. Then times a re-import of the same file (nothing changes) and of a second file where 10%
of the rows changed.

With ``--database URL`` (a PostgreSQL server, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/
postgres``; it needs CREATE DATABASE) each step is also run on a fresh database there, right
after the same step on SQLite, and the ratio PostgreSQL / SQLite is printed (the target: at most
1.5x). ``.ci/pg.sh`` gives a throw-away server: ``.ci/pg.sh sh -c 'python bench/import.py
--database "$TEST_DATABASE_URL"'``.

    .venv/bin/python bench/import.py [--rows 1000000] [--customers 100000] [--keep DIR]
                                     [--database URL]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;grupo;conta;documento;"
          "parcela;emissao;vencimento;valor;saldo;linha_digitavel;pix;link_pagamento")
COMPANIES = [("1", "Auto Posto Estrela Ltda", "11.222.333/0001-81"),
             ("2", "Posto Estrela Filial Centro", "11.222.333/0002-62"),
             ("3", "Posto Estrela Rodovia", "11.222.333/0003-43")]


def _cpf(n: int) -> str:
    """A valid CPF derived from n, formatted as the ERP prints it."""
    base = [int(c) for c in f"{n % 10**9:09d}"]
    for size in (9, 10):
        rest = sum(d * w for d, w in zip(base, range(size + 1, 1, -1))) % 11
        base.append(0 if rest < 2 else 11 - rest)
    s = "".join(map(str, base))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


def _brl(cents: int) -> str:
    units, frac = divmod(cents, 100)
    return f"{units:,}".replace(",", ".") + f",{frac:02d}"


def generate(path: Path, rows: int, customers: int, seed: int, change: float = 0.0) -> None:
    """Write the export; with ``change`` > 0, that share of rows gets another saldo (same seed)."""
    rnd = random.Random(seed)
    flip = random.Random(seed + 1)
    start = date(2026, 1, 1)
    people = [f"C{c:06d};Cliente Número {c} Ltda;{_cpf(c)};"
              + (f"financeiro{c}@cliente{c % 997}.com.br" if c % 10 else "") + f";G{c % 50};{c % 7}"
              for c in range(customers)]
    with open(path, "w", encoding="cp1252", newline="") as out:
        out.write(HEADER + "\r\n")
        for i in range(rows):
            company, company_name, company_cnpj = COMPANIES[i % 3]
            c = rnd.randrange(customers)
            issued = start + timedelta(days=rnd.randrange(300))
            due = issued + timedelta(days=30)
            amount = rnd.randrange(1000, 500_000)
            balance = amount if rnd.random() < 0.8 else rnd.randrange(0, amount)
            if change and flip.random() < change:
                balance = max(0, balance - 1000)
            out.write(f"{company};{company_name};{company_cnpj};{people[c]};F{i:07d};{i % 4 + 1};"
                      f"{issued:%d/%m/%Y};{due:%d/%m/%Y};{_brl(amount)};{_brl(balance)};"
                      f";;https://pagar.exemplo.com.br/F{i:07d}\r\n")


def migrate(url: str, instance: Path) -> None:
    """A fresh database at the latest schema, by the real migrations."""
    sys.path.insert(0, str(ROOT))
    from flask_migrate import upgrade

    from app import create_app
    from models import db as sqla
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                      "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        sqla.engine.dispose()


def child_import(url: str, instance: Path, csv_path: Path) -> None:
    """Run one import in this process and print its time, report and peak memory as JSON."""
    sys.path.insert(0, str(ROOT))
    from app import create_app
    from dunning.importing import import_invoices
    from models import db as sqla
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                      "SECRET_KEY": "bench"})
    with app.app_context(), open(csv_path, "rb") as stream:
        started = time.perf_counter()
        report = import_invoices(sqla.session, stream)
        seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parser = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the parsing child
    print(json.dumps({"seconds": seconds, "maxrss_mb": own + parser, "own_mb": own, "parser_mb": parser,
                      "new": report.invoices_new, "updated": report.invoices_updated,
                      "settled": report.invoices_settled, "customers_new": report.customers_new}))


def run_import(url: str, instance: Path, csv_path: Path) -> dict:
    """``child_import`` in a subprocess (a clean interpreter, so its peak RSS is the import's),
    with the resident memory of it and its parsing child summed every 0.1 s: the peak of that
    sum is what the import holds at once (``maxrss_mb`` adds two peaks of different moments)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", url, str(instance),
                                str(csv_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    together = 0
    while process.poll() is None:
        together = max(together, sum(map(_rss_kib, [process.pid, *_children(process.pid)])))
        time.sleep(0.1)
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"the import failed ({process.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["together_mb"] = together / 1024
    return result


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sqlite_cli_import(db: Path, csv_path: Path) -> float:
    """Seconds the sqlite3 shell takes to load the same file into a plain table."""
    columns = ", ".join(f"{name} TEXT" for name in HEADER.split(";"))
    subprocess.run(["sqlite3", str(db), f"CREATE TABLE stage ({columns})"], check=True)
    started = time.perf_counter()
    subprocess.run(["sqlite3", str(db), ".mode csv", ".separator ;",
                    f".import --skip 1 {csv_path} stage"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--database", metavar="URL",
                        help="also import into a fresh database on this PostgreSQL server")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, instance, csv_path = args.child
        child_import(url, Path(instance), Path(csv_path))
        return

    sys.stdout.reconfigure(line_buffering=True)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        first, second = work / "faturas.csv", work / "faturas-10pct.csv"
        sizes = work / "sizes.json"
        wanted = {"rows": args.rows, "customers": args.customers}
        if not (sizes.exists() and json.loads(sizes.read_text()) == wanted):  # --keep reuses them
            started = time.perf_counter()
            generate(first, args.rows, args.customers, seed=1)
            generate(second, args.rows, args.customers, seed=1, change=0.10)
            sizes.write_text(json.dumps(wanted))
            print(f"generated 2 x {args.rows:,} rows for {args.customers:,} customers, 3 companies "
                  f"({first.stat().st_size / 1e6:.0f} MB each) in {time.perf_counter() - started:.1f} s")
        for stale in ("appliance.db", "appliance.db-wal", "appliance.db-shm", "cli-before.db",
                      "cli-after.db"):
            (work / stale).unlink(missing_ok=True)

        db, instance = work / "appliance.db", work / "instance"
        sqlite_url = f"sqlite:///{db}"
        migrate(sqlite_url, instance)
        pg_url = postgres_database(args.database) if args.database else None
        if pg_url:
            migrate(pg_url, instance)
        print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
        # The shell runs just before and just after ours: the machine's speed drifts.
        before = sqlite_cli_import(work / "cli-before.db", first)
        ours = run_import(sqlite_url, instance, first)
        after = sqlite_cli_import(work / "cli-after.db", first)
        cli = (before + after) / 2
        print(f"import-invoices : {ours['seconds']:7.2f} s  peak RSS {ours['together_mb']:.0f} MB "
              f"together (importer {ours['own_mb']:.0f} + parser {ours['parser_mb']:.0f} at their "
              f"own peaks)  ({ours['new']:,} new invoices, {ours['customers_new']:,} new customers)")
        print(f"sqlite3 .import : {before:7.2f} s before, {after:.2f} s after, mean {cli:.2f} s")
        print(f"ratio           : {ours['seconds'] / cli:7.2f}x  (target <= 3x, peak < 300 MB)")
        if pg_url:
            postgres(pg_url, instance, first, ours, "first load")

        again = run_import(sqlite_url, instance, first)
        print(f"re-import same  : {again['seconds']:7.2f} s  peak RSS {again['together_mb']:.0f} MB "
              f"together ({again['own_mb']:.0f} + {again['parser_mb']:.0f})  "
              f"({again['new']} new, {again['updated']} updated, {again['settled']} settled)")
        if pg_url:
            postgres(pg_url, instance, first, again, "re-import same")
        changed = run_import(sqlite_url, instance, second)
        print(f"10% changed     : {changed['seconds']:7.2f} s  peak RSS {changed['together_mb']:.0f} MB "
              f"together ({changed['own_mb']:.0f} + {changed['parser_mb']:.0f})  "
              f"({changed['new']} new, {changed['updated']:,} updated, {changed['settled']} settled)")
        if pg_url:
            postgres(pg_url, instance, second, changed, "10% changed")
            print(f"invoice ids used on PostgreSQL: {invoice_sequence(pg_url):,} "
                  f"(rows: {args.rows:,})")
        print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    finally:
        if args.database:
            drop_postgres_database(args.database)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


_PG_NAME = f"bench_import_{os.getpid()}"


def _admin(url: str):
    import psycopg
    from sqlalchemy import make_url
    return psycopg.connect(make_url(url).set(drivername="postgresql")
                           .render_as_string(hide_password=False), autocommit=True)


def postgres_database(url: str) -> str:
    """A new empty database on the server at ``url``; its URL."""
    from sqlalchemy import make_url
    with _admin(url) as admin:
        admin.execute(f'CREATE DATABASE "{_PG_NAME}"')
    return make_url(url).set(database=_PG_NAME).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    with _admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{_PG_NAME}" WITH (FORCE)')


def invoice_sequence(url: str) -> int:
    """The last invoice id PostgreSQL's sequence gave out."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT last_value FROM invoice_id_seq")).scalar_one()
    engine.dispose()
    return value


def postgres(url: str, instance: Path, csv_path: Path, sqlite: dict, step: str) -> None:
    """The same step on PostgreSQL, right after SQLite's, and the ratio of the two times."""
    result = run_import(url, instance, csv_path)
    print(f"  on PostgreSQL : {result['seconds']:7.2f} s  peak RSS {result['together_mb']:.0f} MB "
          f"together ({result['own_mb']:.0f} + {result['parser_mb']:.0f})  ({result['new']:,} new, "
          f"{result['updated']:,} updated, {result['settled']:,} settled)  "
          f"{result['seconds'] / sqlite['seconds']:.2f}x SQLite's {step} (target <= 1.5x)")


if __name__ == "__main__":
    main()
