"""Benchmark the import folder against ``import-invoices`` of the same file, in the same run.

Generates bench/import.py's ERP export (1,000,000 rows, 100,000 customers, 3 companies), then,
``--rounds`` times and alternating which goes first, times on a freshly migrated database each:

* ``flask --app app import-invoices FILE`` (a process of its own, as staff run it), and
* ``flask --app app import-folder`` with the same file alone in the configured import folder
  (copied there and dated two minutes ago; the time includes moving it to importados/).

Both are whole processes (interpreter start-up included), timed from outside. Prints the times
and their ratio; the load average is printed too (other work on the machine skews both).

    .venv/bin/python bench/folder.py [--rows 1000000] [--customers 100000] [--rounds 2]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
bench_import = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_import)


def flask(db: Path, instance: Path, *args: str) -> float:
    """Run ``flask --app app ARGS`` on ``db``; its wall time in seconds (exit 0 required)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "APPLIANCE_INSTANCE": str(instance)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def fresh(work: Path, name: str) -> tuple[Path, Path]:
    """A migrated database and its instance folder."""
    db, instance = work / f"{name}.db", work / f"{name}-instance"
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir()
    bench_import.migrate(f"sqlite:///{db}", instance)
    return db, instance


def time_cli(work: Path, csv_path: Path) -> float:
    db, instance = fresh(work, "cli")
    return flask(db, instance, "import-invoices", str(csv_path))


def time_folder(work: Path, csv_path: Path) -> float:
    db, instance = fresh(work, "folder")
    folder = work / "pasta"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    flask(db, instance, "configure-import", "--folder", str(folder))
    target = folder / csv_path.name
    shutil.copy(csv_path, target)
    when = time.time() - 120
    os.utime(target, (when, when))
    return flask(db, instance, "import-folder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-folder-") as tmp:
        work = Path(tmp)
        csv_path = work / "faturas.csv"
        bench_import.generate(csv_path, args.rows, args.customers, seed=7)
        print(f"file: {args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        cli, folder = [], []
        for round_ in range(args.rounds):
            order = [("cli", time_cli), ("folder", time_folder)]
            if round_ % 2:
                order.reverse()
            for name, timer in order:
                seconds = timer(work, csv_path)
                (cli if name == "cli" else folder).append(seconds)
                print(f"round {round_ + 1}: {name:6s} {seconds:6.1f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        best_cli, best_folder = min(cli), min(folder)
        print(f"best import-invoices: {best_cli:.1f} s; best import-folder: {best_folder:.1f} s; "
              f"folder/cli = {best_folder / best_cli:.2f}")


if __name__ == "__main__":
    main()
