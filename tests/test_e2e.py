"""End to end: a real Chromium drives the app served over HTTP, sending to a real SMTP server.

First user, login, SMTP settings, CSV upload, a customer's and a group's policy, the preview,
"Enviar agora", the run in Envios. A screenshot of each page goes to tests/screenshots/.
"""
from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import make_server

SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live_server(app):
    """The app over real HTTP on 127.0.0.1 and a free port, in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900},
                                  locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def erp_csv(today: date) -> str:
    late = (today - timedelta(days=45)).strftime("%d/%m/%Y")
    later = (today + timedelta(days=15)).strftime("%d/%m/%Y")
    very_late = (today - timedelta(days=100)).strftime("%d/%m/%Y")
    return "\n".join([
        "empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;grupo;conta;documento;parcela;vencimento;valor;saldo",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C001;Transportadora Rápida S.A.;04.252.011/0001-10;financeiro@rapida.com.br;FROTAS;7;F1001;1;{late};1.500,00;1.234,56",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C001;Transportadora Rápida S.A.;04.252.011/0001-10;financeiro@rapida.com.br;FROTAS;7;F1001;2;{later};1.500,00;1.500,00",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C002;José da Silva ME;529.982.247-25;jose@silva.com.br;FROTAS;7;F1002;;{very_late};320,40;320,40",
        f"1;Auto Posto Estrela Ltda;11.222.333/0001-81;C003;Agropecuária Boa Vista;;contas@boavista.agr.br;;3;F1003;;{later};980,00;980,00",
    ]) + "\n"


def test_station_day_in_the_browser(page: Page, smtp_server, tmp_path):
    # First run: no user yet, so the first-run page; then log out and in again.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/primeiro-acesso$"))
    shot(page, "01-primeiro-acesso")
    page.get_by_label("Usuário").fill("gerente")
    page.get_by_label("Senha", exact=True).fill("senha-do-gerente")
    page.get_by_label("Repita a senha").fill("senha-do-gerente")
    page.get_by_role("button", name="Criar usuário e entrar").click()
    expect(page.get_by_text("Usuário gerente criado")).to_be_visible()
    page.get_by_role("button", name="Sair").click()
    expect(page).to_have_url(re.compile(r"/entrar$"))
    page.get_by_label("Usuário").fill("gerente")
    page.get_by_label("Senha").fill("errada")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_text("Usuário ou senha incorretos")).to_be_visible()
    shot(page, "02-entrar")
    page.get_by_label("Senha").fill("senha-do-gerente")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name=re.compile("Painel"))).to_be_visible()

    # SMTP settings, pointing at the test server.
    page.get_by_role("link", name="Configurações").click()
    page.get_by_label("Servidor SMTP").fill("127.0.0.1")
    page.get_by_label("Porta", exact=True).fill(str(smtp_server.port))
    page.get_by_label("Segurança").select_option("none")
    page.get_by_label("Nome do remetente").fill("Auto Posto Estrela")
    page.get_by_label("E-mail do remetente").fill("cobranca@posto.com.br")
    page.get_by_label("Tempo limite (segundos)").fill("10")
    page.get_by_role("button", name="Salvar SMTP").click()
    expect(page.get_by_text("Configuração SMTP salva.")).to_be_visible()
    page.get_by_label("Enviar para").fill("gerente@posto.com.br")
    page.get_by_role("button", name="Enviar e-mail de teste").click()
    expect(page.get_by_text("E-mail de teste enviado para gerente@posto.com.br")).to_be_visible()
    shot(page, "03-configuracoes")

    # Upload the ERP's CSV.
    csv_file = tmp_path / "faturas.csv"
    csv_file.write_text(erp_csv(date.today()), encoding="utf-8")
    page.get_by_role("link", name="Importar").click()
    shot(page, "04-importar")
    page.locator("form", has_text="Faturas (exportação do ERP)").get_by_label("Arquivo CSV").set_input_files(str(csv_file))
    page.get_by_role("button", name="Importar faturas").click()
    expect(page.get_by_role("heading", name="Faturas importadas")).to_be_visible()
    shot(page, "05-importado")

    # The customer's policy: Sim, 2 days of tolerance, an account entry.
    page.get_by_role("link", name="Clientes").click()
    page.get_by_label("Buscar por código, nome ou CPF/CNPJ").fill("Rápida")
    page.get_by_role("button", name="Filtrar").click()
    shot(page, "06-clientes")
    page.get_by_role("link", name="C001").click()
    page.get_by_label("Sim", exact=True).check()
    page.get_by_label("Dias de tolerância").fill("2")
    page.locator("#conta select").last.select_option(label="Empresa 1 · Conta 7")
    page.get_by_role("button", name="Salvar política").click()
    expect(page.get_by_text("Política do cliente salva.")).to_be_visible()
    expect(page.get_by_label("Sim", exact=True)).to_be_checked()
    expect(page.get_by_label("Dias de tolerância")).to_have_value("2")
    shot(page, "07-cliente")

    # The group's Vencimentos tab: on, so C002 (inheriting) is enabled too.
    page.get_by_role("link", name="Grupos de Pessoas").click()
    page.get_by_role("link", name="FROTAS").click()
    page.get_by_label("Enviar e-mail sobre atraso de pendências financeiras").first.check()
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Vencimentos do grupo salvos.")).to_be_visible()
    shot(page, "08-grupo")

    # The creditor's address (CDC art. 42-A): without it the company is held back.
    page.get_by_role("link", name="Empresas e Contas").click()
    page.get_by_role("link", name="1", exact=True).click()
    page.get_by_label("Endereço").fill("Av. Brasil, 1000 - Centro\nCampinas/SP")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Empresa salva.")).to_be_visible()

    # The preview shows the messages exactly as they would go.
    page.get_by_role("link", name="Pré-visualizar envio").click()
    expect(page.locator("article.message")).to_have_count(2)
    first = page.locator("article.message").first
    expect(first).to_contain_text("financeiro@rapida.com.br")
    expect(first).to_contain_text("Pendências financeiras em aberto - Auto Posto Estrela Ltda")
    frame = page.frame_locator("article.message iframe").first
    expect(frame.get_by_text("R$ 1.234,56").first).to_be_visible()
    shot(page, "09-previa")

    # Enviar agora, confirmed; the run shows in Envios.
    page.get_by_role("link", name="Enviar agora…").click()
    shot(page, "10-confirmar-envio")
    page.get_by_role("button", name="Sim, enviar agora").click()
    expect(page).to_have_url(re.compile(r"/envios/$"))
    for _ in range(50):
        if page.locator("td .badge", has_text="concluído").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator("td .badge", has_text="concluído")).to_be_visible()
    shot(page, "11-envios")
    recipients = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert recipients == ["financeiro@rapida.com.br", "gerente@posto.com.br", "jose@silva.com.br"]
    page.locator("table a").first.click()
    expect(page.get_by_text("enviado").first).to_be_visible()
    shot(page, "12-envio-detalhe")

    # The other pages render for the record.
    for name, link in [("13-painel", "Painel"), ("14-faturas", "Faturas"),
                       ("15-empresas", "Empresas e Contas"), ("16-grupos", "Grupos de Pessoas")]:
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)
    page.get_by_role("link", name="Painel", exact=True).click()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.get_by_text("Último envio")).to_be_visible()
