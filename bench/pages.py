"""Benchmark: median response time of the busiest pages with 100,000 customers / 1,000,000 invoices.

Usage: .venv/bin/python bench/pages.py [--customers N] [--invoices N] [--repeat N] [--keep FILE]

Builds the same data set as bench/plan.py (a migrated SQLite file filled with Core executemany),
logs in with the Flask test client and requests each page --repeat times (after one warm-up
request), printing the median and the slowest time. Target: median under 300 ms each.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import create_app  # noqa: E402
from dunning.users import create_user  # noqa: E402
from models import db  # noqa: E402
from plan import ensure_built  # noqa: E402  (bench/plan.py: one data set for both benchmarks)

TARGET_MS = 300


def pages(customers: int, per_page: int) -> list[tuple[str, str]]:
    middle = max(1, customers // per_page // 2)
    return [
        ("Painel", "/"),
        ("Clientes, página 1", "/clientes/"),
        (f"Clientes, página {middle}", f"/clientes/?page={middle}"),
        ("Clientes, busca por nome", "/clientes/?q=Cliente+5123"),
        ("Clientes, busca por código", "/clientes/?q=C04"),
        ("Clientes, com pendências vencidas", "/clientes/?vencidas=1"),
        ("Faturas, página 1", "/faturas/"),
        ("Faturas, página 5000", "/faturas/?page=5000"),
        ("Faturas, vencidas", "/faturas/?vencidas=1"),
        ("Faturas, de um cliente", "/faturas/?cliente=C000042"),
    ]


def measure(path: Path, customers: int, repeat: int) -> bool:
    """Time every page; True when all medians are under the target."""
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "INSTANCE_PATH": str(path.parent / "instance")})
    with app.app_context():
        if db.session.scalar(db.text("SELECT count(*) FROM user")) == 0:
            create_user(db.session, "bench", "bench-password")
    client = app.test_client()
    client.post("/entrar", data={"username": "bench", "password": "bench-password"})
    ok = True
    print(f"{'page':40} {'median':>9} {'max':>9}")
    for label, url in pages(customers, app.config["PER_PAGE"]):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        median = statistics.median(times)
        ok &= median < TARGET_MS
        print(f"{label:40} {median:7.0f} ms {max(times):7.0f} ms  {url}")
    # Not part of the target: the preview computes the whole plan (bench/plan.py) on every view.
    started = time.perf_counter()
    response = client.get("/previa/")
    assert response.status_code == 200
    print(f"{'(Pré-visualizar envio, 1 request)':40} {(time.perf_counter() - started) * 1000:7.0f} ms"
          f"             /previa/")
    with app.app_context():
        db.engine.dispose()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build (or reuse) this database file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.db"
        ensure_built(path, args.customers, args.invoices)
        ok = measure(path, args.customers, args.repeat)
    print("all medians under %d ms" % TARGET_MS if ok else "SOME PAGES OVER %d ms" % TARGET_MS)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
