"""Staff-edited e-mail templates: what went wrong with one, in Portuguese.

Jinja's own messages are English and technical ("unexpected end of template, expected 'end of
print statement'"); staff get a pt-BR explanation first, with Jinja's text kept after it as the
technical detail (whoever helps the station recognises it).
"""
from __future__ import annotations

import re

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError, TemplateAssertionError

# (pattern in Jinja's message, explanation; {0} is the pattern's first group)
_SYNTAX = (
    (r"innermost block that needs to be closed is '(\w+)'",
     "o modelo termina sem fechar o bloco {{% {0} %}}: falta o {{% end{0} %}}"),
    (r"unexpected end of template",
     "o modelo termina antes de fechar um {{{{ … }}}} ou um bloco {{% … %}}"),
    (r"Encountered unknown tag '(\w+)'",
     "a marcação {{% {0} %}} não é conhecida aqui (um fechamento sem o início, ou um nome errado)"),
    (r"expected token 'end of print statement', got '([^']*)'",
     "esperava }}}} para fechar a expressão, mas encontrou '{0}'"),
    (r"unexpected '([^']*)'", "expressão incompleta ou com um símbolo fora do lugar ('{0}')"),
    (r"Expected an expression", "falta o nome de uma variável ou uma expressão dentro da marcação"),
    (r"unexpected char '(.)'", "caractere inesperado '{0}' dentro de uma marcação"),
)
_OTHER = (
    (r"No filter named '([^']*)'", "não existe o filtro '{0}'"),
    (r"No test named '([^']*)'", "não existe o teste '{0}'"),
    (r"'([^']*)' is undefined", "a variável '{0}' não existe (veja \"Variáveis disponíveis\")"),
    (r"has no attribute '([^']*)'", "o campo '{0}' não existe nessa variável (veja \"Variáveis "
                                    "disponíveis\")"),
)


def explain_template_error(exc: BaseException) -> str:
    """A pt-BR sentence for what ``exc`` (raised compiling or rendering a template) means, with
    the line when known and Jinja's message as the technical detail."""
    original = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    line = getattr(exc, "lineno", None)
    where = f" (linha {line})" if line and isinstance(exc, TemplateSyntaxError) else ""
    explanation = ""
    table = _SYNTAX if isinstance(exc, TemplateSyntaxError) and not isinstance(
        exc, TemplateAssertionError) else _OTHER
    if isinstance(exc, TemplateAssertionError):
        table = _OTHER + _SYNTAX
    for pattern, text in table:
        match = re.search(pattern, original, re.IGNORECASE)
        if match:
            explanation = text.format(*match.groups())
            break
    if not explanation:
        if isinstance(exc, SecurityError):
            explanation = "o modelo tenta usar algo que não é permitido num modelo de e-mail"
        elif isinstance(exc, UndefinedError):
            explanation = "o modelo usa uma variável ou um campo que não existe"
        elif isinstance(exc, ZeroDivisionError):
            explanation = "o modelo divide por zero"
        elif isinstance(exc, TemplateSyntaxError):
            explanation = "erro de escrita no modelo"
        else:
            explanation = "o modelo falhou ao ser montado"
    return f"{explanation}{where}. Detalhe técnico: {original}"
