"""Dunning settings as CSV (SPEC §5, last paragraph): bulk set-up and backup.

One row per setting, columns ``tipo;codigo;empresa;conta;enviar_email;dias_tolerancia``:

* ``cliente``             a customer's switch (herdar/sim/nao) and tolerance
* ``cliente_conta``       a customer's (empresa, conta) entry and its checkbox (sim/nao)
* ``cliente_faturamento`` a customer's billing account (empresa, conta)
* ``grupo``               a group's checkbox (sim/nao) and tolerance
* ``grupo_conta``         a group's (empresa, conta) entry and its checkbox (sim/nao)

An import replaces **all** the settings of every customer and group the file names (a setting
without a row goes back to its default) and leaves the others alone; it is all or nothing.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.importing import MAX_ERRORS
from dunning.typed_input import whole_number
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, SendEmail)

COLUMNS = ("tipo", "codigo", "empresa", "conta", "enviar_email", "dias_tolerancia")
CUSTOMER, CUSTOMER_ACCOUNT, CUSTOMER_BILLING = "cliente", "cliente_conta", "cliente_faturamento"
GROUP, GROUP_ACCOUNT = "grupo", "grupo_conta"
KINDS = (CUSTOMER, CUSTOMER_ACCOUNT, CUSTOMER_BILLING, GROUP, GROUP_ACCOUNT)
MAX_TOLERANCE = 3650
# Spreadsheets run a cell starting with one of these as a formula; export prefixes a quote.
_FORMULA = re.compile(r"'*[=+\-@]")
_CHUNK = 500


@dataclass
class PoliciesReport:
    """What an accepted policies import replaced."""

    rows: int = 0
    customers: int = 0
    groups: int = 0


@dataclass
class _Owner:
    """The settings a file gives one customer or group (absent ones are the defaults)."""

    id: int
    send_email: str | None = None
    tolerance_days: int | None = None
    entries: dict[int, bool] = field(default_factory=dict)   # account id -> checkbox
    billing: set[int] = field(default_factory=set)          # account ids


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if _FORMULA.match(cell) else cell


def unneutralise(cell: str) -> str:
    """Undo ``neutralise``: drop the one quote it added."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell) else cell


def _word(cell: str) -> str:
    """``Não`` -> ``nao``: lower case without accents, for the enviar_email vocabulary."""
    decomposed = unicodedata.normalize("NFKD", cell.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _Parser:
    """Validates rows against the station's customers, groups and accounts."""

    def __init__(self, session: Session, header: list[str], columns: dict[str, int]):
        self.header = header
        self.col = columns
        self.customers = {code: cid for code, cid in session.execute(select(Customer.code, Customer.id))}
        self.groups = {code: gid for code, gid in
                       session.execute(select(CustomerGroup.code, CustomerGroup.id))}
        self.accounts = {(company, code): aid for aid, company, code in session.execute(
            select(Account.id, Company.code, Account.code).join(Company, Account.company_id == Company.id))}
        self.companies = {company for company, _ in self.accounts}
        self.customer_settings: dict[int, _Owner] = {}
        self.group_settings: dict[int, _Owner] = {}
        self.seen: dict[tuple, int] = {}
        self.errors: list[RowError] = []

    def _cell(self, cells: list[str], name: str) -> str:
        i = self.col[name]
        return unneutralise(cells[i].strip()) if i < len(cells) else ""

    def _bad(self, line: int, name: str, value: str, message: str) -> None:
        self.errors.append(RowError(line, self.header[self.col[name]], value, message))

    def row(self, line: int, cells: list[str]) -> None:
        """Check one row; remember its setting when it is valid."""
        before = len(self.errors)
        if len(cells) > len(self.header) and any(c.strip() for c in cells[len(self.header):]):
            self.errors.append(RowError(line, "", "", f"a linha tem {len(cells)} campos e o "
                                                      f"cabeçalho {len(self.header)}"))
        kind = _word(self._cell(cells, "tipo"))
        if kind not in KINDS:
            self._bad(line, "tipo", self._cell(cells, "tipo"),
                      "tipo inválido (use " + ", ".join(KINDS) + ")")
            return
        owner = self._owner(line, kind, self._cell(cells, "codigo"))
        account = self._account(line, kind, cells)
        switch = self._switch(line, kind, self._cell(cells, "enviar_email"))
        tolerance = self._tolerance(line, kind, self._cell(cells, "dias_tolerancia"))
        if len(self.errors) > before or owner is None:
            return
        key = (kind, owner.id, account)
        if key in self.seen:
            self._bad(line, "codigo", self._cell(cells, "codigo"),
                      f"configuração repetida (já aparece na linha {self.seen[key]})")
            return
        self.seen[key] = line
        if kind in (CUSTOMER, GROUP):
            owner.send_email, owner.tolerance_days = switch, tolerance
        elif kind == CUSTOMER_BILLING:
            owner.billing.add(account)
        else:
            owner.entries[account] = switch == SendEmail.YES.value

    def _owner(self, line: int, kind: str, code: str) -> _Owner | None:
        is_group = kind.startswith("grupo")
        known, settings = (self.groups, self.group_settings) if is_group \
            else (self.customers, self.customer_settings)
        if not code:
            self._bad(line, "codigo", "", "campo obrigatório vazio")
            return None
        owner_id = known.get(code)
        if owner_id is None:
            self._bad(line, "codigo", code,
                      "grupo não cadastrado" if is_group else "cliente não cadastrado")
            return None
        return settings.setdefault(owner_id, _Owner(owner_id))

    def _account(self, line: int, kind: str, cells: list[str]) -> int | None:
        company, code = self._cell(cells, "empresa"), self._cell(cells, "conta")
        if kind in (CUSTOMER, GROUP):
            for name, value in (("empresa", company), ("conta", code)):
                if value:
                    self._bad(line, name, value, f"deve ficar vazio em linhas do tipo {kind}")
            return None
        if not company:
            self._bad(line, "empresa", "", "campo obrigatório vazio")
        elif company not in self.companies:
            self._bad(line, "empresa", company, "empresa não cadastrada")
        elif (company, code) not in self.accounts:
            self._bad(line, "conta", code, f"conta não cadastrada na empresa {company}")
        else:
            return self.accounts[(company, code)]
        return None

    def _switch(self, line: int, kind: str, value: str) -> str | None:
        word = _word(value)
        if kind == CUSTOMER_BILLING:
            if value:
                self._bad(line, "enviar_email", value,
                          "deve ficar vazio em linhas do tipo cliente_faturamento")
            return None
        allowed = ("herdar", "sim", "nao") if kind == CUSTOMER else ("sim", "nao")
        if word not in allowed:
            self._bad(line, "enviar_email", value, "valor inválido (use " + ", ".join(allowed) + ")")
            return None
        return word

    def _tolerance(self, line: int, kind: str, value: str) -> int | None:
        if not value:
            return None
        if kind not in (CUSTOMER, GROUP):
            self._bad(line, "dias_tolerancia", value, f"deve ficar vazio em linhas do tipo {kind}")
            return None
        if not re.fullmatch(r"-?[0-9]+", value):
            self._bad(line, "dias_tolerancia", value, "use um número inteiro de dias (ou deixe vazio)")
            return None
        days = whole_number(value, 0, MAX_TOLERANCE)  # None past either end, whatever its length
        if days is not None:
            return days
        if value.startswith("-"):
            self._bad(line, "dias_tolerancia", value, "não pode ser negativo")
        else:
            self._bad(line, "dias_tolerancia", value, f"no máximo {MAX_TOLERANCE} dias")
        return None


def import_policies(session: Session, stream: BinaryIO) -> PoliciesReport:
    """Replace the settings of every customer and group the file names; all or nothing."""
    source = CsvSource(stream)
    columns, errors, unknown = source.map_columns({name: () for name in COLUMNS}, COLUMNS)
    errors += [RowError(1, cell, "", "coluna desconhecida") for cell in unknown]
    if errors:
        raise FileRejected(errors)
    parser = _Parser(session, source.header, columns)
    report = PoliciesReport()
    for line, cells in source.rows():
        report.rows += 1
        parser.row(line, cells)
        if len(parser.errors) >= MAX_ERRORS:
            break
    if parser.errors:
        raise FileRejected(parser.errors[:MAX_ERRORS], truncated=len(parser.errors) >= MAX_ERRORS)
    try:
        _replace_customers(session, parser.customer_settings)
        _replace_groups(session, parser.group_settings)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    report.customers, report.groups = len(parser.customer_settings), len(parser.group_settings)
    return report


def _replace_customers(session: Session, owners: dict[int, _Owner]) -> None:
    """Named customers: switch, tolerance, account entries and billing accounts as the file says."""
    _clear(session, owners, (CustomerAccountRule.customer_id, BillingAccount.customer_id))
    _set_switches(session, Customer, [(o.id, o.send_email or SendEmail.INHERIT.value, o.tolerance_days)
                                      for o in owners.values()])
    _insert(session, CustomerAccountRule, [
        {"customer_id": o.id, "account_id": aid, "send_email": checked}
        for o in owners.values() for aid, checked in o.entries.items()])
    _insert(session, BillingAccount, [{"customer_id": o.id, "account_id": aid}
                                      for o in owners.values() for aid in o.billing])


def _replace_groups(session: Session, owners: dict[int, _Owner]) -> None:
    """Named groups: checkbox, tolerance and account entries as the file says."""
    _clear(session, owners, (GroupAccountRule.group_id,))
    _set_switches(session, CustomerGroup, [(o.id, o.send_email == SendEmail.YES.value, o.tolerance_days)
                                           for o in owners.values()])
    _insert(session, GroupAccountRule, [
        {"group_id": o.id, "account_id": aid, "send_email": checked}
        for o in owners.values() for aid, checked in o.entries.items()])


def _clear(session: Session, owners: dict[int, _Owner], owner_columns) -> None:
    """Delete the named owners' account rows, a chunk of ids at a time."""
    ids = sorted(owners)
    for start in range(0, len(ids), _CHUNK):
        for column in owner_columns:
            session.execute(delete(column.class_).where(column.in_(ids[start:start + _CHUNK])))


def _set_switches(session: Session, model, values: list[tuple]) -> None:
    """(id, send_email, tolerance_days) for each named owner, in one executemany."""
    if values:
        table = model.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("owner_id"))
            .values(send_email=bindparam("switch"), tolerance_days=bindparam("tolerance")),
            [{"owner_id": oid, "switch": switch, "tolerance": tolerance}
             for oid, switch, tolerance in values])


def _insert(session: Session, model, rows: list[dict]) -> None:
    if rows:
        session.execute(model.__table__.insert(), rows)


def export_policies(session: Session) -> str:
    """Every customer and group with a non-default setting, as the import reads it, in a stable order."""
    accounts = {aid: (company, code) for aid, company, code in session.execute(
        select(Account.id, Company.code, Account.code).join(Company, Account.company_id == Company.id))}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    customer_entries = _pairs(session, CustomerAccountRule.customer_id, CustomerAccountRule)
    billing = _pairs(session, BillingAccount.customer_id, BillingAccount)
    for cid, code, switch, tolerance in session.execute(
            select(Customer.id, Customer.code, Customer.send_email, Customer.tolerance_days)
            .order_by(Customer.code)):
        if switch == SendEmail.INHERIT.value and tolerance is None \
                and cid not in customer_entries and cid not in billing:
            continue
        writer.writerow([CUSTOMER, neutralise(code), "", "", switch, _days(tolerance)])
        _write_accounts(writer, CUSTOMER_ACCOUNT, code, customer_entries.get(cid), accounts)
        _write_accounts(writer, CUSTOMER_BILLING, code, billing.get(cid), accounts)
    group_entries = _pairs(session, GroupAccountRule.group_id, GroupAccountRule)
    for gid, code, switch, tolerance in session.execute(
            select(CustomerGroup.id, CustomerGroup.code, CustomerGroup.send_email,
                   CustomerGroup.tolerance_days).order_by(CustomerGroup.code)):
        if not switch and tolerance is None and gid not in group_entries:
            continue
        writer.writerow([GROUP, neutralise(code), "", "", "sim" if switch else "nao", _days(tolerance)])
        _write_accounts(writer, GROUP_ACCOUNT, code, group_entries.get(gid), accounts)
    return out.getvalue()


def _pairs(session: Session, owner_column, model) -> dict[int, list[tuple[int, bool | None]]]:
    """owner id -> [(account id, checkbox or None for billing accounts)]."""
    checkbox = getattr(model, "send_email", None)
    columns = [owner_column, model.account_id] + ([checkbox] if checkbox is not None else [])
    out: dict[int, list] = {}
    for row in session.execute(select(*columns)):
        out.setdefault(row[0], []).append((row[1], row[2] if checkbox is not None else None))
    return out


def _write_accounts(writer, kind: str, code: str, pairs, accounts: dict) -> None:
    for company, account, checked in sorted((*accounts[aid], checked) for aid, checked in pairs or ()):
        switch = "" if checked is None else ("sim" if checked else "nao")
        writer.writerow([kind, neutralise(code), neutralise(company), neutralise(account), switch, ""])


def _days(tolerance: int | None) -> str:
    return "" if tolerance is None else str(tolerance)
