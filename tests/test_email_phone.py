"""The HTML message on a phone: a real message, as the SMTP server received it, opened in
Chromium at 360 px wide needs no sideways scrolling; the address keeps its line breaks; the
CPF/CNPJ does not break in the middle."""
from __future__ import annotations

import io
from datetime import date

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from dunning.delivery import run
from dunning.importing import import_invoices
from models import Company, Customer, StationSettings
from smtpserver import configure_station
from test_delivery import FAST
from test_e2e import ARGS, CHROMIUM

AS_OF = date(2026, 11, 27)
HEADER = ("empresa;empresa_nome;empresa_cnpj;cliente;nome;cpf_cnpj;email;documento;parcela;"
          "vencimento;saldo;linha_digitavel;pix;link_pagamento\n")
ROWS = [
    ("1;Auto Posto Estrela do Cerrado Comércio de Combustíveis Ltda;11.222.333/0001-81;C001;"
     "Transportadora Rápida Interestadual de Cargas e Encomendas S.A.;04.252.011/0001-10;"
     "financeiro@rapida.com.br;F100200300;12;01/09/2026;1.234.567,89;"
     "34191.79001 01043.510047 91020.150008 1 96610000123456;"
     "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR;"
     "https://pagamento.example.com/boleto/F100200300/parcela/12?cliente=C001&token=abcdef0123456789\n"),
    ("1;Auto Posto Estrela do Cerrado Comércio de Combustíveis Ltda;11.222.333/0001-81;C001;"
     "Transportadora Rápida Interestadual de Cargas e Encomendas S.A.;04.252.011/0001-10;"
     "financeiro@rapida.com.br;F100200301;;20/11/2026;999.999,99;;;\n"),
    ("1;Auto Posto Estrela do Cerrado Comércio de Combustíveis Ltda;11.222.333/0001-81;C001;"
     "Transportadora Rápida Interestadual de Cargas e Encomendas S.A.;04.252.011/0001-10;"
     "financeiro@rapida.com.br;F100200302;;15/01/2027;12,34;;;\n"),
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def received_html(app, session, smtp_server, charges: bool) -> str:
    import_invoices(session, io.BytesIO((HEADER + "".join(ROWS)).encode()))
    company = session.scalar(select(Company))
    company.address = ("Rodovia BR-060, km 15, Setor de Chácaras Anhanguera\n"
                       "Goiânia/GO - CEP 74000-000")
    customer = session.scalar(select(Customer))
    customer.send_email = "sim"
    if charges:
        settings = StationSettings.load(session)
        settings.late_fee_bp, settings.interest_bp_month = 200, 100
    session.commit()
    configure_station(session, smtp_server, app.instance_path,
                      contact_line="Dúvidas: (62) 3333-4444 ou financeiro@postoestrela.com.br")
    report = run(session, AS_OF, app.instance_path, options=FAST)
    assert report.sent == 1, report
    (message,) = smtp_server.messages_to("financeiro@rapida.com.br")
    return message.get_body(("html",)).get_content()


@pytest.mark.parametrize("charges", [False, True], ids=["plain", "multa-e-juros"])
def test_message_fits_a_360_px_phone(app, session, smtp_server, browser, charges):
    html = received_html(app, session, smtp_server, charges)
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    page = context.new_page()
    page.set_content(html)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, "
                           "document.documentElement.clientWidth, document.body.scrollWidth]")
    assert widths[1] == 360 and widths[0] <= widths[1] and widths[2] <= widths[1], widths
    # The CNPJs (creditor's and customer's) stay on one line each.
    for tax_id in ("11.222.333/0001-81", "04.252.011/0001-10"):
        span = page.locator("span", has_text=tax_id).first
        assert span.evaluate("e => e.getClientRects().length") == 1
        assert span.evaluate("e => e.getBoundingClientRect().height") < 24
    # The address keeps its two lines.
    assert "Setor de Chácaras Anhanguera<br>Goiânia/GO" in html
    context.close()
