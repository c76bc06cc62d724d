"""Benchmark the real run against a bare smtplib loop sending the same messages.

Loads N due customers (3 invoices each) into a freshly migrated SQLite file, starts an aiosmtpd
server in another process (the Sink handler: accepts and discards), then:

1. the bare loop: the same messages, rendered beforehand (not timed), sent with
   ``smtplib.SMTP.sendmail`` over one connection;
2. the appliance's run: ``dunning.delivery.run`` (plan, render, outbox commits before and after
   every message, one connection, log file);

each twice, interleaved (the second run 8 days later, past the resend interval).

Prints both times, the ratio and the per-message cost.

    .venv/bin/python bench/send.py [--customers 5000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import io
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 11, 27)
HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;email;documento;parcela;vencimento;saldo;"
          "linha_digitavel;pix;link_pagamento\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _csv(customers: int) -> bytes:
    rows = []
    for c in range(customers):
        for n, due in enumerate(("01/09/2026", "01/10/2026", "15/12/2026")):
            rows.append(f"{1 + c % 2};Auto Posto Estrela {1 + c % 2} Ltda;11.222.333/000{1 + c % 2}-81;"
                        f"C{c:06d};Cliente Número {c} Ltda;financeiro{c}@cliente{c % 97}.com.br;"
                        f"F{c}-{n};1;{due};{1000 + c % 5000},{n}5;34191.79001 01043.510047 {c};"
                        f"000201pix{c};https://pagar.example.com/{c}/{n}\n")
    return (HEADER + "".join(rows)).encode("utf-8")


def _start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("aiosmtpd did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from dunning.delivery import run
    from dunning.importing import import_invoices
    from dunning.rules import plan
    from dunning.smtp import SmtpConfig, build_message
    from dunning.statement import render
    from models import StationSettings, db

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-send-"))
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = _start_server(port)
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}",
                          "INSTANCE_PATH": str(work / "instance"), "SECRET_KEY": "bench"})
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            session = db.session
            import_invoices(session, io.BytesIO(_csv(args.customers)))
            session.execute(text("UPDATE customer SET send_email = 'sim'"))
            settings = StationSettings.load(session)
            settings.smtp_server, settings.smtp_port, settings.smtp_security = "127.0.0.1", port, "none"
            settings.sender_address, settings.sender_name = "cobranca@posto.example.com", "Posto"
            session.commit()

            config = SmtpConfig.from_settings(settings, app.instance_path)
            due = plan(session, AS_OF)
            messages = []
            for reminder in due.reminders:
                subject, text_part, html = render(reminder, settings, AS_OF)
                msg = build_message(config, reminder.to, reminder.customer_name, subject,
                                    text_part, html)
                messages.append((reminder.to, msg.raw))
            size = sum(len(raw) for _, raw in messages) / len(messages)

            # Interleaved, twice each (the second run on a date past the resend interval), so
            # that a change in the machine's load affects both sides alike.
            bare = ours = bare_cpu = ours_cpu = 0.0
            for as_of in (AS_OF, AS_OF + timedelta(days=8)):
                started, cpu = time.perf_counter(), time.process_time()
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as conn:
                    for to, raw in messages:
                        conn.sendmail(config.sender_address, to, raw)
                bare += time.perf_counter() - started
                bare_cpu += time.process_time() - cpu

                started, cpu = time.perf_counter(), time.process_time()
                report = run(session, as_of, app.instance_path, trigger="bench")
                ours += time.perf_counter() - started
                ours_cpu += time.process_time() - cpu
                assert report.sent == len(messages), report.to_json()["message"]
            db.engine.dispose()
    finally:
        server.terminate()
        server.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    n = 2 * len(messages)
    print(f"messages: {n} (2 x {n // 2}; average {size / 1024:.1f} KiB, multipart text + HTML)")
    print(f"bare smtplib loop (pre-rendered, one connection): {bare:7.2f} s  "
          f"{bare / n * 1000:6.2f} ms/message")
    print(f"appliance run (plan + render + outbox + send):    {ours:7.2f} s  "
          f"{ours / n * 1000:6.2f} ms/message")
    print(f"ratio: {ours / bare:.2f}x (target <= 2x)")
    print(f"CPU of this process per message: bare {bare_cpu / n * 1000:.2f} ms, "
          f"run {ours_cpu / n * 1000:.2f} ms (the rest is waiting for the server)")


if __name__ == "__main__":
    main()
