"""Command-line side of the station settings: ``settings``, ``settings set`` and ``set-company``.

Registered on the ``cli`` blueprint (imported at the end of blueprints/cli.py); the validation is
the registry's (dunning.settings_registry) and the company form's (dunning.editing), as in the
browser.
"""
from __future__ import annotations

import sys

import click

from blueprints.cli import bp, echo
from dunning import editing
from dunning.settings_registry import UnknownSetting, current_values, set_value
from dunning.typed_input import shown
from models import Company, db


@bp.cli.group("settings", invoke_without_command=True)
@click.pass_context
def settings_command(ctx: click.Context) -> None:
    """List the station settings (names and values); `settings set NAME VALUE` changes one."""
    if ctx.invoked_subcommand is not None:
        return
    values = current_values(db.session)
    db.session.commit()
    width = max(len(setting.name) for setting, _ in values)
    for setting, value in values:
        echo(f"{setting.name.ljust(width)}  {value if value else '(vazio)'}  "
             f"# {setting.label}" + (f" [{setting.accepts}]" if setting.accepts else ""))


@settings_command.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("value")
def settings_set_command(name: str, value: str) -> None:
    """Change one station setting, validated as in the browser (exit 1 when refused)."""
    try:
        stored = set_value(db.session, name, value)
    except UnknownSetting:
        echo(f"Erro: configuração desconhecida '{shown(name)}'. Veja os nomes com "
             "`flask --app app settings`.", err=True)
        sys.exit(1)
    except ValueError as exc:
        db.session.rollback()
        echo(f"Erro: {exc} Nada foi alterado.", err=True)
        sys.exit(1)
    echo(f"{name.strip().lower()} = {stored.shown if stored.shown else '(vazio)'}")
    for note in stored.notes:
        echo(f"Atenção: {note}")


@bp.cli.command("set-company")
@click.argument("code")
@click.option("--name", help="razão social")
@click.option("--cnpj", help="CNPJ (ou CPF) do credor")
@click.option("--address", help="endereço (use \\n para quebrar a linha)")
@click.option("--phone", help="telefone")
@click.option("--email", help="e-mail")
def set_company_command(code: str, name: str | None, cnpj: str | None, address: str | None,
                        phone: str | None, email: str | None) -> None:
    """Fill in a company's (Empresa) data shown in every e-mail (CDC art. 42-A); creates it if new."""
    company = db.session.query(Company).filter_by(code=code.strip()).one_or_none()
    if company is None:
        company = Company(code=code.strip())
    values = {"name": company.name or "", "tax_id": company.tax_id or "",
              "address": company.address or "", "phone": company.phone or "",
              "email": company.email or ""}
    for key, given in (("name", name), ("tax_id", cnpj), ("address", address), ("phone", phone),
                       ("email", email)):
        if given is not None:
            values[key] = given.replace("\\n", "\n")
    errors = editing.company_errors(code, **values)
    if errors:
        for error in errors:
            echo(f"Erro: {error}", err=True)
        echo("Nada foi alterado.", err=True)
        sys.exit(1)
    if company.id is None:
        db.session.add(company)
    editing.save_company(db.session, company, account_names={}, **values)
    echo(f"Empresa {company.code} salva: {company.display_name}.")
    missing = editing.creditor_missing(company)
    if missing:
        echo(f"Atenção: ainda falta {', '.join(missing)}; os lembretes não citam esta empresa "
             "enquanto faltar (CDC art. 42-A).")
