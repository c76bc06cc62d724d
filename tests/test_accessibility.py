"""Every page through axe-core (WCAG 2.0/2.1 A and AA plus best practices) and at 640 px / 390 px.

A real Chromium visits every page the app's url_map has (logged out and in, with a form error
showing and without, results and error pages) on a station with data; axe-core is injected from
tests/axe/node_modules (``npm ci`` there; pinned by tests/axe/package-lock.json), never from a CDN.
At 640 px (200% zoom of a 1280 px screen) and 390 px (a phone) no page may be wider than the view:
wide tables scroll inside their own box. A POST endpoint added without a form-error case here, or
a page with an argument this file cannot fill, fails the test, so new pages get checked too.
"""
from __future__ import annotations

import os
import re
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import make_server

from app import create_app
from conftest import ON_POSTGRESQL, copy_of_migrated
from dunning.crypto import encrypt_secret
from models import StationSettings, db

HERE = Path(__file__).resolve().parent
AXE = HERE / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1366, "height": 900}
NARROW = (640, 390)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
USER, PASSWORD = "gerente", "senha-do-gerente"


def erp_csv(today: date) -> str:
    """Customers with long names and addresses, and a Pix code and payment link without a
    single space (as ERPs export them), so the narrow widths are really tried."""
    late = (today - timedelta(days=45)).strftime("%d/%m/%Y")
    later = (today + timedelta(days=15)).strftime("%d/%m/%Y")
    head = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;grupo;conta;documento;"
            "parcela;vencimento;valor;saldo;linha_digitavel;pix;link_pagamento")
    line = "34191790010104351004791020150008512340000123456"
    pix = ("00020126580014BR.GOV.BCB.PIX0136123e4567-e12b-12d1-a456-426655440000520400005303986"
           "5406123456802BR5925AUTO POSTO ESTRELA LTDA6009SAO PAULO62070503***6304ABCD")
    link = "https://pagamentos.autopostoestrela.com.br/boletos/2026/F1001-0001-segunda-via-atualizada"
    return "\n".join([
        head,
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C001;Transportadora Rápida Interestadual de "
        f"Cargas Pesadas S.A.;04.252.011/0001-10;financeiro.contas.a.pagar@transportadorarapida.com.br;"
        f"FROTAS;7;F1001;1;{late};1.500,00;1.234,56;{line};{pix};{link}",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C002;José da Silva ME;529.982.247-25;"
        f"jose@silva.com.br;FROTAS;7;F1002;;{late};320,40;320,40;;;",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C003;Agropecuária Boa Vista;;"
        f"contas@boavista.agr.br;;3;F1003;;{later};980,00;980,00;;;",
    ]) + "\n"


@pytest.fixture(scope="module")
def station(migrated_db, tmp_path_factory):
    """An app on its own database, served over HTTP, and an SMTP server to send a run to."""
    from smtpserver import SmtpServer
    folder = tmp_path_factory.mktemp("a11y")
    url, release = copy_of_migrated(migrated_db, folder)
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SMTP_BACKOFF": 0.01,
                      "SQLALCHEMY_DATABASE_URI": url,
                      "INSTANCE_PATH": str(folder / "instance")})
    smtp = SmtpServer(folder).start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}", smtp, folder
    server.shutdown()
    thread.join(10)
    smtp.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    release()


@pytest.fixture(scope="module")
def browser():
    assert AXE.is_file(), f"axe-core is missing: run `npm ci` in {AXE.parents[2]}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def new_page(browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="pt-BR",
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (rule, impact, elements)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in result["violations"]]


def overflow(page: Page) -> list[str]:
    """Widths at which the page is wider than the view (the view scrolls sideways)."""
    found = []
    for width in NARROW:
        page.set_viewport_size({"width": width, "height": 900})
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            culprits = page.evaluate("""w => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .filter(e => !e.closest('.scroll'))
                .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                                     + (e.className && e.className.baseVal === undefined
                                        ? '.' + e.className.split(' ').join('.') : ''))""", width)
            found.append(f"{scroll} px wide at {width} px ({', '.join(culprits)})")
    page.set_viewport_size(DESKTOP)
    return found


# The guide's pictures (docs/img), taken here so they show the pages as they are. They are
# rewritten only with GUIDE_SCREENSHOTS=1 (`make guide-images`), else go to tests/screenshots/.
GUIDE_SHOTS = {"entrar com erro": "entrar", "settings.index": "configuracoes",
               "imports.index": "importar", "customers.show": "cliente", "preview.index": "previa",
               "runs.index": "envios"}
SHOTS = (HERE.parent / "docs" / "img") if os.environ.get("GUIDE_SCREENSHOTS") == "1" \
    else HERE / "screenshots" / "guide"


class Checker:
    """Runs both checks on each page state and collects every problem before failing."""

    def __init__(self):
        self.problems: list[str] = []
        self.seen: list[str] = []

    def __call__(self, page: Page, name: str) -> None:
        expect(page.locator("h1").first).to_be_visible()
        self.seen.append(name)
        if name in GUIDE_SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{GUIDE_SHOTS[name]}.png"))
        for violation in axe_violations(page):
            self.problems.append(f"{name} [{page.url}]: {violation}")
        for wide in overflow(page):
            self.problems.append(f"{name} [{page.url}]: {wide}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def submit(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()


def log_in(page: Page) -> None:
    page.goto("/entrar")
    page.get_by_label("Usuário").fill(USER)
    page.get_by_label("Senha").fill(PASSWORD)
    submit(page, "Entrar")


def seed(app, smtp, folder: Path, page: Page) -> dict[str, int]:
    """Data on every page: an import through the browser, policies, a run with a failure."""
    from dunning.delivery import DeliveryOptions, run
    from models import Company, Customer, CustomerGroup, ImportRecord, OutboxLine, Run
    from smtpserver import configure_station
    csv = folder / "faturas.csv"
    csv.write_text(erp_csv(date.today()), encoding="utf-8")
    page.goto("/importar/")
    page.locator("form", has_text="Faturas (exportação do ERP)").get_by_label("Arquivo CSV") \
        .set_input_files(str(csv))
    submit(page, "Importar faturas")
    with app.app_context():
        for customer in db.session.scalars(db.select(Customer)):
            customer.send_email = "sim"
        configure_station(db.session, smtp, app.instance_path)
        company = db.session.scalars(db.select(Company)).first()
        company.address = "Rodovia BR-040, km 12, Setor de Postos, Brasília - DF, CEP 70000-000"
        db.session.commit()
        smtp.script("jose@silva.com.br", "550 5.1.1 Caixa postal inexistente", times=5)
        run(db.session, date.today(), app.instance_path, trigger="manual",
            options=DeliveryOptions(attempts=1, backoff=0.01))
        failed = db.session.scalars(db.select(OutboxLine).where(
            OutboxLine.status == "failed_permanent")).first()
        return {"customer_id": db.session.scalars(db.select(Customer.id).where(
                    Customer.code == "C001")).one(),
                "group_id": db.session.scalars(db.select(CustomerGroup.id)).first(),
                "company_id": company.id,
                "run_id": db.session.scalars(db.select(Run.id)).first(),
                "line_id": failed.id,
                "record_id": db.session.scalars(db.select(ImportRecord.id)).first()}


# POST endpoints and how to show each one's form error in the browser (None: a button with no
# field that can be wrong, or an action checked elsewhere). A new POST endpoint must be added here.
def _err_customer(page, ids):
    page.goto(f"/clientes/{ids['customer_id']}")
    page.get_by_label("Dias de tolerância").fill("-5")
    submit(page, "Salvar política")


def _err_customer_emails(page, ids):
    page.goto(f"/clientes/{ids['customer_id']}")
    page.get_by_label("E-mails", exact=True).fill("isto não é e-mail")
    submit(page, "Salvar e-mails")


def _err_group(page, ids):
    page.goto(f"/grupos/{ids['group_id']}")
    page.get_by_label("Dias de tolerância").fill("-5")
    submit(page, "Salvar")


def _err_company(page, ids):
    page.goto(f"/empresas/{ids['company_id']}")
    page.get_by_label("E-mail", exact=True).fill("sem-arroba")
    submit(page, "Salvar")


def _err_smtp(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Servidor SMTP").fill("")
    submit(page, "Salvar SMTP")


def _err_smtp_oauth(page, ids):
    """Microsoft 365 (OAuth 2.0) chosen without its directory (tenant) id: the OAuth fields,
    shown by static/oauth.js for that method, with their error."""
    page.goto("/configuracoes/")
    page.get_by_label("Forma de entrada").select_option("microsoft")
    expect(page.get_by_label("Senha", exact=True)).to_be_hidden()
    page.get_by_label("ID do aplicativo").fill(OAUTH_CLIENT)
    page.get_by_label("ID do diretório").fill("")
    submit(page, "Salvar SMTP")
    expect(page.get_by_text("Informe o ID do diretório (tenant)")).to_be_visible()


def _smtp_oauth_saved(page, ids):
    """Saved with Microsoft 365: the note (authorize below) and the authorization box with its
    button."""
    page.goto("/configuracoes/")
    page.get_by_label("Forma de entrada").select_option("microsoft")
    page.get_by_label("ID do diretório").fill(OAUTH_TENANT)
    page.get_by_label("ID do aplicativo").fill(OAUTH_CLIENT)
    submit(page, "Salvar SMTP")
    expect(page.get_by_text("Falta autorizar o envio")).to_be_visible()
    expect(page.get_by_role("button", name="Autorizar", exact=True)).to_be_visible()


def _err_test_email(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Enviar para").fill("")
    submit(page, "Enviar e-mail de teste")


def _err_sending(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Reenviar a cada (dias)").fill("999")
    submit(page, "Salvar envio")


def _err_templates(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Assunto").fill("{{ cliente.nome ")
    submit(page, "Salvar modelos")


def _preview_templates(page, ids):
    page.goto("/configuracoes/")
    submit(page, "Pré-visualizar")


def _err_backup(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Pasta dos backups").fill("pasta/relativa")
    submit(page, "Salvar backup")


def _err_collection(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Multa por atraso (%)").fill("5")
    submit(page, "Salvar régua")


def _err_retention(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Guardar a lista dos clientes ignorados por (dias)").fill("-1")
    submit(page, "Salvar histórico")


def _err_levels(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Dias de atraso do nível 2").fill("x")
    submit(page, "Salvar níveis")


def _err_import_settings(page, ids):
    page.goto("/configuracoes/")
    page.get_by_label("Pasta de importação").fill("/nao/existe/pasta")
    page.get_by_label("Idade máxima dos dados de faturas (horas)").fill("-1")
    submit(page, "Salvar importação")


def _upload(page, form_text: str, button: str, path: Path):
    page.goto("/importar/")
    page.locator("form", has_text=form_text).get_by_label("Arquivo CSV").set_input_files(str(path))
    submit(page, button)


def _err_import_invoices(page, ids, folder: Path):
    bad = folder / "ruim.csv"
    bad.write_text("empresa;cliente;documento;vencimento;saldo\n1;C001;F9;31/02/2026;abc\n",
                   encoding="utf-8")
    _upload(page, "Faturas (exportação do ERP)", "Importar faturas", bad)


def _err_import_policies(page, ids, folder: Path):
    bad = folder / "politicas-ruins.csv"
    bad.write_text("tipo;codigo;empresa;conta;enviar_email;dias_tolerancia\ncliente;C001;;;talvez;x\n",
                   encoding="utf-8")
    _upload(page, "Políticas de cobrança", "Importar políticas", bad)


def _done_import_policies(page, ids, folder: Path):
    good = folder / "politicas.csv"
    good.write_text("tipo;codigo;empresa;conta;enviar_email;dias_tolerancia\ncliente;C001;;;sim;2\n",
                    encoding="utf-8")
    _upload(page, "Políticas de cobrança", "Importar políticas", good)


def _err_password(page, ids):
    page.goto("/senha")
    page.get_by_label("Senha atual").fill("nao-e-esta")
    page.get_by_label("Nova senha", exact=True).fill("outra-senha-boa")
    page.get_by_label("Repita a nova senha").fill("outra-senha-boa")
    submit(page, "Trocar senha")


FORM_ERRORS = {
    "auth.password": [_err_password],
    "customers.show": [_err_customer],
    "customers.emails": [_err_customer_emails],
    "groups.show": [_err_group],
    "companies.show": [_err_company],
    # Last: the station signs in with OAuth 2.0 from then on (its failing state: below).
    "settings.smtp": [_err_smtp, _err_smtp_oauth, _smtp_oauth_saved],
    "settings.test_email": [_err_test_email],
    "settings.sending": [_err_sending],
    "settings.templates": [_err_templates, _preview_templates],
    # On PostgreSQL the backup section has no form (backups are pg_dump's job there).
    "settings.backup_settings": None if ON_POSTGRESQL else [_err_backup],
    "settings.collection": [_err_collection],
    "settings.retention": [_err_retention],
    "settings.levels": [_err_levels],
    "settings.importing": [_err_import_settings],
    "imports.invoices": [_err_import_invoices],  # its success page is seen while seeding
    "imports.policies": [_err_import_policies, _done_import_policies],
    # Only a button: nothing to get wrong.
    "settings.restore_templates": None, "settings.backup_now": None, "auth.logout": None,
    # Only a button; its pages (device code, Configurações' OAuth block) are checked in
    # tests/test_oauth_views.py with a real authority.
    "oauth.authorize": None,
    # A confirmed action (its GET page, the confirmation, is checked as a page).
    "preview.send_now": None, "runs.resend": None,
    # Checked logged out, below.
    "auth.login": None, "auth.setup": None,
}
NOT_PAGES = {"static", "favicon", "imports.export", "guide.image",  # a stylesheet, the icon, a CSV,
              "oauth.status"}  # a picture, the device-code page's JSON
OAUTH_TENANT, OAUTH_CLIENT = "posto.onmicrosoft.com", "11111111-2222-3333-4444-555555555555"
LOGGED_OUT = {"auth.login", "auth.setup"}  # checked first, before any user exists


def pages_of(app, ids: dict[str, int]) -> list[tuple[str, str]]:
    """Every GET page of the url_map, with sample values for its arguments."""
    found = []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in NOT_PAGES | LOGGED_OUT:
                continue
            missing = [a for a in rule.arguments if a not in ids]
            assert not missing, (f"{rule.rule}: give tests/test_accessibility.py's seed() a sample "
                                 f"for {missing}")
            found.append((rule.endpoint, rule.build({a: ids[a] for a in rule.arguments})[1]))
    return found


def test_every_page_passes_axe_and_fits_narrow_views(station, browser):
    app, base_url, smtp, folder = station
    check = Checker()
    page = new_page(browser, base_url)

    # Logged out: the first access (no user yet), with an error, then the login page.
    page.goto("/")
    check(page, "primeiro acesso")
    page.get_by_label("Usuário").fill(USER)
    page.get_by_label("Senha", exact=True).fill(PASSWORD)
    page.get_by_label("Repita a senha").fill("outra-senha-qualquer")
    submit(page, "Criar usuário e entrar")
    check(page, "primeiro acesso com erro")
    page.get_by_label("Senha", exact=True).fill(PASSWORD)
    page.get_by_label("Repita a senha").fill(PASSWORD)
    submit(page, "Criar usuário e entrar")
    submit(page, "Sair")
    check(page, "entrar")
    page.get_by_label("Usuário").fill(USER)
    page.get_by_label("Senha").fill("errada")
    submit(page, "Entrar")
    expect(page.get_by_role("alert")).to_contain_text("Usuário ou senha incorretos")
    check(page, "entrar com erro")
    page.goto("/nao-existe")
    check(page, "404 sem login")

    log_in(page)
    ids = seed(app, smtp, folder, page)
    check(page, "faturas importadas")

    for endpoint, url in pages_of(app, ids):
        page.goto(url)
        check(page, endpoint)

    # The seed's run makes every customer "enviado recentemente" today: a later date shows the
    # messages themselves, Pix code and unbroken linha digitável included.
    page.goto(f"/previa/?data={(date.today() + timedelta(days=10)).isoformat()}")
    expect(page.locator("article.message pre").first).to_contain_text("Pix copia e cola")
    check(page, "prévia com mensagens")

    post_endpoints = {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods}
    unknown = post_endpoints - set(FORM_ERRORS)
    assert not unknown, f"add a form-error case for {sorted(unknown)} to FORM_ERRORS"
    for endpoint, cases in FORM_ERRORS.items():
        for case in cases or ():
            if "folder" in case.__code__.co_varnames[:case.__code__.co_argcount]:
                case(page, ids, folder)
            else:
                case(page, ids)
            check(page, f"{endpoint}: {case.__name__}")

    # The OAuth 2.0 authorization failing (as a refused refresh records it): the red warnings in
    # Configurações and on the Painel.
    with app.app_context():
        settings = StationSettings.load(db.session)
        assert settings.smtp_auth_method == "microsoft"
        settings.oauth_refresh_token_encrypted = encrypt_secret(app.instance_path, "rt")
        settings.oauth_account, settings.oauth_failed_at = "cobranca@posto.com.br", datetime.now()
        settings.oauth_error = ("Microsoft recusou a autorização (invalid_grant: AADSTS70000: "
                                "The refresh token has expired or has been revoked.)")
        db.session.commit()
    page.goto("/configuracoes/")
    expect(page.get_by_text("A autorização está falhando")).to_be_visible()
    check(page, "configurações com a autorização OAuth 2.0 falhando")
    page.goto("/")
    expect(page.locator("#autorizacao-email")).to_contain_text("falhando")
    check(page, "painel com a autorização OAuth 2.0 falhando")

    page.goto("/nao-existe")
    check(page, "404")
    page.goto("/")
    page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
        f.action = '/configuracoes/envio'; document.body.append(f); f.submit(); }""")
    page.wait_for_load_state()
    check(page, "formulário expirado (CSRF)")
    page.context.close()

    assert len(check.seen) >= 30, check.seen
    check.assert_clean()


def test_a_planted_violation_fails_the_check(station, browser):
    app, base_url, smtp, folder = station
    page = new_page(browser, base_url)
    page.goto("/entrar")
    assert axe_violations(page) == [] and overflow(page) == []

    page.evaluate("""() => {
        document.querySelector('main').insertAdjacentHTML('beforeend',
            '<img src="/static/style.css"><div style="width: 1000px">largo</div>');
        document.querySelector('label[for=password]').remove(); }""")

    violations = axe_violations(page)
    assert any(v.startswith("image-alt") for v in violations), violations
    assert any(v.startswith("label") for v in violations), violations
    assert [re.match(r"\d+ px wide at (\d+) px", w).group(1) for w in overflow(page)] == ["640", "390"]
    check = Checker()
    check(page, "plantada")
    with pytest.raises(AssertionError, match="image-alt"):
        check.assert_clean()
    page.context.close()
