"""Form bases and fields shared by the pages: pt-BR messages, (Empresa, Conta) rows."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, Form, IntegerField, SelectChoice, SelectField
from wtforms.meta import DefaultMeta
from wtforms.validators import NumberRange, Optional

from dunning.editing import AccountEntry, account_label
from models import Account


class _PtMeta:
    """WTForms' own pt translations, without needing Babel."""

    locales = ("pt_BR", "pt")

    def get_translations(self, form):
        return DefaultMeta.get_translations(self, form)


class PageForm(FlaskForm):
    """A page's form: CSRF-protected, messages in Portuguese."""

    class Meta(_PtMeta):
        pass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "csrf_token" in self:
            # Rendered without an id: a page with several forms would repeat id="csrf_token".
            self.csrf_token.id = False


class SubForm(Form):
    """A row inside a page's form (no CSRF of its own: the page's form carries it)."""

    class Meta(_PtMeta, DefaultMeta):
        pass


def tolerance_field() -> IntegerField:
    """"Dias de tolerância": whole days >= 0, or empty to inherit."""
    return IntegerField("Dias de tolerância", validators=[
        Optional(), NumberRange(min=0, max=3650, message="Informe um número de dias entre 0 e 3650.")])


class AccountEntryForm(SubForm):
    """An account entry: (Empresa, Conta), its own checkbox, and "Remover"."""

    account = SelectField("Empresa e Conta", coerce=int, validate_choice=False)
    send_email = BooleanField("Enviar e-mail sobre atraso de pendências financeiras", default=True)
    remove = BooleanField("Remover")


class BillingAccountForm(SubForm):
    """A billing account on the "Faturamento" tab, and "Remover"."""

    account = SelectField("Empresa e Conta", coerce=int, validate_choice=False)
    remove = BooleanField("Remover")


def account_choices(accounts: list[Account]) -> list[SelectChoice]:
    """The account select's options; 0 is the empty choice of the "add" row."""
    return [SelectChoice(0, "— escolha —")] + [SelectChoice(a.id, account_label(a)) for a in accounts]


def prepare_rows(field_list, accounts: list[Account]) -> None:
    """Give every row of a FieldList the account choices."""
    choices = account_choices(accounts)
    for row in field_list:
        row.account.choices = choices


def collect_rows(field_list, accounts: list[Account], with_checkbox: bool) -> list | None:
    """The rows kept (not removed, account chosen) as AccountEntry or account ids; None on errors."""
    known = {a.id for a in accounts}
    seen: set[int] = set()
    result, ok = [], True
    for row in field_list:
        account_id = row.account.data or 0
        if row.remove.data or not account_id:
            continue
        if account_id not in known:
            row.account.errors.append("Escolha uma Empresa e Conta da lista.")
            ok = False
        elif account_id in seen:
            row.account.errors.append("Esta Empresa e Conta já está em outra linha.")
            ok = False
        seen.add(account_id)
        result.append(AccountEntry(account_id, bool(row.send_email.data)) if with_checkbox else account_id)
    return result if ok else None
