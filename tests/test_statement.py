"""The reminder's words: default and edited templates, sandbox, pt-BR filters, validation."""
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

from hypothesis import given, settings as hsettings, strategies as st

from dunning.statement import (Templates, clean_header, default_templates, render, sample_reminder,
                               validate_templates)

AS_OF = date(2026, 11, 28)


def station(**values):
    base = dict(subject_template="", text_template="", html_template="", contact_line="",
                sender_name="Auto Posto Exemplo")
    return SimpleNamespace(**{**base, **values})


def test_default_message_lists_overdue_first_with_totals_creditor_and_payment():
    subject, text, html = render(sample_reminder(AS_OF), station(), AS_OF)
    assert subject == "Pendências financeiras em aberto - Auto Posto Exemplo Ltda"
    for body in (text, html):
        assert body.index("F123") < body.index("F124")          # overdue first
        assert "30 dias em atraso" in body and "a vencer" in body
        assert "R$ 1.234,56" in body and "R$ 1.734,56" in body  # item and total open
        assert "29/10/2026" in body and "28/11/2026" in body
        assert "12.345.678/0001-95" in body and "Av. Brasil, 1000" in body
        assert "Linha digitável" in body and "Pix copia e cola" in body
        assert "https://pagamento.example.com/F123" in body
        assert "Se você já efetuou o pagamento, por favor desconsidere esta mensagem." in body
        assert "(11) 5555-0000" in body  # the company's contact when no contact line is set
        for threat in ("protesto", "SPC", "Serasa", "judicial"):
            assert threat not in body


def test_contact_line_setting_wins_and_html_is_escaped():
    reminder = sample_reminder(AS_OF)
    reminder.customer_name = "<script>alert(1)</script> & Cia"
    _, text, html = render(reminder, station(contact_line="Fone (11) 4000-0000"), AS_OF)
    assert "Em caso de dúvidas: Fone (11) 4000-0000" in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script> & Cia" in text


def test_a_javascript_payment_link_is_not_a_link():
    reminder = sample_reminder(AS_OF)
    company = reminder.companies[0]
    company.invoices[0] = replace(company.invoices[0], payment_link="javascript:alert(1)")
    _, _, html = render(reminder, station(), AS_OF)
    assert 'href="javascript' not in html


def test_edited_templates_render_with_the_same_filters():
    mine = Templates(subject="Aviso {{ reminder.customer_code }}\r\nBcc: x@y",
                     text="Total {{ reminder.overdue_cents|brl }} em {{ as_of|data }}",
                     html="<b>{{ reminder.customer_name }}</b>")
    subject, text, html = render(sample_reminder(AS_OF), station(), AS_OF, mine)
    assert subject == "Aviso C001 Bcc: x@y"  # one line: no CR/LF reaches a header
    assert text == "Total R$ 1.234,56 em 28/11/2026"
    assert html == "<b>Transportadora Exemplo</b>"


def test_validation_rejects_templates_that_do_not_render():
    errors = validate_templates(Templates(subject="{{ nome }}", text="{% for x in %}",
                                          html="{{ ''.__class__.__mro__ }}"), station(), AS_OF)
    assert set(errors) == {"subject", "text", "html"}
    assert "nome" in errors["subject"] and "linha 1" in errors["text"]
    assert "unsafe" in errors["html"]
    dunder = validate_templates(Templates(text="{{ reminder.__class__.__init__.__globals__ }}"),
                                station(), AS_OF)
    assert "unsafe" in dunder["text"]  # our own classes are sandboxed too
    assert validate_templates(Templates(subject="  "), station(), AS_OF) == {
        "subject": "O assunto ficou vazio."}


def test_defaults_are_valid_and_restorable():
    defaults = default_templates()
    assert validate_templates(defaults, station(), AS_OF) == {}
    assert render(sample_reminder(AS_OF), station(), AS_OF, defaults) == render(
        sample_reminder(AS_OF), station(), AS_OF)


@hsettings(max_examples=60, deadline=None)
@given(st.text())
def test_clean_header_never_lets_a_line_break_through(value):
    cleaned = clean_header(value)
    assert "\r" not in cleaned and "\n" not in cleaned and len(cleaned) <= 200


def test_two_creditors_each_with_its_block_and_a_grand_total():
    reminder = sample_reminder(AS_OF)
    other = replace(reminder.companies[0], company_id=1, company_code="2", name="Posto Filial",
                    tax_id="12.345.678/0002-76", address="Rod. BR-116, km 10", phone="",
                    email="", invoices=[reminder.companies[0].invoices[0]])
    reminder.companies.append(other)
    reminder.overdue_cents, reminder.open_cents = 246912, 296912
    subject, text, html = render(reminder, station(), AS_OF)
    assert subject == "Pendências financeiras em aberto - Auto Posto Exemplo Ltda, Posto Filial"
    for body in (text, html):
        assert "12.345.678/0002-76" in body and "Rod. BR-116, km 10" in body
        assert "Total geral vencido: R$ 2.469,12" in body
        assert "Auto Posto Exemplo Ltda: (11) 5555-0000" in body  # contact named per creditor
