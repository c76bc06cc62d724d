"""The reminder e-mail's words: subject, plain text and HTML from (editable) sandboxed templates.

Staff may edit the templates in the browser, so they are rendered in a Jinja
``SandboxedEnvironment`` with ``StrictUndefined`` (a typo fails on save, not at 3 a.m.), and
money and dates go through the same pt-BR filters the pages use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from types import SimpleNamespace
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from dunning.charges import ESTIMATE_NOTE, format_percent
from dunning.formatting import format_brl, format_date
from dunning.levels import DEFAULT_LEVELS, Level
from dunning.rules import DUE_SOON, CompanyStatement, PlannedInvoice, Reminder
from dunning.template_bounds import BoundedSandbox, RenderLimitExceeded, bounded, render_bounded
from dunning.template_errors import explain_template_error

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
# Every level keeps the seed's subject (the level's wording is in the body); staff may give a
# level a subject of its own.
DEFAULT_SUBJECT = "Pendências financeiras em aberto - {{ company_names }}"
DUE_SOON_SUBJECT = "Aviso de vencimento - {{ company_names }}"
# The built-in templates of each kind of message: (text file, html file, subject).
_BUILTIN = {"statement": ("statement.txt", "statement.html", DEFAULT_SUBJECT),
            "due_soon": ("due_soon.txt", "due_soon.html", DUE_SOON_SUBJECT)}
# The filters pages and e-mails share (registered on the app's Jinja environment too).
FILTERS = {"brl": format_brl, "data": format_date}


def lines_to_html(value: str) -> Markup:
    """Text with its line breaks kept in HTML (an address typed on several lines), escaped."""
    return Markup("<br>").join(escape(line) for line in str(value).replace("\r\n", "\n").split("\n"))


# The e-mails' copy: a run formats the same few due dates thousands of times.
_EMAIL_FILTERS = {**FILTERS, "data": lru_cache(maxsize=4096)(format_date), "linhas": lines_to_html}
# What a template may use, for the settings page's help text (pt-BR, shown to staff).
TEMPLATE_VARIABLES = {
    "reminder": "o aviso: customer_name, customer_code, tax_id, to, invoices, overdue_cents, "
                "open_cents",
    "companies": "as empresas credoras: name, company_code, tax_id, address, phone, email, "
                 "invoices (document, installment, due_date, balance_cents, days_late, overdue, "
                 "digitable_line, pix_code, payment_link), overdue_cents, open_cents",
    "company_names": "nomes das empresas credoras, separados por vírgula",
    "as_of": "data do envio",
    "level": "o nível da régua: name, number (1, 2, 3...), start_days (vazio no aviso de "
             "vencimento)",
    "charges": "multa e juros, quando configurados: late_fee, interest (textos como 2,00), "
               "note (o aviso de estimativa); vazio quando não há",
    "contact_line": "linha de contato (configuração, ou telefone/e-mail das empresas)",
    "sender_name": "nome do remetente",
    "|brl": "filtro: centavos como R$ 1.234,56",
    "|data": "filtro: data como dd/mm/aaaa",
    "|linhas": "filtro (HTML): mantém as quebras de linha, por exemplo do endereço",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Templates:
    """The three sources a message is rendered from ('' = the built-in default)."""

    subject: str = ""
    text: str = ""
    html: str = ""


class _Sandbox(BoundedSandbox):
    """The sandbox (bounded in time and size: dunning.template_bounds), with a fast path for the public fields of our own plain-data classes.

    The generic check (is_internal_attribute) is most of a render's cost, thousands of times
    per run; a public field of a Reminder, CompanyStatement or PlannedInvoice is plain data.
    """

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        if type(obj) in _PLAIN_DATA and not attr.startswith("_"):
            return True
        return super().is_safe_attribute(obj, attr, value)


_PLAIN_DATA = frozenset({Reminder, CompanyStatement, PlannedInvoice, Level})


def _environment(autoescape: bool, sandboxed: bool = True) -> Environment:
    kind = _Sandbox if sandboxed else Environment
    env = kind(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=autoescape,
               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
               keep_trailing_newline=True)
    env.filters.update(_EMAIL_FILTERS)
    if sandboxed:
        env.bound_filters()
    return env


# Staff-edited templates (from the database) run in the sandbox; the built-in ones are files of
# this program, trusted like its code, and run without the sandbox's per-attribute checks.
_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)
_BUILTIN_TEXT_ENV = _environment(autoescape=False, sandboxed=False)
_BUILTIN_HTML_ENV = _environment(autoescape=True, sandboxed=False)


def default_templates(message: str = "statement") -> Templates:
    """The built-in templates' sources (what "Restaurar padrão" puts back); ``message`` is
    "statement" (the overdue reminder, every level) or "due_soon" (the pre-due notice)."""
    text_file, html_file, subject = _BUILTIN[message]
    return Templates(subject=subject,
                     text=(TEMPLATE_DIR / text_file).read_text(encoding="utf-8"),
                     html=(TEMPLATE_DIR / html_file).read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _compiled(kind: str, source: str, message: str = "statement"):
    """A template compiled once per source text (the batch renders thousands of messages)."""
    if source:
        return (_HTML_ENV if kind == "html" else _TEXT_ENV).from_string(source)
    env = _BUILTIN_HTML_ENV if kind == "html" else _BUILTIN_TEXT_ENV
    text_file, html_file, subject = _BUILTIN[message]
    if kind == "subject":
        return env.from_string(subject)
    return env.get_template(html_file if kind == "html" else text_file)


def templates_for(reminder: Reminder, settings) -> tuple[Templates, str]:
    """The sources ``reminder`` is rendered from, and which built-in one stands in for ''.

    A level's own template wins over the station's common one, which wins over the built-in.
    """
    if reminder.kind == DUE_SOON:
        return Templates(getattr(settings, "due_soon_subject_template", ""),
                         getattr(settings, "due_soon_text_template", ""),
                         getattr(settings, "due_soon_html_template", "")), "due_soon"
    level = reminder.level
    return Templates((level and level.subject) or settings.subject_template,
                     (level and level.text) or settings.text_template,
                     (level and level.html) or settings.html_template), "statement"


def charges_context(settings) -> dict | None:
    """What the templates say about multa and juros, None when the station charges neither."""
    fee, interest = getattr(settings, "late_fee_bp", 0), getattr(settings, "interest_bp_month", 0)
    if not (fee or interest):
        return None
    return {"late_fee": format_percent(fee), "interest": format_percent(interest),
            "note": ESTIMATE_NOTE}


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
    ``contact_line`` and ``sender_name`` (a StationSettings row). A reminder from ``plan()`` needs
    ``dunning.rules.load_details`` first: without it the payment instructions would be missing.
    """
    if not reminder.detailed:
        raise ValueError(f"reminder for {reminder.customer_code} rendered before load_details")
    chosen, message = templates_for(reminder, settings)
    if templates is None:
        templates = chosen
    context = {
        "reminder": reminder,
        "companies": reminder.companies,
        "company_names": ", ".join(company_display_name(c) for c in reminder.companies),
        "as_of": as_of,
        "contact_line": contact_line_for(reminder, settings.contact_line or ""),
        "sender_name": settings.sender_name or "",
        "level": reminder.level,
        "charges": charges_context(settings),
    }
    with bounded():  # one budget of time and size for the whole message
        subject = clean_header(_render("subject", templates.subject, context, message))
        text = _render("text", templates.text, context, message)
        html = _render("html", templates.html, context, message)
    return subject, text, html


def failure_reason(exc: BaseException) -> str:
    """Why a message could not be rendered, for staff (pt-BR where it is ours)."""
    if isinstance(exc, RecursionError):
        return "o modelo chama a si mesmo sem parar (recursão)"
    if isinstance(exc, RenderLimitExceeded):
        return exc.message
    return explain_template_error(exc)


def _render(kind: str, source: str, context: dict, message: str = "statement") -> str:
    template = _compiled(kind, source, message)
    return render_bounded(template, context) if source else template.render(context)


MAX_SOURCE = 200_000  # characters of one template's source


def validate_templates(templates: Templates, settings, as_of: date, sample: Reminder | None = None,
                       checks: tuple = ()) -> dict[str, str]:
    """Errors by field ('subject', 'text', 'html') of templates that fail on any sample reminder.

    Used on save: a template that fails here would fail messages of the next run. Each part is
    rendered (with the built-in others) against every case of sample_reminders() built around
    ``sample`` (default: an overdue reminder), each bounded in time and size like a real message.
    The complete case must show the creditor's identification and the invoices (CDC art. 42-A,
    missing_required_parts). ``checks`` are more rules for a rendered message,
    ``check(reminder, subject, text, html) -> (field, message) | None`` (e.g. what the message
    must contain); a template set of another kind of reminder reuses this with its own checks.
    """
    errors: dict[str, str] = {}
    for kind in ("subject", "text", "html"):
        source = getattr(templates, kind)
        if len(source) > MAX_SOURCE:
            errors[kind] = (f"O modelo é grande demais ({len(source):,} caracteres; máximo "
                            f"{MAX_SOURCE:,}).").replace(",", ".")
    for label, reminder, sample_settings in sample_reminders(as_of, settings, sample):
        for kind in ("subject", "text", "html"):
            if kind in errors:
                continue
            problem = _sample_problem(kind, getattr(templates, kind), reminder, sample_settings,
                                      as_of, checks if label else (*checks, _creditor_check))
            if problem:
                errors[kind] = f"{problem} (no exemplo \"{label}\")" if label else problem
    return errors


def _sample_problem(kind: str, source: str, reminder: Reminder, settings, as_of: date,
                    checks: tuple) -> str:
    """What goes wrong rendering the ``kind`` part from ``source`` for one sample ('' if fine)."""
    try:
        subject, text, html = render(reminder, settings, as_of, Templates(**{kind: source}))
    except RenderLimitExceeded as exc:
        return f"O modelo não pode ser usado: {exc.message}."
    except Exception as exc:  # noqa: BLE001 - any failure of user-written code is a form error
        return f"O modelo não pode ser usado: {failure_reason(exc)}"
    empty = {"subject": "O assunto ficou vazio.", "text": "O texto ficou vazio.",
             "html": "O HTML ficou vazio."}
    if not {"subject": subject, "text": text, "html": html}[kind].strip():
        return empty[kind]
    for check in checks:
        found = check(reminder, subject, text, html)
        if found and found[0] == kind:
            return found[1]
    return ""


def sample_reminders(as_of: date, settings, base: Reminder | None = None
                     ) -> list[tuple[str, Reminder, object]]:
    """The cases a template is tried on before it is saved: (pt-BR label, reminder, settings).

    What real customers vary in: one invoice or many, one creditor or several, with and without
    payment instructions, contact details, address, customer name, contact line. ``base`` is the
    complete case (its kind and level carry over to the others); default sample_reminder().
    """
    full = base or sample_reminder(as_of)
    company = full.companies[0]
    bare_invoice = replace(company.invoices[0], installment="", issue_date=None,
                           amount_cents=None, digitable_line="", pix_code="", payment_link="")
    many = [replace(company.invoices[0], document=f"F{n:03d}", days_late=n,
                    due_date=as_of - timedelta(days=n), effective_due_date=as_of - timedelta(days=n))
            for n in range(1, 41)]
    bare_company = replace(company, name="", tax_id="", address="", phone="", email="",
                           invoices=[bare_invoice], overdue_cents=123456, open_cents=123456)
    companies = [replace(company, company_code=str(n), name=f"Auto Posto Filial {n}")
                 for n in range(1, 4)]
    plain = SimpleNamespace(
        subject_template=settings.subject_template, text_template=settings.text_template,
        html_template=settings.html_template, contact_line="", sender_name="")
    one = replace(company, invoices=[company.invoices[0]], open_cents=company.overdue_cents)
    return [
        ("", full, settings),
        ("uma fatura", replace(full, companies=[one], open_cents=one.open_cents), settings),
        ("muitas faturas", replace(full, companies=[replace(company, invoices=many)]), settings),
        ("várias empresas", replace(full, companies=companies,
                                    to=["a@cliente.example.com", "b@cliente.example.com"]), settings),
        ("sem dados de pagamento, contato nem endereço",
         replace(full, customer_name="", tax_id="", companies=[bare_company],
                 open_cents=bare_company.open_cents), plain),
    ]

def _creditor_check(reminder: Reminder, subject: str, text: str, html: str):
    """The complete sample's text and HTML must identify the creditor and list the invoices."""
    for kind, body in (("text", text), ("html", html)):
        missing = missing_required_parts(reminder, body)
        if missing:
            return kind, ("A mensagem precisa mostrar " + ", ".join(missing) +
                          " (Código de Defesa do Consumidor, art. 42-A).")
    return None


def missing_required_parts(sample: Reminder, body: str) -> list[str]:
    """What CDC art. 42-A (and the reminder's purpose) needs that ``body`` does not show: the
    creditor's name, CNPJ and address, and the list of invoices (pt-BR, [] = complete)."""
    company = sample.companies[0]
    folded = " ".join(body.replace("<br>", " ").split())
    needed = (("o nome do credor", company.name), ("o CNPJ do credor", company.tax_id),
              ("o endereço do credor", company.address),
              ("a lista de faturas", company.invoices[0].document))
    return [label for label, value in needed if " ".join(str(escape(value)).split()) not in folded
            and " ".join(value.split()) not in folded]


def sample_due_soon(as_of: date) -> Reminder:
    """A made-up pre-due notice (one invoice due in three days), for validation and preview."""
    reminder = sample_reminder(as_of)
    company = reminder.companies[0]
    upcoming = replace(company.invoices[0], document="F125", due_date=as_of + timedelta(days=3),
                       effective_due_date=as_of + timedelta(days=3), days_late=0, overdue=False)
    company.invoices = [upcoming]
    company.overdue_cents, company.open_cents = 0, upcoming.balance_cents
    reminder.overdue_cents, reminder.open_cents = 0, upcoming.balance_cents
    reminder.kind, reminder.level = DUE_SOON, None
    return reminder


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
