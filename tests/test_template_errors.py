"""Template errors in Portuguese (issue 10 item 18): staff read what is wrong, Jinja's text stays
as the technical detail."""
from __future__ import annotations

import pytest

from dunning.statement import Templates, validate_templates
from models import StationSettings
from datetime import date


@pytest.mark.parametrize("subject, expected", [
    ("{{ cliente.nome ", "o modelo termina antes de fechar um {{ … }} ou um bloco {% … %}"),
    ("{% if cliente %}x", "o modelo termina sem fechar o bloco {% if %}: falta o {% endif %}"),
    ("{{ cliente.nome | semfiltro }}", "não existe o filtro 'semfiltro'"),
    ("{{ naoexiste }}", "a variável 'naoexiste' não existe"),
    ("{% endif %}", "a marcação {% endif %} não é conhecida aqui"),
    ("{{ cliente nome }}", "esperava }} para fechar a expressão, mas encontrou 'nome'"),
])
def test_template_errors_are_explained_in_portuguese(session, subject, expected):
    settings = StationSettings.load(session)
    errors = validate_templates(Templates(subject=subject), settings, date(2026, 11, 27))
    assert expected in errors["subject"], errors
    assert "Detalhe técnico: " in errors["subject"]


def test_the_settings_page_shows_the_explanation(staff):
    html = staff.post("/configuracoes/modelos", data={"subject": "{{ cliente.nome ", "text": "x",
                                                      "html": "<p>x</p>", "action": "save"}
                      ).get_data(as_text=True)
    assert "o modelo termina antes de fechar um {{ … }}" in html
