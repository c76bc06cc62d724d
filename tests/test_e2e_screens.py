"""Screens seen in a real Chromium (issue 10 items 16 and 17): results where the person is looking
in Configurações, and "Enviar agora" while another run is going."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dunning.users import create_user
from models import db
from smtpserver import configure_station
from test_e2e import browser, live_server, page  # noqa: F401 - the shared browser fixtures


@pytest.fixture
def signed_in(app, page: Page) -> Page:  # noqa: F811
    with app.app_context():
        create_user(db.session, "gerente", "senha-do-gerente")
    page.goto("/entrar")
    page.get_by_label("Usuário").fill("gerente")
    page.get_by_label("Senha").fill("senha-do-gerente")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name=re.compile("Painel"))).to_be_visible()
    page.set_viewport_size({"width": 1366, "height": 700})
    return page


def _result(page: Page, text: str):
    """The result must be on screen and focused (read first by a screen reader)."""
    result = page.locator(".flash", has_text=text)
    expect(result).to_be_visible()
    expect(result).to_be_in_viewport()
    expect(result).to_be_focused()
    return result


def test_every_configuracoes_result_shows_where_the_person_is_looking(signed_in: Page, app,
                                                                     smtp_server, tmp_path):
    page = signed_in
    page.goto("/configuracoes/")
    page.get_by_label("Servidor SMTP").fill("127.0.0.1")
    page.get_by_label("Porta", exact=True).fill(str(smtp_server.port))
    page.get_by_label("Segurança").select_option("none")
    page.get_by_label("E-mail do remetente").fill("cobranca@posto.com.br")
    page.get_by_label("Tempo limite (segundos)").fill("10")
    page.get_by_role("button", name="Salvar SMTP").click()
    _result(page, "Configuração SMTP salva.")

    page.get_by_label("Enviar para").fill("gerente@posto.com.br")
    page.get_by_role("button", name="Enviar e-mail de teste").click()
    _result(page, "E-mail de teste enviado para gerente@posto.com.br")

    page.get_by_label("Reenviar a cada (dias)").fill("5")
    page.get_by_role("button", name="Salvar envio").click()
    _result(page, "Configurações de envio salvas.")
    expect(page.locator(".flash", has_text="Configuração SMTP salva.")).to_have_count(0)

    page.get_by_label("Reenviar a cada (dias)").fill("-1")
    page.get_by_role("button", name="Salvar envio").click()
    _result(page, "Corrija os campos indicados")

    page.get_by_role("button", name="Salvar modelos").click()
    _result(page, "Modelos de e-mail salvos.")
    page.get_by_label("Assunto").fill("{{ cliente.nome ")
    page.get_by_role("button", name="Salvar modelos").click()
    _result(page, "Modelo com erro; nada foi salvo.")

    page.get_by_label("Pasta de importação").fill(str(tmp_path))
    page.get_by_role("button", name="Salvar importação").click()
    _result(page, "Configurações de importação salvas.")
    page.get_by_label("Pasta de importação").fill(str(tmp_path / "nao-existe"))
    page.get_by_role("button", name="Salvar importação").click()
    _result(page, "Corrija os campos indicados")


def test_enviar_agora_while_another_run_is_going_offers_nothing(signed_in: Page, app,
                                                                smtp_server):
    from datetime import datetime

    from dunning.runlock import acquire
    from test_delivery import load_customers
    page = signed_in
    with app.app_context():
        load_customers(db.session, 2)
        configure_station(db.session, smtp_server, app.instance_path)

    page.goto("/previa/enviar")  # nothing going on: the confirmation, with its count
    expect(page.get_by_text("2 mensagem(ns)")).to_be_visible()
    with app.app_context():  # the scheduler's run starts meanwhile (a live process holds the lock)
        lease = acquire(db.session, datetime.now())
    try:
        page.get_by_role("button", name="Sim, enviar agora").click()
        expect(page.get_by_text("Envio não iniciado: já há um envio em andamento")).to_be_visible()
        expect(page.get_by_text("Envio iniciado")).to_have_count(0)

        page.goto("/previa/enviar")
        expect(page.get_by_text("O envio não pode começar: já há um envio em andamento")) \
            .to_be_visible()
        expect(page.get_by_role("button", name=re.compile("enviar", re.I))).to_have_count(0)
        expect(page.get_by_text("mensagem(ns)")).to_have_count(0)

        page.goto("/envios/")
        expect(page.get_by_text("esta página se atualiza sozinha", exact=False)).to_be_visible()
        with page.expect_navigation(timeout=10_000):  # it reloads by itself
            pass
    finally:
        with app.app_context():
            lease.session = db.session
            lease.release()
    page.goto("/envios/")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    assert len(smtp_server.received) == 0


def test_enviar_agora_with_nothing_due_never_offers_0_messages(signed_in: Page, smtp_server, app):
    with app.app_context():
        configure_station(db.session, smtp_server, app.instance_path)
    page = signed_in
    page.goto("/previa/enviar")
    expect(page.get_by_text("Nenhum lembrete a enviar")).to_be_visible()
    expect(page.get_by_text("0 mensagem(ns)")).to_have_count(0)
    expect(page.get_by_role("button", name="Sim, enviar agora")).to_have_count(0)
