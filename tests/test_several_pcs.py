"""Several PCs on one database (a chain's head office): two web servers and the scheduled run.

Each "PC" is a real process, ``python app.py``, with its own instance folder and port, all on
this test's database (PostgreSQL in the PostgreSQL run). The scheduled run sends while staff
press "Enviar agora" on both servers: exactly one run sends, nobody gets a message twice, and
both servers show the same runs and lines.
"""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

from sqlalchemy import select

from dunning.importing import import_invoices
from dunning.users import create_user
from models import Customer, OutboxLine, Run
from smtpserver import configure_station, free_port
from stations import complete_creditors

ROOT = Path(__file__).resolve().parent.parent
HEADER = "empresa;empresa_nome;cliente;nome;email;documento;vencimento;saldo\n"
CUSTOMERS = 4


class Browser:
    """A logged-in staff member's browser on one server (cookies, CSRF tokens)."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.read().decode()

    def post(self, path: str, form_page: str, data: dict[str, str]) -> str:
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', self.get(form_page))
        body = urllib.parse.urlencode({**data, "csrf_token": token.group(1)}).encode()
        with self.opener.open(self.base + path, body, timeout=60) as response:
            return response.read().decode()


def start_server(db_url: str, instance: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "APPLIANCE_INSTANCE": str(instance)}
    return subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until_serving(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/entrar", timeout=5).close()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise TimeoutError(f"the server on port {port} did not answer")


def runs_as_shown(page: str) -> str:
    """The Envios list's table, without what differs per server or per request."""
    table = page[page.index("<table"):page.index("</table>")]
    return re.sub(r"\s+", " ", html.unescape(table))


def test_two_servers_and_the_scheduled_run_on_one_database(app, db_url, session, smtp_server,
                                                           tmp_path):
    due = (date.today() - timedelta(days=40)).strftime("%d/%m/%Y")
    rows = "".join(f"1;Auto Posto Rede;C{n:02d};Cliente {n};c{n}@cliente.example.com;F{n};{due};"
                   f"100,00\n" for n in range(1, CUSTOMERS + 1))
    import_invoices(session, __import__("io").BytesIO((HEADER + rows).encode()))
    for customer in session.scalars(select(Customer)):
        customer.send_email = "sim"
    complete_creditors(session)
    configure_station(session, smtp_server, app.instance_path, smtp_timeout=120)
    create_user(session, "caixa", "senha-segura-1")
    session.commit()
    addresses = [f"c{n}@cliente.example.com" for n in range(1, CUSTOMERS + 1)]
    # The scheduled run's first message is held at the server until both PCs have tried
    # "Enviar agora" (within the run's SMTP timeout): the runs surely meet.
    smtp_server.delay = 40

    ports = [free_port(), free_port()]
    servers = [start_server(db_url, tmp_path / f"pc{i}", port) for i, port in enumerate(ports)]
    job = None
    try:
        for port, server in zip(ports, servers):
            wait_until_serving(port, server)
        browsers = [Browser(port) for port in ports]
        for browser in browsers:
            page = browser.post("/entrar", "/entrar", {"username": "caixa",
                                                       "password": "senha-segura-1"})
            assert "Sair" in page

        env = {**os.environ, "DATABASE_URL": db_url, "APPLIANCE_INSTANCE": app.instance_path}
        job = subprocess.Popen([sys.executable, "app.py", "--email_pendencia_financeira"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while smtp_server.handler.data_started < 1:  # the scheduled run is sending
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.2)
        for browser in browsers:  # "Enviar agora" on both PCs while the scheduled run sends
            # The confirmation sees the other PC's run through the shared lock and offers nothing.
            page = html.unescape(browser.get("/previa/enviar"))
            assert "já há um envio em andamento" in page and "Sim, enviar agora" not in page, page
            # A forged confirmation (a token from another form) is refused before any thread.
            page = html.unescape(browser.post("/previa/enviar", "/configuracoes/", {}))
            assert "Envio não iniciado: já há um envio em andamento" in page, page
        assert job.poll() is None, "the scheduled run was still sending"
        smtp_server.delay = 0
        out, err = job.communicate(timeout=180)
        assert job.returncode == 0, out + err
        assert f"{CUSTOMERS} enviados, 0 falhas" in out

        assert [len(smtp_server.messages_to(a)) for a in addresses] == [1] * CUSTOMERS
        session.expire_all()
        sent = session.scalars(select(OutboxLine).where(OutboxLine.status == "sent")).all()
        assert len(sent) == CUSTOMERS and len({line.run_id for line in sent}) == 1
        assert [run.sent_count for run in session.scalars(select(Run))] == [CUSTOMERS]

        # Both PCs show the same runs, the same lines, the same customer history.
        shown = [runs_as_shown(browser.get("/envios/")) for browser in browsers]
        assert shown[0] == shown[1] and f">{CUSTOMERS}<" in shown[0].replace(" ", "")
        run_id = sent[0].run_id
        lines = [runs_as_shown(browser.get(f"/envios/{run_id}")) for browser in browsers]
        assert lines[0] == lines[1] and all(a in lines[0] for a in addresses)
        customer_id = sent[0].customer_id
        history = [browser.get(f"/clientes/{customer_id}").split('id="historico"')[1]
                   for browser in browsers]
        history = [runs_as_shown(part) for part in history]
        assert history[0] == history[1]
        assert sent[0].recipients in history[0] and f"Envio nº {run_id}" in history[0]
    finally:
        for proc in (*servers, *([job] if job else [])):
            if proc.poll() is None:
                proc.terminate()
                proc.communicate(timeout=30)
