"""The import and the database's own bookkeeping, on SQLite and PostgreSQL alike: two imports at
once, ids after an import (a plain ORM insert still works), no ids used up by unchanged rows."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from conftest import ON_POSTGRESQL
from dbdump import query
from models import Account, Company, Customer, CustomerGroup, Invoice, db

ROOT = Path(__file__).resolve().parent.parent
HEADER = "empresa;empresa_nome;cliente;nome;email;grupo;conta;documento;vencimento;saldo"


def export(tmp_path, name: str, companies: list[str], documents: range, customer: str = "C",
           saldo: str = "100,00") -> Path:
    """A file of one invoice per document and company; customers, groups and accounts too."""
    lines = [HEADER]
    for company in companies:
        for n in documents:
            lines.append(f"{company};Empresa {company};{customer}{n % 7};Cliente {n % 7};"
                         f"c{n % 7}@cliente.example.com;G{n % 3};{n % 2};D{n:04d};10/11/2026;{saldo}")
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def start_import(db_url: str, instance: str, path: Path) -> subprocess.Popen:
    """``flask import-invoices`` in a process of its own (another PC, or the folder job)."""
    env = {**os.environ, "DATABASE_URL": db_url, "APPLIANCE_INSTANCE": instance}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "import-invoices",
                             str(path)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@contextmanager
def writer_holding_the_database(db_url: str):
    """Another writer in the middle of a transaction on the import's tables (as a long import
    would be): imports started meanwhile must wait for it."""
    engine = create_engine(db_url)
    conn = engine.connect()
    try:
        if ON_POSTGRESQL:
            conn.execute(text("LOCK TABLE company IN SHARE ROW EXCLUSIVE MODE"))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def waiting_imports(db_url: str) -> int:
    """How many sessions wait for a lock (PostgreSQL); on SQLite, a pause long enough."""
    if not ON_POSTGRESQL:
        time.sleep(3)
        return 2
    return query(db_url, "SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0]


def test_two_imports_at_once_are_serialized(app, db_url, session, tmp_path):
    """Both files bring the same new companies, customers, groups and accounts: without the
    imports taking turns that is a constraint error (two inserts of company 1)."""
    first = export(tmp_path, "a.csv", ["1", "2"], range(0, 60))
    second = export(tmp_path, "b.csv", ["1", "2", "3"], range(30, 90))
    with writer_holding_the_database(db_url):
        procs = [start_import(db_url, app.instance_path, path) for path in (first, second)]
        deadline = time.monotonic() + 180
        while waiting_imports(db_url) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(proc.poll() is None for proc in procs), "the imports wait for the writer"
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]

    for proc, output in zip(procs, outputs):
        assert "Traceback" not in output and "UniqueViolation" not in output, output
        assert proc.returncode == 0, output
    session.expire_all()
    codes = session.scalars(select(Company.code).order_by(Company.code)).all()
    assert codes == ["1", "2", "3"]
    assert session.scalar(select(func.count()).select_from(Customer)) == 7
    # Whichever came second settled the other's documents that it does not list.
    open_keys = set(session.execute(select(Company.code, Invoice.document).join(Company)
                                    .where(Invoice.balance_cents > 0)).all())
    a_keys = {(c, f"D{n:04d}") for c in "12" for n in range(0, 60)}
    b_keys = {(c, f"D{n:04d}") for c in "123" for n in range(30, 90)}
    assert open_keys in (b_keys, a_keys | {k for k in b_keys if k[0] == "3"})
    assert session.scalar(select(func.count()).select_from(Invoice)) == len(a_keys | b_keys)


def test_a_plain_insert_after_an_import_gets_a_free_id(runner, session, tmp_path):
    path = export(tmp_path, "a.csv", ["1", "2"], range(0, 20))
    assert runner.invoke(args=["import-invoices", str(path)]).exit_code == 0

    company = Company(code="9", name="Posto Novo")
    group = CustomerGroup(code="GN", name="Novo grupo")
    session.add_all([company, group])
    session.flush()
    account = Account(company_id=company.id, code="77")
    customer = Customer(code="CN", name="Cliente Novo", group_id=group.id)
    session.add_all([account, customer])
    session.flush()
    invoice = Invoice(company_id=company.id, document="N1", customer_id=customer.id,
                      account_id=account.id, due_date=db.func.current_date(), balance_cents=1)
    session.add(invoice)
    session.commit()
    for model, row in ((Company, company), (CustomerGroup, group), (Account, account),
                       (Customer, customer), (Invoice, invoice)):
        assert row.id == session.scalar(select(func.max(model.id))), model.__name__
    assert session.scalar(select(func.count()).select_from(Company)) == 3


def test_unchanged_rows_use_up_no_ids(runner, session, tmp_path):
    """Re-importing the same file, or one with a changed saldo, draws no invoice id: the next
    plain insert gets the id right after the last one the first import wrote."""
    path = export(tmp_path, "a.csv", ["1", "2"], range(0, 50))
    for _ in range(3):
        assert runner.invoke(args=["import-invoices", str(path)]).exit_code == 0
    changed = export(tmp_path, "b.csv", ["1", "2"], range(0, 50), saldo="90,00")
    result = runner.invoke(args=["import-invoices", str(changed)])
    assert result.exit_code == 0 and "0 novas, 100 atualizadas" in result.output, result.output
    grown = export(tmp_path, "c.csv", ["1", "2"], range(0, 51), saldo="90,00")
    result = runner.invoke(args=["import-invoices", str(grown)])
    assert "2 novas, 0 atualizadas" in result.output, result.output

    last = session.scalar(select(func.max(Invoice.id)))
    assert last == 102
    invoice = Invoice(company_id=1, document="N1", customer_id=1, account_id=1,
                      due_date=db.func.current_date(), balance_cents=1)
    session.add(invoice)
    session.commit()
    assert invoice.id == last + 1


def test_a_first_load_leaves_the_invoice_table_as_the_migrations_made_it(app, runner, session,
                                                                         tmp_path):
    """A first load drops the invoice table's secondary indexes (on PostgreSQL also its foreign
    keys and, into an empty table, its unique key) and builds them again at the end; a file
    refused after the drop rolls it back. Either way the schema is the migrations' own, and the
    keys hold."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.exc import IntegrityError

    def schema_diff() -> list:
        with app.app_context(), db.engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), db.metadata)

    repeated = export(tmp_path, "repeated.csv", ["1"], range(0, 30))
    repeated.write_text(repeated.read_text(encoding="utf-8") + "1;Empresa 1;C0;Cliente 0;"
                        "c0@cliente.example.com;G0;0;D0003;10/11/2026;100,00\r\n", encoding="utf-8")
    result = runner.invoke(args=["import-invoices", str(repeated)])
    assert result.exit_code != 0 and "repetida" in result.output, result.output
    assert schema_diff() == []
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0

    assert runner.invoke(args=["import-invoices", str(export(tmp_path, "a.csv", ["1"],
                                                                range(0, 30)))]).exit_code == 0
    assert schema_diff() == []
    bigger = export(tmp_path, "b.csv", ["1", "2"], range(0, 40))  # more rows than the table holds
    result = runner.invoke(args=["import-invoices", str(bigger)])
    assert result.exit_code == 0 and "50 novas" in result.output, result.output
    assert schema_diff() == []

    session.add(Invoice(company_id=1, document="D0001", installment="", customer_id=1,
                        account_id=1, due_date=db.func.current_date(), balance_cents=1))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
    else:
        raise AssertionError("the unique key (empresa, documento, parcela) is not enforced")
    if ON_POSTGRESQL:  # SQLite's foreign keys are not enforced by this app
        session.add(Invoice(company_id=1, document="X1", customer_id=999_999, account_id=1,
                            due_date=db.func.current_date(), balance_cents=1))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
        else:
            raise AssertionError("the invoice's foreign key to its customer is not enforced")
