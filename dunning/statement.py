"""The reminder e-mail's words: subject, plain text and HTML from (editable) sandboxed templates.

Staff may edit the templates in the browser, so they are rendered in a Jinja
``SandboxedEnvironment`` with ``StrictUndefined`` (a typo fails on save, not at 3 a.m.), and
money and dates go through the same pt-BR filters the pages use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from dunning.formatting import format_brl, format_date
from dunning.rules import CompanyStatement, PlannedInvoice, Reminder

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
DEFAULT_SUBJECT = "Pendências financeiras em aberto - {{ company_names }}"
# The filters pages and e-mails share (registered on the app's Jinja environment too).
FILTERS = {"brl": format_brl, "data": format_date}
# The e-mails' copy: a run formats the same few due dates thousands of times.
_EMAIL_FILTERS = {**FILTERS, "data": lru_cache(maxsize=4096)(format_date)}
# What a template may use, for the settings page's help text (pt-BR, shown to staff).
TEMPLATE_VARIABLES = {
    "reminder": "o aviso: customer_name, customer_code, tax_id, to, invoices, overdue_cents, "
                "open_cents",
    "companies": "as empresas credoras: name, company_code, tax_id, address, phone, email, "
                 "invoices (document, installment, due_date, balance_cents, days_late, overdue, "
                 "digitable_line, pix_code, payment_link), overdue_cents, open_cents",
    "company_names": "nomes das empresas credoras, separados por vírgula",
    "as_of": "data do envio",
    "contact_line": "linha de contato (configuração, ou telefone/e-mail das empresas)",
    "sender_name": "nome do remetente",
    "|brl": "filtro: centavos como R$ 1.234,56",
    "|data": "filtro: data como dd/mm/aaaa",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Templates:
    """The three sources a message is rendered from ('' = the built-in default)."""

    subject: str = ""
    text: str = ""
    html: str = ""


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with a fast path for the public fields of our own plain-data classes.

    The generic check (is_internal_attribute) is most of a render's cost, thousands of times
    per run; a public field of a Reminder, CompanyStatement or PlannedInvoice is plain data.
    """

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        if type(obj) in _PLAIN_DATA and not attr.startswith("_"):
            return True
        return super().is_safe_attribute(obj, attr, value)


_PLAIN_DATA = frozenset({Reminder, CompanyStatement, PlannedInvoice})


def _environment(autoescape: bool, sandboxed: bool = True) -> Environment:
    kind = _Sandbox if sandboxed else Environment
    env = kind(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=autoescape,
               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
               keep_trailing_newline=True)
    env.filters.update(_EMAIL_FILTERS)
    return env


# Staff-edited templates (from the database) run in the sandbox; the built-in ones are files of
# this program, trusted like its code, and run without the sandbox's per-attribute checks.
_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)
_BUILTIN_TEXT_ENV = _environment(autoescape=False, sandboxed=False)
_BUILTIN_HTML_ENV = _environment(autoescape=True, sandboxed=False)


def default_templates() -> Templates:
    """The built-in templates' sources (what "Restaurar padrão" puts back)."""
    return Templates(subject=DEFAULT_SUBJECT,
                     text=(TEMPLATE_DIR / "statement.txt").read_text(encoding="utf-8"),
                     html=(TEMPLATE_DIR / "statement.html").read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _compiled(kind: str, source: str):
    """A template compiled once per source text (the batch renders thousands of messages)."""
    if source:
        return (_HTML_ENV if kind == "html" else _TEXT_ENV).from_string(source)
    env = _BUILTIN_HTML_ENV if kind == "html" else _BUILTIN_TEXT_ENV
    if kind == "subject":
        return env.from_string(DEFAULT_SUBJECT)
    return env.get_template("statement.html" if kind == "html" else "statement.txt")


def clean_header(value: str, limit: int = MAX_SUBJECT) -> str:
    """One line of header text: no CR, LF or other control characters can reach a header."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def company_display_name(company: CompanyStatement) -> str:
    """The creditor's name as the customer reads it, falling back to the ERP code."""
    return company.name or f"Empresa {company.company_code}"


def contact_line_for(reminder: Reminder, contact_line: str) -> str:
    """The station's contact line, or else each creditor's phone and e-mail ('' when none)."""
    if contact_line.strip():
        return clean_header(contact_line, limit=500)
    parts = []
    for company in reminder.companies:
        details = ", ".join(x for x in (company.phone, company.email) if x)
        if details:
            parts.append(f"{company_display_name(company)}: {details}" if len(reminder.companies) > 1
                         else details)
    return "; ".join(parts)


def render(reminder: Reminder, settings, as_of: date,
           templates: Templates | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of ``reminder``'s e-mail, from ``settings``' templates or ``templates``.

    ``settings`` needs ``subject_template``, ``text_template``, ``html_template``,
    ``contact_line`` and ``sender_name`` (a StationSettings row).
    """
    if templates is None:
        templates = Templates(settings.subject_template, settings.text_template,
                              settings.html_template)
    context = {
        "reminder": reminder,
        "companies": reminder.companies,
        "company_names": ", ".join(company_display_name(c) for c in reminder.companies),
        "as_of": as_of,
        "contact_line": contact_line_for(reminder, settings.contact_line or ""),
        "sender_name": settings.sender_name or "",
    }
    subject = clean_header(_compiled("subject", templates.subject).render(context))
    text = _compiled("text", templates.text).render(context)
    html = _compiled("html", templates.html).render(context)
    return subject, text, html


def validate_templates(templates: Templates, settings, as_of: date) -> dict[str, str]:
    """Errors by field ('subject', 'text', 'html') of templates that do not render a sample.

    Used on save: a template that fails here would fail every message of the next run.
    """
    errors: dict[str, str] = {}
    sample = sample_reminder(as_of)
    for kind in ("subject", "text", "html"):
        source = getattr(templates, kind)
        try:
            only = Templates(**{kind: source})
            subject, text, html = render(sample, settings, as_of, only)
        except TemplateError as exc:
            where = f" (linha {exc.lineno})" if getattr(exc, "lineno", None) else ""
            errors[kind] = f"O modelo não pode ser usado{where}: {exc.message or exc}"
            continue
        except Exception as exc:  # noqa: BLE001 - any failure of user-written code is a form error
            errors[kind] = f"O modelo não pode ser usado: {exc}"
            continue
        if kind == "subject" and not subject:
            errors[kind] = "O assunto ficou vazio."
        if kind == "text" and not text.strip():
            errors[kind] = "O texto ficou vazio."
        if kind == "html" and not html.strip():
            errors[kind] = "O HTML ficou vazio."
    return errors


def sample_reminder(as_of: date) -> Reminder:
    """A made-up reminder with every field filled, for template validation and preview."""
    overdue = PlannedInvoice(
        invoice_id=0, company_code="1", document="F123", installment="1", account_code="7",
        issue_date=as_of - timedelta(days=60), due_date=as_of - timedelta(days=30),
        effective_due_date=as_of - timedelta(days=30), amount_cents=150000, balance_cents=123456,
        days_late=30, overdue=True, digitable_line="34191.79001 01043.510047 91020.150008 1 "
        "96610000123456", pix_code="00020126580014br.gov.bcb.pix0136exemplo",
        payment_link="https://pagamento.example.com/F123")
    upcoming = PlannedInvoice(
        invoice_id=0, company_code="1", document="F124", installment="", account_code="7",
        issue_date=as_of - timedelta(days=10), due_date=as_of + timedelta(days=20),
        effective_due_date=as_of + timedelta(days=20), amount_cents=50000, balance_cents=50000,
        days_late=0, overdue=False)
    company = CompanyStatement(
        company_id=0, company_code="1", name="Auto Posto Exemplo Ltda", tax_id="12.345.678/0001-95",
        address="Av. Brasil, 1000 - Centro - São Paulo/SP", phone="(11) 5555-0000",
        email="financeiro@posto.example.com", invoices=[overdue, upcoming],
        overdue_cents=123456, open_cents=173456)
    return Reminder(customer_id=0, customer_code="C001", customer_name="Transportadora Exemplo",
                    tax_id="98.765.432/0001-10", to=["financeiro@cliente.example.com"],
                    companies=[company], overdue_cents=123456, open_cents=173456)
