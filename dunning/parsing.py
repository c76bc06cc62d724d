"""Reading the ERP's open-items CSV into validated rows, in batches, for ``dunning.importing``.

Parsing is the import's Python-heavy half: a large file on disk is parsed by a child process
while this process writes the batches it sends to the database, so the two halves run on two
cores. A small file or an upload is parsed here. Both ways run the same ``parse_batches``; this
module imports nothing of the web app or the database, so the child starts quickly.
"""
from __future__ import annotations

import marshal
import os
import pickle
import subprocess
import sys
from dataclasses import astuple, dataclass
from itertools import compress, repeat
from operator import gt, itemgetter, ne
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dunning.addresses import is_valid_email, split_emails
from dunning.bulk import gc_paused
from dunning.csvfile import CsvSource, FileRejected, RowError
from dunning.formatting import (DATE_RANGE_MESSAGE, DateOutOfRange, cents_column, parse_cents,
                                 parse_date)
from dunning.taxid import PADDABLE_LENGTHS, is_valid_tax_id, zero_padded

MAX_ERRORS = 100
BATCH_ROWS = 5000  # rows a batch carries to the writer
CHUNK_ROWS = 250  # rows read and parsed at a time
_UNKNOWN = (None, None)  # a code met for the first time: no id, no previous row
# Files at least this large, on disk, are parsed by a child process (below, starting it costs
# more than it saves).
PARALLEL_BYTES = 8 << 20
_ROOT = Path(__file__).resolve().parent.parent

COLUMNS: dict[str, tuple[str, ...]] = {
    "empresa": ("cod_empresa", "codigo_empresa", "filial"),
    "cliente": ("cod_cliente", "codigo_cliente", "cliente_codigo"),
    "documento": ("numero", "fatura", "num_documento", "nr_documento", "numero_documento", "doc"),
    "vencimento": ("dt_vencimento", "data_vencimento", "vcto", "venc"),
    "saldo": ("valor_aberto", "saldo_aberto", "valor_em_aberto", "saldo_devedor"),
    "parcela": ("prestacao", "num_parcela"),
    "nome": ("nome_cliente", "razao_social", "cliente_nome"),
    "cpf_cnpj": ("cpf", "cnpj", "cnpj_cpf", "documento_cliente"),
    "email": ("emails", "e_mail", "email_cliente"),
    "grupo": ("grupo_pessoas", "grupo_de_pessoas", "grupo_cliente", "cod_grupo"),
    "empresa_nome": ("nome_empresa", "razao_social_empresa"),
    "empresa_cnpj": ("cnpj_empresa",),
    "conta": ("cod_conta", "codigo_conta", "conta_codigo"),
    "emissao": ("dt_emissao", "data_emissao"),
    "valor": ("valor_original", "valor_fatura", "valor_documento"),
    "linha_digitavel": ("linha_digitável", "codigo_barras"),
    "pix": ("pix_copia_e_cola", "pix_copia_cola", "pix_copiaecola"),
    "link_pagamento": ("link", "url_pagamento", "link_de_pagamento"),
}
REQUIRED = ("empresa", "cliente", "documento", "vencimento", "saldo")
# The fields a row is read into, in order, and the longest text each may hold (the schema's sizes).
_FIELDS = ("empresa", "cliente", "documento", "vencimento", "saldo", "parcela", "conta", "emissao",
           "valor", "linha_digitavel", "pix", "link_pagamento",
           "nome", "cpf_cnpj", "email", "grupo", "empresa_nome", "empresa_cnpj")
_LIMITS = (40, 40, 60, 40, 40, 20, 40, 40, 40, 80, 10_000, 2_000, 200, 40, 2_000, 40, 200, 40)
_INVOICE_LIMITS, _PARTY_LIMITS, _FIRM_LIMITS = _LIMITS[:12], _LIMITS[12:16], _LIMITS[16:]

# A parsed row: the invoice's values, in the order the invoice upsert takes them.
ROW_FIELDS = ("company_id", "document", "installment", "customer_id", "account_id", "due_date",
              "balance_cents", "issue_date", "amount_cents", "digitable_line", "pix_code",
              "payment_link", "settled_at")


@dataclass
class Ids:
    """The station's codes and their ids when the import starts, and the next free id of each
    table: the parser numbers new companies, accounts and customers itself, in file order, so
    that its rows carry ids (the importing process holds the write lock meanwhile)."""

    companies: dict[str, int]
    accounts: dict[tuple[int, str], int]
    customers: dict[str, int]
    next_company: int
    next_account: int
    next_customer: int


@dataclass
class Batch:
    """Valid rows (``ROW_FIELDS``) with their lines, and the master data first met since the
    previous batch.

    ``customers``/``companies`` map codes to (id, what the file said of them so far, empty
    cells left out); ``accounts`` are new (id, company id, conta); ``checks`` the CPF/CNPJs and
    e-mail addresses met for the first time (line, field, value); ``position`` the bytes read.
    """

    rows: list[tuple]
    lines: list[int]
    customers: dict[str, tuple[int, dict[str, str]]]
    companies: dict[str, tuple[int, dict[str, str]]]
    accounts: list[tuple[int, int, str]]
    checks: list[tuple[int, str, str]]
    position: int


@dataclass
class Summary:
    """The end of a parse: the errors (the file is refused if any), the count, the master data.

    ``customers`` are those whose master data later rows completed or changed after a batch
    carried them (their final data); ``companies`` is every company's final master data.
    """

    errors: list[RowError]
    rows: int
    customers: dict[str, tuple[int, dict[str, str]]]
    companies: dict[str, tuple[int, dict[str, str]]]


def check_master_data(checks: list[tuple[int, str, str]],
                      column_names: dict[str, str]) -> list[RowError]:
    """Warnings for the CPF/CNPJs and e-mail addresses of ``checks`` that are not valid (they
    are imported all the same); ``column_names`` maps cpf_cnpj/email to the file's header."""
    warnings = []
    for line, field, value in checks:
        if field in ("cpf_cnpj_zeros", "empresa_cnpj_zeros"):
            warnings.append(RowError(line, column_names[field[:-6]], value,
                                     "CPF/CNPJ sem os zeros à esquerda (comum em planilhas); "
                                     f"gravado como {zero_padded(value)}"))
        elif field == "cpf_cnpj":
            if not is_valid_tax_id(value):
                warnings.append(RowError(line, column_names[field], value,
                                         "CPF/CNPJ com dígitos verificadores inválidos "
                                         "(importado assim mesmo)"))
        elif not is_valid_email(value):
            why = "e-mail inválido" if value.rpartition("@")[0].isascii() else (
                "e-mail com acentos ou caracteres especiais antes do @, que o envio não usa")
            warnings.append(RowError(line, column_names[field], value, f"{why} "
                                     "(importado; o cliente não receberá nesse endereço)"))
    return warnings


def _state(known: dict[str, str], name: str, value: str) -> None:
    """Record one field a row states (an empty cell never erases what another row said)."""
    if value:
        known[name] = value


class RowParser:
    """Validates rows into tuples (``ROW_FIELDS``) and keeps the master data they state.

    ``parse_columns`` takes a slice of usual rows a column at a time; ``parse`` takes one row
    (an unusual one, or any after the first error) with a fast path for a valid row: one
    itemgetter, cached dates, master data compared with the customer's previous row. A row that
    fails is re-checked by ``_errors``, which names every problem. Both give the same results
    (a property test holds them to it).
    """

    def __init__(self, columns: dict[str, int], header: list[str], ids: Ids, stamp: str):
        """``stamp`` is the settled_at of the items the file lists with saldo 0."""
        self.ids = ids
        self.stamp = stamp
        self.col = columns
        self.header = header
        self.width = len(header)
        # A missing optional column reads the empty cell appended to every row (index = width).
        self.pick = itemgetter(*(columns.get(name, self.width) for name in _FIELDS))
        # Only a file without some optional column needs that extra cell (a copy of each row).
        self.padded = any(name not in columns for name in _FIELDS)
        # Each CPF/CNPJ and address met for the first time, with its line, for the writer to
        # check (check_master_data): the parser is the busier of the two processes.
        self.checks: list[tuple[int, str, str]] = []
        self.dates: dict[str, str] = {}
        self.customers: dict[str, dict[str, str]] = {}
        # code -> (id, the master data cells of its previous row)
        self.customer_rows: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.companies: dict[str, dict[str, str]] = {}
        self.company_rows: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.checked_tax_ids: set[str] = set()
        self.checked_emails: set[str] = set()
        # What the next batch carries, and the customers changed after a batch carried them.
        self.new_customers: list[str] = []
        self.pending_customers: set[str] = set()  # the same, as a set
        self.changed_customers: set[str] = set()
        self.new_companies: list[str] = []
        self.new_accounts: list[tuple[int, int, str]] = []

    def parse(self, line: int, cells: list[str]) -> tuple | list[RowError]:
        """A row tuple for a valid row, else the row's errors."""
        if len(cells) != self.width or self.padded:
            if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
                return self._errors(line, cells)
            values = tuple(map(str.strip, self.pick(
                cells[:self.width] + [""] * (self.width + 1 - min(len(cells), self.width)))))
        else:
            values = tuple(map(str.strip, self.pick(cells)))
        (company, customer, document, due, balance, installment, account, issued, amount,
         digitable, pix, link) = values[:12]
        # Master data equal to the customer's (company's) previous row passed these checks then.
        party = values[12:16]
        firm = values[16:]
        known_party = self.customer_rows.get(customer)
        known_firm = self.company_rows.get(company)
        new_party = known_party is None or known_party[1] != party
        new_firm = known_firm is None or known_firm[1] != firm
        try:
            if not (company and customer and document and due and balance) \
                    or any(map(gt, map(len, values), _INVOICE_LIMITS)) \
                    or (new_party and any(map(gt, map(len, party), _PARTY_LIMITS))) \
                    or (new_firm and any(map(gt, map(len, firm), _FIRM_LIMITS))):
                raise ValueError
            due = self.dates.get(due) or self._date(due)
            # Most open items are not paid in part: saldo repeats valor, parse it once.
            amount = parse_cents(amount) if amount else None
            balance = amount if balance == values[8] else parse_cents(balance)
            if issued:
                issued = self.dates.get(issued) or self._date(issued)
            else:
                issued = None
            if balance < 0 or (amount is not None and amount < 0):
                raise ValueError
        except ValueError:
            return self._errors(line, cells)
        customer_id = self._customer(line, customer, party) if new_party else known_party[0]
        company_id = self._company(line, company, firm) if new_firm else known_firm[0]
        account_id = self.ids.accounts.get((company_id, account)) \
            or self._account(company_id, account)
        return (company_id, document, installment, customer_id, account_id, due, balance, issued,
                amount, digitable, pix, link, None if balance else self.stamp)

    def parse_columns(self, lines: list[int], cells: list[list[str]]) -> list[tuple] | None:
        """``parse`` of each row (``cells``, starting at ``lines``), computed a column at a time;
        None when some row is not of the usual shape (a cell more or less, an unusual amount,
        any error): ``parse`` then takes the rows one by one. Nothing is recorded before every
        check has passed."""
        if set(map(len, cells)) != {self.width}:
            return None
        columns = list(zip(*cells))
        empty = ("",) * len(cells)
        values = [tuple(map(str.strip, columns[self.col[name]])) if name in self.col else empty
                  for name in _FIELDS]
        if any(max(map(len, column)) > limit for column, limit in zip(values, _LIMITS)):
            return None
        (company, customer, document, due, balance, installment, account, issued, amount,
         digitable, pix, link, name, tax_id, email, group, company_name, company_tax_id) = values
        if not (all(company) and all(customer) and all(document) and all(due) and all(balance)):
            return None
        amounts = cents_column(amount) if any(amount) else [None] * len(cells)
        balances = amounts if balance == amount else cents_column(balance)
        dues = self._dates_column(due)
        issues = self._dates_column(issued) if any(issued) else [None] * len(cells)
        if amounts is None or balances is None or dues is None or issues is None:
            return None
        # Every row is valid: record the master data, in file order.
        customer_ids = self._ids_column(customer, list(zip(name, tax_id, email, group)),
                                        self.customer_rows, lines, self._customer)
        company_ids = self._ids_column(company, list(zip(company_name, company_tax_id)),
                                       self.company_rows, lines, self._company)
        accounts = self.ids.accounts
        pairs = list(zip(company_ids, account))
        account_ids = list(map(accounts.get, pairs))
        if None in account_ids:
            account_ids = [known or accounts.get(pair) or self._account(*pair)
                           for known, pair in zip(account_ids, pairs)]
        stamp = self.stamp
        settled = [None if cents else stamp for cents in balances]
        return list(zip(company_ids, document, installment, customer_ids, account_ids, dues,
                        balances, issues, amounts, digitable, pix, link, settled))

    @staticmethod
    def _ids_column(codes: tuple[str, ...], stated: list[tuple[str, ...]],
                    known: dict[str, tuple[int, tuple[str, ...]]], lines: list[int],
                    note: Callable[[int, str, tuple[str, ...]], int]) -> list[int]:
        """The ids of a column of codes. A code whose row states master data other than its
        previous row's goes through ``note`` (which records it and returns the id): in file
        order, with every later row of that code, as ``parse`` would."""
        entries = list(map(known.get, codes, repeat(_UNKNOWN, len(codes))))
        ids = list(map(itemgetter(0), entries))
        changed = list(map(ne, map(itemgetter(1), entries), stated))
        if any(changed):
            noted = set(compress(codes, changed))
            for i in compress(range(len(codes)), map(noted.__contains__, codes)):
                entry = known.get(codes[i])
                ids[i] = entry[0] if entry is not None and entry[1] == stated[i] \
                    else note(lines[i], codes[i], stated[i])
        return ids

    def _dates_column(self, column: tuple[str, ...]) -> list[str | None] | None:
        """ISO dates of a column (None for an empty cell); None when one is not a date."""
        dates = list(map(self.dates.get, column))
        if None in dates:
            for i, text in enumerate(column):
                if dates[i] is None and text:
                    try:
                        dates[i] = self._date(text)
                    except ValueError:
                        return None
        return dates

    def take_batch(self, rows: list[tuple], lines: list[int], position: int) -> Batch:
        """The rows with the master data first stated since the previous batch."""
        # The dicts themselves: the batch is written (or sent) before the next row is read.
        customers = {code: (self.customer_rows[code][0], self.customers[code])
                     for code in self.new_customers}
        companies = {code: (self.company_rows[code][0], self.companies[code])
                     for code in self.new_companies}
        batch = Batch(rows, lines, customers, companies, self.new_accounts, self.checks, position)
        self.checks = []
        self.new_customers, self.new_companies, self.new_accounts = [], [], []
        self.pending_customers = set()
        return batch

    def summary(self, errors: list[RowError], rows: int) -> Summary:
        """The end of the parse (see ``Summary``)."""
        changed = {code: (self.customer_rows[code][0], self.customers[code])
                   for code in self.changed_customers}
        companies = {code: (self.company_rows[code][0], known)
                     for code, known in self.companies.items()}
        return Summary(errors, rows, changed, companies)

    def _customer(self, line: int, code: str, party: tuple[str, ...]) -> int:
        """The customer's id, after recording what this row says of it."""
        known = self.customer_rows.get(code)
        if known is not None:
            customer_id = known[0]
        else:
            customer_id = self.ids.customers.get(code)
            if customer_id is None:  # new: customer_rows remembers it from now on
                customer_id = self.ids.next_customer
                self.ids.next_customer += 1
        self.customer_rows[code] = (customer_id, party)
        self._note_customer(line, code, *party)
        return customer_id

    def _company(self, line: int, code: str, firm: tuple[str, ...]) -> int:
        """The company's id, after recording what this row says of it."""
        known = self.company_rows.get(code)
        if known is not None:
            company_id = known[0]
        else:
            company_id = self.ids.companies.get(code)
            if company_id is None:
                company_id = self.ids.companies[code] = self.ids.next_company
                self.ids.next_company += 1
            self.new_companies.append(code)
        self.company_rows[code] = (company_id, firm)
        state = self.companies.setdefault(code, {})
        _state(state, "name", firm[0])
        _state(state, "tax_id", self._padded(line, "empresa_cnpj", firm[1]))
        return company_id

    def _padded(self, line: int, field: str, tax_id: str) -> str:
        """``tax_id`` with the leading zeros a spreadsheet dropped (a warning says so, once)."""
        if len(tax_id) not in PADDABLE_LENGTHS:
            return tax_id
        padded = zero_padded(tax_id)
        if padded is None:
            return tax_id
        if tax_id not in self.checked_tax_ids:
            self.checked_tax_ids.add(tax_id)
            self.checks.append((line, f"{field}_zeros", tax_id))
        return padded

    def _account(self, company_id: int, code: str) -> int:
        """The id of a (company, conta) pair the station does not know yet."""
        account_id = self.ids.accounts[company_id, code] = self.ids.next_account
        self.ids.next_account += 1
        self.new_accounts.append((account_id, company_id, code))
        return account_id

    def _date(self, value: str) -> str:
        iso = self.dates.get(value)
        if iso is None:
            iso = parse_date(value).isoformat()
            if len(self.dates) < 100_000:
                self.dates[value] = iso
        return iso

    def _note_customer(self, line: int, customer: str, name: str, tax_id: str, emails: str,
                       group: str) -> None:
        """Record the master data a row states, warning once per doubtful CPF/CNPJ or address."""
        addresses = split_emails(emails) if emails else []
        tax_id = self._padded(line, "cpf_cnpj", tax_id)
        stated = {}
        if name:
            stated["name"] = name
        if tax_id:
            stated["tax_id"] = tax_id
        if addresses:
            stated["emails"] = ", ".join(addresses)
        if group:
            stated["group"] = group
        known = self.customers.get(customer)
        if known is None:
            self.customers[customer] = stated
            self.new_customers.append(customer)
            self.pending_customers.add(customer)
        elif any(known.get(key) != value for key, value in stated.items()):
            known.update(stated)
            if customer not in self.pending_customers:  # a batch carried the older data
                self.changed_customers.add(customer)
        if tax_id and tax_id not in self.checked_tax_ids:
            self.checked_tax_ids.add(tax_id)
            self.checks.append((line, "cpf_cnpj", tax_id))
        for address in addresses:
            if address not in self.checked_emails:
                self.checked_emails.add(address)
                self.checks.append((line, "email", address))

    def _errors(self, line: int, cells: list[str]) -> list[RowError]:
        """Every problem of a row the fast path refused, each naming its column and value."""
        errors: list[RowError] = []

        def get(name: str) -> str:
            i = self.col.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        def bad(name: str, value: str, message: str) -> None:
            column = self.header[self.col[name]] if name in self.col else name
            errors.append(RowError(line, column, value, message))

        if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
            errors.append(RowError(line, "", "", f"a linha tem {len(cells)} campos e o cabeçalho "
                                                 f"{self.width}"))
        for name in ("empresa", "cliente", "documento", "vencimento", "saldo"):
            if not get(name):
                bad(name, "", "campo obrigatório vazio")
        for name in ("vencimento", "emissao"):
            if get(name):
                try:
                    parse_date(get(name))
                except DateOutOfRange:
                    bad(name, get(name), DATE_RANGE_MESSAGE)
                except ValueError:
                    bad(name, get(name), "data inválida (use dd/mm/aaaa ou aaaa-mm-dd)")
        for name in ("saldo", "valor"):
            if get(name):
                try:
                    if parse_cents(get(name)) < 0:
                        bad(name, get(name), f"{name} negativo")
                except ValueError:
                    bad(name, get(name), "valor inválido (use 1.234,56, 1234,56 ou 1234.56)")
        for name, limit in zip(_FIELDS, _LIMITS):
            if len(get(name)) > limit:
                bad(name, get(name)[:limit] + "…", f"texto longo demais (máximo {limit} caracteres)")
        return errors


def parse_batches(chunks: Iterator[list[tuple[int, list[str]]]], parser: RowParser,
                  position: Callable[[], int]) -> Iterator[Batch | Summary]:
    """Batches of BATCH_ROWS valid rows, then the Summary; no batch follows the first error.

    ``chunks`` are lists of a few hundred rows (CHUNK_ROWS: read, split and parsed while still
    in the processor's cache), each parsed a column at a time (``parse_columns``) unless some
    row in it needs a closer look; then, and after the first error, row by row. Stops reading
    at MAX_ERRORS errors; ``chunks`` raises FileRejected for text that is not CSV.
    """
    errors: list[RowError] = []
    batch: list[tuple] = []
    lines: list[int] = []
    count = 0
    with gc_paused():  # rows, tuples and strings only: nothing here forms a cycle
        for chunk in chunks:
            numbers = [line for line, _ in chunk]
            parsed = None if errors else parser.parse_columns(numbers, [row for _, row in chunk])
            if parsed is not None:
                batch += parsed
                lines += numbers
                count += len(chunk)
            else:
                for line, cells in chunk:
                    row = parser.parse(line, cells)
                    if type(row) is list:
                        errors.extend(row)
                        if len(errors) >= MAX_ERRORS:
                            break
                        continue
                    count += 1
                    if not errors:
                        batch.append(row)
                        lines.append(line)
                if len(errors) >= MAX_ERRORS:
                    break
            if len(batch) >= BATCH_ROWS and not errors:
                yield parser.take_batch(batch, lines, position())
                batch, lines = [], []
    if batch and not errors:
        yield parser.take_batch(batch, lines, position())
    yield parser.summary(errors, count)


def batches(source: CsvSource, columns: dict[str, int], ids: Ids, stamp: str,
            parallel: bool | None = None) -> Iterator[Batch | Summary]:
    """The file's batches, then its Summary: parsed here, or by a child process.

    ``ids`` and ``stamp`` are the parser's (see RowParser). ``parallel`` None decides by size
    (PARALLEL_BYTES); True asks for the child whenever the input is a file on disk; False
    parses here.
    """
    path = getattr(source.binary, "name", None)
    if parallel is None:
        parallel = source.size >= PARALLEL_BYTES
    if parallel and isinstance(path, str) and os.path.isfile(path):
        try:
            child = _Child(path, source, columns, ids, stamp)
        except OSError:  # no child process to be had: parse here
            pass
        else:
            yield from child.messages()
            return
    parser = RowParser(columns, source.header, ids, stamp)
    yield from parse_batches(source.chunks(CHUNK_ROWS), parser, source.position)


class _Child:
    """``python -m dunning.parsing`` parsing the file, its messages read from its stdout.

    A plain child process rather than multiprocessing: nothing of the parent program (the flask
    command, a test runner) is imported again there, and it behaves the same on Windows.
    """

    def __init__(self, path: str, source: CsvSource, columns: dict[str, int], ids: Ids,
                 stamp: str):
        self.process = subprocess.Popen([sys.executable, "-m", "dunning.parsing"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=_ROOT)
        try:
            task = (os.path.abspath(path), source.encoding, source.quoted, columns, ids, stamp)
            self.process.stdin.write(pickle.dumps(task, pickle.HIGHEST_PROTOCOL))
            self.process.stdin.close()
        except OSError:
            self.stop()
            raise

    def messages(self) -> Iterator[Batch | Summary]:
        """The batches, then the Summary; raises FileRejected for a file the child refused."""
        stream = self.process.stdout
        try:
            while True:
                head = stream.read(8)
                if len(head) < 8:  # it died (its error is on stderr): nothing is written
                    raise FileRejected([RowError(0, "", "", "o processo que lê o arquivo parou "
                                                             "antes do fim; nada foi gravado")])
                message = _decode(stream.read(int.from_bytes(head, "little")))
                yield message
                if isinstance(message, Summary):
                    return
        finally:
            self.stop()

    def stop(self) -> None:
        self.process.stdout.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _send(stream: BinaryIO, message: Batch | Summary | FileRejected) -> None:
    """A message as marshal data (plain tuples, lists and dicts: faster than pickle both ways;
    parent and child are the same interpreter), after its length."""
    if isinstance(message, Batch):
        fields = ("B", message.rows, message.lines, message.customers, message.companies,
                  message.accounts, message.checks, message.position)
    elif isinstance(message, Summary):
        fields = ("S", [astuple(e) for e in message.errors], message.rows, message.customers,
                  message.companies)
    else:
        fields = ("R", [astuple(e) for e in message.errors], message.truncated)
    data = marshal.dumps(fields)
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)


def _decode(data: bytes) -> Batch | Summary:
    """``_send``'s message back; a rejection is raised."""
    kind, *fields = marshal.loads(data)
    if kind == "B":
        return Batch(*fields)
    if kind == "S":
        errors, rows, customers, companies = fields
        return Summary([RowError(*e) for e in errors], rows, customers, companies)
    raise FileRejected([RowError(*e) for e in fields[0]], fields[1])


def _main() -> None:
    """The child process: parse the file; write each batch, then the summary (or the rejection)."""
    path, encoding, quoted, columns, ids, stamp = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    with open(path, "rb") as stream:
        try:
            source = CsvSource(stream, encoding, quoted)
            parser = RowParser(columns, source.header, ids, stamp)
            for message in parse_batches(source.chunks(CHUNK_ROWS), parser, source.position):
                _send(out, message)
        except FileRejected as exc:
            _send(out, exc)
    out.flush()


if __name__ == "__main__":
    # Run the module's own copy (not this __main__ one), whose Ids class the task names.
    from dunning import parsing
    try:
        parsing._main()
    except BrokenPipeError:  # the importing process went away
        pass
