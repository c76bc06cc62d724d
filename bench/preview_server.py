"""Benchmark: today's "Pré-visualizar envio" from the real server, at delays after a change.

Usage: .venv/bin/python bench/preview_server.py [--keep FILE | --database-url URL]
                                                [--delays 0,1,2,3,5] [--rounds 2]

Builds (or reuses) bench/plan.py's data set, starts ``python app.py`` on it (waitress, the server's
look ahead on, as a station runs it), signs in, then for each delay: changes a setting from the
command line in another process (``flask settings set intervalo_reenvio``, as an import or another
PC would change the data), waits that long after the command has returned, and times one view of
today's preview and one more right after it. Between two changes the data rests 8 s.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from plan import ensure_built  # noqa: E402

REST_SECONDS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signed_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/entrar").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    answer = session.post(f"{base}/entrar", data={"csrf_token": token, "username": username,
                                                   "password": password})
    assert "/sair" in answer.text, "signed in"
    return session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build (or reuse) this SQLite database file")
    parser.add_argument("--database-url", help="an empty database to fill, or one already filled")
    parser.add_argument("--delays", default="0,1,2,3,5", help="seconds after the change")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = ensure_built(args.database_url or args.keep or Path(tempfile.gettempdir())
                       / "bench-preview-server.db", 100_000, 1_000_000)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    instance = Path(tempfile.gettempdir()) / "bench-preview-server-instance"
    env = {**os.environ, "DATABASE_URL": url, "APPLIANCE_INSTANCE": str(instance)}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "create-user", "bench",
                    "--password-stdin"], cwd=ROOT, env=env, input="bench-password\n", text=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)   # fails once it exists
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                requests.get(f"{base}/entrar", timeout=1)
                break
            except (requests.ConnectionError, urllib.error.URLError):
                time.sleep(0.2)
        browser = signed_in(base, "bench", "bench-password")

        def view() -> float:
            started = time.perf_counter()
            assert browser.get(f"{base}/previa/").status_code == 200
            return time.perf_counter() - started

        time.sleep(REST_SECONDS)
        print(f"today's preview, data unchanged: {view():.2f} s", flush=True)
        value = "7"
        for _ in range(args.rounds):
            for delay in (float(d) for d in args.delays.split(",")):
                value = "8" if value == "7" else "7"
                subprocess.run([sys.executable, "-m", "flask", "--app", "app", "settings", "set",
                                "intervalo_reenvio", value], cwd=ROOT, env=env, check=True,
                               stdout=subprocess.DEVNULL)
                time.sleep(delay)
                first, again = view(), view()
                print(f"{delay:3.0f} s after a change: {first:.2f} s, the same view again "
                      f"{again:.2f} s", flush=True)
                time.sleep(REST_SECONDS)
    finally:
        server.terminate()
        server.wait()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
