"""Staff edits made in the browser: a customer's or group's dunning settings, company data.

Each function replaces what it is given as a whole and commits; the forms validate the input.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dunning.addresses import is_valid_email
from dunning.creditor import creditor_gaps
from dunning.taxid import is_valid_tax_id
from dunning.typed_input import shown, unstorable

from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule,
                    CustomerGroup, GroupAccountRule, SendEmail)


@dataclass(frozen=True)
class AccountEntry:
    """One (Empresa, Conta) row with its "Enviar e-mail sobre atraso" checkbox."""

    account_id: int
    send_email: bool


def save_customer_policy(session: Session, customer: Customer, send_email: SendEmail,
                         tolerance_days: int | None, entries: list[AccountEntry],
                         billing_account_ids: list[int]) -> None:
    """Replace the customer's policy: switch, tolerance, account entries and billing accounts."""
    customer.send_email = SendEmail(send_email).value
    customer.tolerance_days = tolerance_days
    _replace_rules(customer.account_rules, entries, CustomerAccountRule)
    wanted = list(dict.fromkeys(billing_account_ids))
    keep = [b for b in customer.billing_accounts if b.account_id in wanted]
    have = {b.account_id for b in keep}
    customer.billing_accounts = keep + [BillingAccount(account_id=a) for a in wanted if a not in have]
    session.commit()


def save_customer_emails(session: Session, customer: Customer, addresses: list[str]) -> None:
    """Replace the customer's e-mail addresses (kept in the order given, without repeats)."""
    unique = list(dict.fromkeys(a.strip() for a in addresses if a.strip()))
    customer.email_addresses = ", ".join(unique)
    session.commit()


def save_group_policy(session: Session, group: CustomerGroup, send_email: bool,
                      tolerance_days: int | None, entries: list[AccountEntry]) -> None:
    """Replace the group's "Vencimentos" settings: checkbox, tolerance and account entries."""
    group.send_email = send_email
    group.tolerance_days = tolerance_days
    _replace_rules(group.account_rules, entries, GroupAccountRule)
    session.commit()


def _replace_rules(rules: list, entries: list[AccountEntry], model: type) -> None:
    """Make ``rules`` hold exactly ``entries``, updating rows in place (stable ids, one per account)."""
    wanted = {e.account_id: e.send_email for e in entries}
    for rule in list(rules):
        if rule.account_id in wanted:
            rule.send_email = wanted.pop(rule.account_id)
        else:
            rules.remove(rule)
    for account_id, send in wanted.items():
        rules.append(model(account_id=account_id, send_email=send))


def company_errors(code: str, name: str, tax_id: str, address: str, phone: str,
                   email: str) -> list[str]:
    """pt-BR errors of a company's data as the Empresas form checks it ([] = can be saved)."""
    errors = []
    if problem := unstorable(code):
        errors.append(f"Código da empresa: o valor {problem}.")
    elif not code.strip() or len(code.strip()) > 40:
        errors.append(f"Código da empresa inválido '{shown(code)}' (1 a 40 caracteres).")
    for label, value, limit in (("Nome", name, 200), ("CNPJ", tax_id, 40),
                                ("Endereço", address, 1000), ("Telefone", phone, 80),
                                ("E-mail", email, 254)):
        if problem := unstorable(value):
            errors.append(f"{label}: o valor {problem}.")
        elif len(value.strip()) > limit:
            errors.append(f"{label}: no máximo {limit} caracteres (recebidos {len(value.strip())}).")
    if tax_id.strip() and not is_valid_tax_id(tax_id.strip()):
        errors.append(f"CNPJ inválido '{shown(tax_id.strip())}' (confira os dígitos verificadores).")
    if email.strip() and not is_valid_email(email.strip()):
        errors.append(f"E-mail inválido '{shown(email.strip())}'.")
    return errors


def creditor_missing(company: Company) -> list[str]:
    """What CDC art. 42-A asks of the company that it still lacks (pt-BR; [] = complete)."""
    return creditor_gaps(company.name, company.tax_id, company.address)


def save_company(session: Session, company: Company, name: str, tax_id: str, address: str,
                 phone: str, email: str, account_names: dict[int, str]) -> None:
    """Update a company's data (shown in every e-mail) and its accounts' names."""
    company.name, company.tax_id, company.address = name.strip(), tax_id.strip(), address.strip()
    company.phone, company.email = phone.strip(), email.strip()
    for account in company.accounts:
        if account.id in account_names:
            account.name = account_names[account.id].strip()
    session.commit()


def account_label(account: Account) -> str:
    """How an (Empresa, Conta) reads in a choice list."""
    conta = account.code or "(sem conta)"
    name = f" – {account.name}" if account.name else ""
    return f"Empresa {account.company.code} · Conta {conta}{name}"
