"""Staff-edited templates cannot hang or break the appliance (issue 10, item 7): rendering is
bounded in time and size, saving tries several sample reminders, and a template failing on one
customer at run time fails that customer's line only."""
from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dunning.delivery import run
from dunning.statement import Templates, validate_templates
from models import OutboxLine, StationSettings, db
from smtpserver import configure_station, free_port
from test_delivery import AS_OF, FAST, load_customers

ROOT = Path(__file__).resolve().parent.parent

RUNAWAY = {
    "laços aninhados": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "laço que imprime": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "texto multiplicado": "{{ 'x' * 1000000000 }}",
    "lista multiplicada": "{{ (range(100000)|list) * 100000 }}",
    "filtro center": "{{ 'x'|center(1000000000) }}",
    "filtro indent": "{{ 'x\ny'|indent(1000000000) }}",
    "formato %": "{{ '%1000000000s' % 'x' }}",
    "formato *": "{{ '%*s' % (1000000000, 'x') }}",
    "format()": "{{ '{:>1000000000}'.format('x') }}",
    "format() aninhado": "{{ '{:>{w}}'.format('x', w=1000000000) }}",
    "filtro format": "{{ '%1000000000s'|format('x') }}",
    "texto dobrado": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
                     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "potência": "{{ 10 ** 100000 }}",
    "recursão": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "laço recursivo": "{% for i in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}",
    "lista alterada": "{% set l = [1] %}{{ l.extend(l) }}",
}


@pytest.mark.parametrize("label", list(RUNAWAY))
def test_a_runaway_template_is_refused_within_about_a_second(staff, app, label):
    source = RUNAWAY[label]
    for kind in ("text", "html", "subject"):
        started = time.monotonic()
        response = staff.post("/configuracoes/modelos", data={kind: source, "action": "preview"})
        elapsed = time.monotonic() - started
        html = response.get_data(as_text=True)
        assert response.status_code == 400, (kind, html[-500:])
        assert "O modelo não pode ser usado" in html and "nada foi salvo" in html
        assert elapsed < 4, (label, kind, elapsed)   # 1 s budget, loose for a loaded machine
    with app.app_context():
        row = StationSettings.load(db.session)
        assert (row.subject_template, row.text_template, row.html_template) == ("", "", "")


@pytest.mark.parametrize("source,sample", [
    ("{{ companies[0].invoices[1].document }}", "uma fatura"),
    ("x{% if companies|length > 1 %}{{ companies[1].invoices[5].document }}{% endif %}",
     "várias empresas"),
    ("{{ 1 // (companies[0].invoices[0].pix_code|length) }}", "sem dados de pagamento"),
    ("{{ companies[0].address.split(' - ')[1] }}", "sem dados de pagamento, contato nem endereço"),
    ("{{ 100 // (contact_line|length) }}", "sem dados de pagamento, contato nem endereço"),
    ("{{ reminder.customer_name[0] }}", "sem dados de pagamento, contato nem endereço"),
    ("{% for i in range(reminder.invoices|length * 3000) %}{{ reminder.customer_name }}"
     "{% endfor %}", "muitas faturas"),
])
def test_saving_tries_several_sample_reminders(staff, app, source, sample):
    """Each template renders the complete sample but fails on a case real customers have."""
    from dunning.statement import default_templates
    for kind in ("text", "html"):
        # The built-in body first: a saved template must name the creditor (CDC art. 42-A).
        body = getattr(default_templates(), kind) + source
        response = staff.post("/configuracoes/modelos", data={kind: body, "action": "save"})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, (kind, source)
        assert "O modelo não pode ser usado" in html
        assert f"no exemplo &#34;{sample}" in html or f'no exemplo "{sample}' in html, html[-800:]


def test_validation_takes_more_checks_for_other_template_sets(app):
    """A rule on the rendered message (another template set's, e.g. the creditor's name)."""
    from datetime import date
    from dunning.statement import default_templates

    def names_the_creditor(reminder, subject, text, html):
        if any(c.name and c.name not in text for c in reminder.companies):
            return "text", "O texto precisa dizer o nome da empresa credora."
        return None

    with app.app_context():
        settings = StationSettings.load(db.session)
        as_of = date(2026, 11, 28)
        assert validate_templates(default_templates(), settings, as_of, checks=(names_the_creditor,)) == {}
        errors = validate_templates(Templates(text="Olá {{ reminder.customer_name }}"), settings,
                                    as_of, checks=(names_the_creditor,))
        assert errors == {"text": "O texto precisa dizer o nome da empresa credora."}


def _save_unchecked(session, **templates) -> None:
    """Templates stored before these checks existed (or edited in the database)."""
    row = StationSettings.load(session)
    for kind, source in templates.items():
        setattr(row, f"{kind}_template", source)
    session.commit()


def test_a_template_failing_on_one_customer_fails_only_that_line(app, session, smtp_server,
                                                                 staff):
    no_pix = ("1;Auto Posto Teste Ltda;11.222.333/0001-81;C04;Cliente 4;c4@cliente.example.com;"
              "F4;1;01/10/2026;9,99;;;\n")
    addresses = load_customers(session, 3, extra_rows=no_pix)
    configure_station(session, smtp_server, app.instance_path)
    _save_unchecked(session, text="Pix: {{ companies[0].invoices[0].pix_code[0] }}")
    preview = staff.get("/previa/?data=2026-11-27").get_data(as_text=True)
    assert "A mensagem deste cliente não pode ser montada" in preview and "C04" in preview
    report = run(session, AS_OF, app.instance_path, options=FAST)
    statuses = {line.customer: (line.status, line.smtp_reply) for line in report.lines}
    assert [statuses[f"C0{n}"][0] for n in (1, 2, 3)] == ["sent"] * 3
    assert statuses["C04"][0] == "failed_temporary"
    assert "Erro ao montar a mensagem" in statuses["C04"][1]
    assert report.exit_code == 1 and report.status != "stopped"
    assert [len(smtp_server.messages_to(a)) for a in addresses] == [1, 1, 1]
    # Once the template is fixed, the next run of the date sends the one left.
    _save_unchecked(session, text="")
    again = run(session, AS_OF, app.instance_path, options=FAST)
    assert [line.status for line in again.lines if line.customer == "C04"] == ["sent"]


def test_a_runaway_template_at_run_time_fails_each_line_quickly(app, session, smtp_server):
    load_customers(session, 3)
    configure_station(session, smtp_server, app.instance_path)
    _save_unchecked(session, html=RUNAWAY["laços aninhados"])
    started = time.monotonic()
    report = run(session, AS_OF, app.instance_path, options=FAST)
    assert time.monotonic() - started < 15
    assert {line.status for line in report.lines} == {"failed_temporary"}
    assert all("demorou mais de 1 s" in line.smtp_reply for line in report.lines)
    assert session.query(OutboxLine).filter_by(status="failed_temporary").count() == 3


def test_the_real_server_stays_responsive_during_a_runaway_preview(app, session, tmp_path, db_url):
    """``python app.py`` (waitress, 4 threads): a runaway preview errors in about a second and
    other pages answer meanwhile."""
    from dunning.users import create_user
    create_user(session, "caixa", "senha-segura-1")
    db.engine.dispose()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url,
           "APPLIANCE_INSTANCE": str(tmp_path / "instance")}
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        deadline = time.monotonic() + 60
        while True:
            try:
                page = opener.open(base + "/entrar", timeout=5).read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None, server.stdout.read()
                time.sleep(0.3)

        def post(path, page_html, **fields):
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page_html).group(1)
            data = urllib.parse.urlencode({"csrf_token": token, **fields}).encode()
            try:
                response = opener.open(base + path, data=data, timeout=30)
                return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        post("/entrar", page, username="caixa", password="senha-segura-1")
        settings_page = opener.open(base + "/configuracoes/", timeout=10).read().decode()
        results = {}

        def runaway(n):
            started = time.monotonic()
            results[n] = (*post("/configuracoes/modelos", settings_page,
                                text=RUNAWAY["laços aninhados"], action="preview"),
                          time.monotonic() - started)

        threads = [threading.Thread(target=runaway, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert opener.open(base + "/configuracoes/", timeout=30).status == 200
        other_page = time.monotonic() - started
        for thread in threads:
            thread.join(60)
        for status, html, elapsed in results.values():
            assert status == 400 and "demorou mais de 1 s" in html
            assert elapsed < 8, elapsed
        assert other_page < 8
        assert opener.open(base + "/", timeout=10).status == 200      # still serving
    finally:
        server.terminate()
        server.wait(10)
