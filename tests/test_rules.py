"""SPEC §4 rules 1-8: who gets a reminder on a date and what it lists; the dry-run CLI."""
from __future__ import annotations

import io
import json
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from sqlalchemy import delete, select

from dunning.addresses import (_plainly_valid, _validator_accepts, addresses_of, is_valid_email,
                              valid_addresses)
from dunning.importing import import_invoices
from dunning.rules import UnknownCustomer, effective_due_date, brazil_calendar, plan
from stations import complete_creditors
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, OutboxLine, Run, StationSettings)

# Weekdays of November 2026 used below: Wed 4, Fri 20 (Consciência Negra), Sat 21, Mon 23.
D = date(2026, 11, 25)      # a Wednesday with no holiday around it


def build(session, customers=(), groups=(), invoices=(), station=None, sent=()) -> None:
    """A small station: companies/accounts appear as invoices and entries mention them.

    customers: dicts with code and optional send, tol, group, emails, entries [(e, c, on)], billing [(e, c)]
    groups:    dicts with code and optional send (bool), tol, entries [(e, c, on)]
    invoices:  tuples (customer, empresa, conta, documento, vencimento, saldo cents)
    sent:      tuples (customer, run date, outbox status)
    """
    companies: dict[str, Company] = {}
    accounts: dict[tuple[str, str], Account] = {}

    def account(empresa: str, conta: str) -> Account:
        if empresa not in companies:
            # A complete creditor (CDC art. 42-A): name, valid CNPJ, address; fresh data.
            companies[empresa] = Company(code=empresa, name=f"Posto {empresa}",
                                         tax_id="11.222.333/0001-81", address="Rua A, 1",
                                         data_time=datetime.now())
            session.add(companies[empresa])
        if (empresa, conta) not in accounts:
            accounts[empresa, conta] = Account(company=companies[empresa], code=conta)
            session.add(accounts[empresa, conta])
        return accounts[empresa, conta]

    group_rows = {}
    for g in groups:
        group = CustomerGroup(code=g["code"], name=g["code"], send_email=g.get("send", False),
                              tolerance_days=g.get("tol"))
        group.account_rules = [GroupAccountRule(account=account(e, c), send_email=on)
                               for e, c, on in g.get("entries", ())]
        session.add(group)
        group_rows[g["code"]] = group
    customer_rows = {}
    for c in customers:
        customer = Customer(code=c["code"], name=f"Cliente {c['code']}",
                            email_addresses=c.get("emails", f"{c['code'].lower()}@cliente.com.br"),
                            send_email=c.get("send", "herdar"), tolerance_days=c.get("tol"),
                            group=group_rows.get(c.get("group")))
        customer.account_rules = [CustomerAccountRule(account=account(e, k), send_email=on)
                                  for e, k, on in c.get("entries", ())]
        customer.billing_accounts = [BillingAccount(account=account(e, k)) for e, k in c.get("billing", ())]
        session.add(customer)
        customer_rows[c["code"]] = customer
    for code, empresa, conta, document, due, balance in invoices:
        acc = account(empresa, conta)
        session.add(Invoice(company=acc.company, account=acc, customer=customer_rows[code],
                            document=document, due_date=date.fromisoformat(due),
                            balance_cents=balance, amount_cents=balance))
    if station:
        session.add(StationSettings(id=1, **station))
    if sent:
        run = Run(as_of=D, started_at=datetime(2026, 1, 1), status="done")
        session.add(run)
        for code, on, status in sent:
            session.add(OutboxLine(run=run, customer=customer_rows[code], as_of=date.fromisoformat(on),
                                   status=status))
    session.commit()


def summary(result) -> dict:
    """reminders: code -> [(documento, vencido, dias_atraso)], skipped: code -> reason."""
    return {"reminders": {r.customer_code: [(i.document, i.overdue, i.days_late) for i in r.invoices]
                          for r in result.reminders},
            "skipped": {s.customer_code: s.reason for s in result.skipped}}


def inv(code, document, due, balance=10000, empresa="1", conta="7"):
    return (code, empresa, conta, document, due, balance)


CASES = [
    # name, world, run date, expected reminders, expected skipped
    ("customer Sim, one overdue item",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {"C1": [("F1", True, 55)]}, {}),
    ("customer Herdar without a group is not enabled",
     dict(customers=[dict(code="C1")], invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {}),
    ("opt-out wins: group on, customer Não",
     dict(groups=[dict(code="G", send=True)], customers=[dict(code="C1", send="nao", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {}),
    ("opt-out wins over the customer's own checked account entry",
     dict(customers=[dict(code="C1", send="nao", entries=[("1", "7", True)])],
          invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {}),
    ("customer Herdar, group on: every invoice",
     dict(groups=[dict(code="G", send=True)], customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-02", conta="8")]),
     D, {"C1": [("F1", True, 55), ("F2", True, 54)]}, {}),
    ("customer Herdar + group account entries: enabled, only those accounts",
     dict(groups=[dict(code="G", entries=[("1", "7", True), ("1", "9", False)])],
          customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8"),
                    inv("C1", "F3", "2026-10-01", conta="9")]),
     D, {"C1": [("F1", True, 55)]}, {}),
    ("group on and with checked entries: the entries still bound the scope",
     dict(groups=[dict(code="G", send=True, entries=[("1", "8", True)])], customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8")]),
     D, {"C1": [("F2", True, 55)]}, {}),
    ("a customer's unchecked entry neither enables it nor bounds a Sim customer's scope",
     dict(customers=[dict(code="C1", entries=[("1", "8", False)]),
                     dict(code="C2", send="sim", entries=[("1", "8", False)])],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-10-01")]),
     D, {"C2": [("F2", True, 55)]}, {}),
    ("group with only an unchecked entry enables nobody",
     dict(groups=[dict(code="G", entries=[("1", "7", False)])], customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {}),
    ("customer Sim ignores the group's account entries (scope: all)",
     dict(groups=[dict(code="G", entries=[("1", "7", True)])],
          customers=[dict(code="C1", send="sim", group="G")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8")]),
     D, {"C1": [("F1", True, 55), ("F2", True, 55)]}, {}),
    ("customer's checked entry enables it and bounds the scope",
     dict(customers=[dict(code="C1", entries=[("1", "8", True), ("1", "9", False)])],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8"),
                    inv("C1", "F3", "2026-10-01", conta="9")]),
     D, {"C1": [("F2", True, 55)]}, {}),
    ("customer's entries beat the group's entries",
     dict(groups=[dict(code="G", entries=[("1", "7", True)])],
          customers=[dict(code="C1", group="G", entries=[("1", "8", True)])],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8")]),
     D, {"C1": [("F2", True, 55)]}, {}),
    ("billing accounts beat the customer's account entries",
     dict(customers=[dict(code="C1", entries=[("1", "7", True)], billing=[("2", "")])],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", empresa="2", conta="")]),
     D, {"C1": [("F2", True, 55)]}, {}),
    ("billing accounts bound a Sim customer's scope",
     dict(customers=[dict(code="C1", send="sim", billing=[("1", "8")])],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-10-01", conta="8")]),
     D, {"C1": [("F2", True, 55)]}, {}),
    ("tolerance from the group: the boundary day is not overdue",
     dict(groups=[dict(code="G", send=True, tol=5)], customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-11-20")]),   # holiday -> Mon 23; 23 + 5 = 28
     date(2026, 11, 28), {}, {"C1": "nothing_overdue"}),
    ("tolerance from the group: the day after the boundary is overdue",
     dict(groups=[dict(code="G", send=True, tol=5)], customers=[dict(code="C1", group="G")],
          invoices=[inv("C1", "F1", "2026-11-20")]),
     date(2026, 11, 29), {"C1": [("F1", True, 9)]}, {}),
    ("the customer's tolerance (even 0) beats the group's",
     dict(groups=[dict(code="G", send=True, tol=30)], customers=[dict(code="C1", group="G", tol=0)],
          invoices=[inv("C1", "F1", "2026-11-23")]),
     date(2026, 11, 24), {"C1": [("F1", True, 1)]}, {}),
    ("the group's tolerance applies to a Sim customer too",
     dict(groups=[dict(code="G", tol=10)], customers=[dict(code="C1", send="sim", group="G")],
          invoices=[inv("C1", "F1", "2026-11-16")]),
     date(2026, 11, 26), {}, {"C1": "nothing_overdue"}),
    ("boundary day: D = effective due + tolerance is not overdue",
     dict(customers=[dict(code="C1", send="sim", tol=3)], invoices=[inv("C1", "F1", "2026-11-04")]),
     date(2026, 11, 7), {}, {"C1": "nothing_overdue"}),
    ("boundary day + 1 is overdue",
     dict(customers=[dict(code="C1", send="sim", tol=3)], invoices=[inv("C1", "F1", "2026-11-04")]),
     date(2026, 11, 8), {"C1": [("F1", True, 4)]}, {}),
    ("due on a Saturday moves to Monday: not overdue on Monday",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-11-21")]),
     date(2026, 11, 23), {}, {"C1": "nothing_overdue"}),
    ("due on a Saturday: overdue on Tuesday, days late counted from Saturday",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-11-21")]),
     date(2026, 11, 24), {"C1": [("F1", True, 3)]}, {}),
    ("due on 2026-11-20 (Consciência Negra, a Friday): not overdue on Monday 23",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-11-20")]),
     date(2026, 11, 23), {}, {"C1": "nothing_overdue"}),
    ("due on 2026-11-20: overdue on Tuesday 24",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-11-20")]),
     date(2026, 11, 24), {"C1": [("F1", True, 4)]}, {}),
    ("shift setting off: a Saturday due date is overdue on Sunday",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-11-21")],
          station=dict(shift_due_dates=False)),
     date(2026, 11, 22), {"C1": [("F1", True, 1)]}, {}),
    ("late within tolerance is listed with vencido false and its days late",
     dict(customers=[dict(code="C1", send="sim", tol=10)],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-11-23"),
                    inv("C1", "F3", "2026-12-10")]),
     D, {"C1": [("F1", True, 55), ("F2", False, 2), ("F3", False, 0)]}, {}),
    ("only-overdue setting lists the overdue items only",
     dict(customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-12-10")],
          station=dict(only_overdue=True)),
     D, {"C1": [("F1", True, 55)]}, {}),
    ("saldo 0 is never listed, nor counts as overdue",
     dict(customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C1", "F2", "2026-09-01", balance=0),
                    inv("C2", "F3", "2026-09-01", balance=0)]),
     D, {"C1": [("F1", True, 55)]}, {"C2": "nothing_overdue"}),
    ("enabled customer without invoices: nothing_overdue",
     dict(customers=[dict(code="C1", send="sim")]), D, {}, {"C1": "nothing_overdue"}),
    ("no e-mail address",
     dict(customers=[dict(code="C1", send="sim", emails="")], invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {"C1": "no_email"}),
    ("addresses exist but none is valid",
     dict(customers=[dict(code="C1", send="sim", emails="financeiro@, x@localhost")],
          invoices=[inv("C1", "F1", "2026-10-01")]),
     D, {}, {"C1": "invalid_email"}),
    ("nothing overdue is reported before a missing address",
     dict(customers=[dict(code="C1", send="sim", emails="")], invoices=[inv("C1", "F1", "2026-12-01")]),
     D, {}, {"C1": "nothing_overdue"}),
    ("a missing address is reported before recently_sent",
     dict(customers=[dict(code="C1", send="sim", emails="")], invoices=[inv("C1", "F1", "2026-10-01")],
          sent=[("C1", "2026-11-24", "sent")]),
     D, {}, {"C1": "no_email"}),
    ("resend interval 7: sent on day 1, not again on day 7",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")],
          sent=[("C1", "2026-11-01", "sent")]),
     date(2026, 11, 7), {}, {"C1": "recently_sent"}),
    ("resend interval 7: sent on day 1, due again on day 8",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")],
          sent=[("C1", "2026-11-01", "sent")]),
     date(2026, 11, 8), {"C1": [("F1", True, 38)]}, {}),
    ("interval 0 counts as 1: never twice on one date",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")],
          sent=[("C1", "2026-11-25", "sent")], station=dict(resend_interval_days=0)),
     D, {}, {"C1": "recently_sent"}),
    ("interval 0 counts as 1: due again the next day",
     dict(customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")],
          sent=[("C1", "2026-11-24", "sent")], station=dict(resend_interval_days=0)),
     D, {"C1": [("F1", True, 55)]}, {}),
    ("a line left 'unknown' counts as sent; a failed or skipped one does not",
     dict(customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-10-01")],
          sent=[("C1", "2026-11-25", "unknown"), ("C2", "2026-11-25", "failed_permanent"),
                ("C2", "2026-11-24", "skipped")]),
     D, {"C2": [("F2", True, 55)]}, {"C1": "recently_sent"}),
    ("order: overdue first, most days late first, then the rest by due date",
     dict(customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "F4", "2026-12-20"), inv("C1", "F1", "2026-11-02"),
                    inv("C1", "F3", "2026-12-01"), inv("C1", "F2", "2026-09-01")]),
     D, {"C1": [("F2", True, 85), ("F1", True, 23), ("F3", False, 0), ("F4", False, 0)]}, {}),
    ("reminders and skips are ordered by customer code",
     dict(customers=[dict(code="C3", send="sim"), dict(code="C1", send="sim"),
                     dict(code="C2", send="sim", emails="")],
          invoices=[inv("C3", "F3", "2026-10-01"), inv("C1", "F1", "2026-10-01"),
                    inv("C2", "F2", "2026-10-01")]),
     D, {"C1": [("F1", True, 55)], "C3": [("F3", True, 55)]}, {"C2": "no_email"}),
]


@pytest.mark.parametrize("name, world, as_of, reminders, skipped", CASES, ids=[c[0] for c in CASES])
def test_rules(session, name, world, as_of, reminders, skipped):
    build(session, **world)
    result = summary(plan(session, as_of))
    assert result == {"reminders": reminders, "skipped": skipped}
    assert list(result["reminders"]) == sorted(reminders)


def test_grouping_by_empresa_with_totals(session):
    build(session, customers=[dict(code="C1", send="sim")],
          invoices=[inv("C1", "B1", "2026-10-01", 5000, empresa="2", conta=""),
                    inv("C1", "A1", "2026-12-10", 2000), inv("C1", "A2", "2026-10-05", 3000)])
    (reminder,) = plan(session, D).reminders
    assert [c.company_code for c in reminder.companies] == ["1", "2"]
    first, second = reminder.companies
    assert [i.document for i in first.invoices] == ["A2", "A1"]
    assert (first.overdue_cents, first.open_cents) == (3000, 5000)
    assert (second.overdue_cents, second.open_cents) == (5000, 5000)
    assert (reminder.overdue_cents, reminder.open_cents) == (8000, 10000)
    assert first.name == "Posto 1"


def test_to_lists_only_the_valid_addresses(session):
    build(session, customers=[dict(code="C1", send="sim", emails="a@cliente.com.br, b@, c@cliente.com.br")],
          invoices=[inv("C1", "F1", "2026-10-01")])
    (reminder,) = plan(session, D).reminders
    assert reminder.to == ["a@cliente.com.br", "c@cliente.com.br"]


def test_one_customer_only(session):
    build(session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
          invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-10-01")])
    assert summary(plan(session, D, "C2")) == {"reminders": {"C2": [("F2", True, 55)]}, "skipped": {}}
    with pytest.raises(UnknownCustomer):
        plan(session, D, "C9")


def test_item_settled_by_a_later_snapshot(session):
    header = "empresa;cliente;email;documento;vencimento;saldo\n"
    first = header + ("1;C1;c1@cliente.com.br;F1;01/10/2026;100,00\n"
                      "1;C1;c1@cliente.com.br;F2;05/10/2026;50,00\n")
    import_invoices(session, io.BytesIO(first.encode()))
    complete_creditors(session)
    session.execute(Customer.__table__.update().values(send_email="sim"))
    session.commit()
    assert summary(plan(session, D))["reminders"] == {"C1": [("F1", True, 55), ("F2", True, 51)]}
    import_invoices(session, io.BytesIO((header + "1;C1;;F2;05/10/2026;50,00\n").encode()))
    assert summary(plan(session, D))["reminders"] == {"C1": [("F2", True, 51)]}
    import_invoices(session, io.BytesIO((header + "1;C1;;F2;05/10/2026;0\n").encode()))
    assert summary(plan(session, D)) == {"reminders": {}, "skipped": {"C1": "nothing_overdue"}}


def test_plan_records_nothing(session):
    build(session, customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")])
    plan(session, D)
    session.rollback()
    assert session.scalar(select(StationSettings)) is None
    assert session.scalar(select(OutboxLine)) is None


def test_effective_due_date_calendar():
    calendar = brazil_calendar()
    assert effective_due_date(date(2026, 11, 20), calendar) == date(2026, 11, 23)
    assert effective_due_date(date(2026, 11, 21), calendar) == date(2026, 11, 23)
    assert effective_due_date(date(2026, 4, 3), calendar) == date(2026, 4, 6)      # Good Friday
    assert effective_due_date(date(2026, 2, 16), calendar) == date(2026, 2, 16)    # Carnaval: not national
    assert effective_due_date(date(2026, 11, 25), calendar) == date(2026, 11, 25)


# -- the dry-run through the real CLI -------------------------------------------------------------

def test_dry_run_json_matches_spec(runner, app):
    with app.app_context():
        from models import db
        build(db.session, customers=[dict(code="C001", send="sim", emails="financeiro@cliente.com.br"),
                                     dict(code="C002", send="sim", emails="")],
              invoices=[("C001", "1", "7", "F123", "2026-10-01", 123456),
                        ("C002", "1", "7", "F200", "2026-10-01", 100)])
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json", "--date", "2026-11-28"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "date": "2026-11-28",
        "reminders": [{"customer": "C001", "to": ["financeiro@cliente.com.br"],
                       "kind": "overdue", "level": "Aviso final",  # SPEC §9
                       "invoices": [{"empresa": "1", "documento": "F123", "parcela": "", "conta": "7",
                                     "vencimento": "2026-10-01", "saldo": "1234.56", "dias_atraso": 58,
                                     "vencido": True}]}],
        "skipped": [{"customer": "C002", "reason": "no_email"}]}


def test_dry_run_json_one_customer_and_resend(runner, app):
    with app.app_context():
        from models import db
        build(db.session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim")],
              invoices=[inv("C1", "F1", "2026-10-01"), inv("C2", "F2", "2026-10-01")],
              sent=[("C2", "2026-11-01", "sent")])
    args = ["email-pendencia-financeira", "--dry-run", "--json", "--customer", "C2", "--date"]
    early = json.loads(runner.invoke(args=args + ["2026-11-07"]).output)
    assert early == {"date": "2026-11-07", "reminders": [],
                     "skipped": [{"customer": "C2", "reason": "recently_sent"}]}
    due = json.loads(runner.invoke(args=args + ["2026-11-08"]).output)
    assert [r["customer"] for r in due["reminders"]] == ["C2"]


def test_dry_run_table(runner, app):
    with app.app_context():
        from models import db
        build(db.session, customers=[dict(code="C1", send="sim"), dict(code="C2", send="sim", emails="")],
              invoices=[inv("C1", "F1", "2026-10-01", 123456), inv("C1", "F2", "2026-12-20", 100),
                        inv("C2", "F3", "2026-10-01")])
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert "25/11/2026" in result.output and "nada será enviado" in result.output
    line = next(l for l in result.output.splitlines() if l.startswith("C1 "))
    assert "c1@cliente.com.br" in line and " 2 " in line and line.endswith("R$ 1.234,56")
    assert any(l.startswith("C2 ") and "sem e-mail" in l for l in result.output.splitlines())


def test_dry_run_works_without_smtp_and_records_nothing(runner, app):
    with app.app_context():
        from models import db
        build(db.session, customers=[dict(code="C1", send="sim")], invoices=[inv("C1", "F1", "2026-10-01")])
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--date", "2026-11-25"])
    assert result.exit_code == 0
    assert "C1 " in result.output
    with app.app_context():
        from models import db
        assert db.session.scalar(select(Run)) is None
        assert db.session.scalar(select(OutboxLine)) is None
        assert db.session.scalar(select(StationSettings)) is None


def test_dry_run_table_for_a_customer_that_is_not_enabled(runner, app):
    with app.app_context():
        from models import db
        build(db.session, customers=[dict(code="C1", send="nao")], invoices=[inv("C1", "F1", "2026-10-01")])
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--customer", "C1"])
    assert result.exit_code == 0
    assert "O cliente C1 não está habilitado para receber lembretes." in result.output


@pytest.mark.parametrize("args, message", [
    (["--customer", "NOPE"], "Cliente não encontrado: 'NOPE'"),
    (["--date", "28/11/2026"], "Data inválida '28/11/2026'"),
    (["--date", "2026-02-30"], "Data inválida '2026-02-30'"),
])
def test_dry_run_bad_input_exits_2(runner, args, message):
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_scheduler_entry_forwards_to_the_dry_run(app, capsys):
    from blueprints.cli import run_reminder_job
    with app.app_context():
        code = run_reminder_job(app, date="2026-11-25", dry_run=True, as_json=True, customer=None)
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"date": "2026-11-25", "reminders": [], "skipped": []}


# -- properties ----------------------------------------------------------------------------------

ACCOUNTS = [("1", "7"), ("1", "8"), ("2", "")]
entries = st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.booleans()), max_size=3, unique_by=lambda t: t[0])
customer_st = st.fixed_dictionaries({
    "send": st.sampled_from(["herdar", "sim", "sim", "nao"]),
    "tol": st.none() | st.integers(0, 10),
    "group": st.sampled_from([None, "G1", "G2"]),
    "emails": st.sampled_from(["", "x@cliente.com.br", "x@cliente.com.br", "bad@", "bad@, y@cliente.com.br"]),
    "entries": entries,
    "billing": st.lists(st.sampled_from(ACCOUNTS), max_size=2, unique=True),
})
group_st = st.fixed_dictionaries({"send": st.booleans(), "tol": st.none() | st.integers(0, 10),
                                  "entries": entries})
invoice_st = st.tuples(st.integers(0, 3), st.sampled_from(ACCOUNTS),
                       st.dates(date(2026, 9, 1), date(2026, 12, 31)), st.sampled_from([0, 1, 50000, 7]))


def reference_scope(customer: dict, groups: dict) -> set | None:
    """SPEC §4 rule 4 written out plainly, to check the plan against."""
    own = {acc for acc, on in customer["entries"] if on}
    group = groups.get(customer["group"])
    group_own = {acc for acc, on in group["entries"] if on} if group else set()
    if customer["billing"]:
        return set(customer["billing"])
    if own:
        return own
    if customer["send"] == "herdar" and group_own:
        return group_own
    return None


def wipe(session) -> None:
    for model in (OutboxLine, Run, Invoice, BillingAccount, CustomerAccountRule, GroupAccountRule,
                  Customer, CustomerGroup, Account, Company, StationSettings):
        session.execute(delete(model))
    session.commit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customers=st.lists(customer_st, min_size=1, max_size=4),
       groups=st.fixed_dictionaries({"G1": group_st, "G2": group_st}),
       invoices=st.lists(invoice_st, min_size=1, max_size=12),
       as_of=st.dates(date(2026, 11, 1), date(2027, 1, 31)),
       only_overdue=st.booleans(), shift=st.booleans())
def test_plan_properties(session, customers, groups, invoices, as_of, only_overdue, shift):
    wipe(session)
    codes = [f"C{n}" for n in range(len(customers))]
    build(session,
          groups=[dict(code=code, send=g["send"], tol=g["tol"],
                       entries=[(e, c, on) for (e, c), on in g["entries"]]) for code, g in groups.items()],
          customers=[dict(code=code, send=c["send"], tol=c["tol"], group=c["group"], emails=c["emails"],
                          entries=[(e, k, on) for (e, k), on in c["entries"]], billing=c["billing"])
                     for code, c in zip(codes, customers)],
          invoices=[(codes[n % len(codes)], e, k, f"F{i}", due.isoformat(), balance)
                    for i, (n, (e, k), due, balance) in enumerate(invoices)],
          station=dict(only_overdue=only_overdue, shift_due_dates=shift))
    by_code = dict(zip(codes, customers))
    result = plan(session, as_of)
    event(f"{min(len(result.reminders), 2)} reminder(s)")
    balances = {f"F{i}": balance for i, (_, _, _, balance) in enumerate(invoices)}
    owners = {f"F{i}": codes[n % len(codes)] for i, (n, _, _, _) in enumerate(invoices)}
    for reminder in result.reminders:
        customer = by_code[reminder.customer_code]
        assert customer["send"] != "nao"
        scope = reference_scope(customer, groups)
        assert any(i.overdue for i in reminder.invoices)
        assert reminder.to and all(is_valid_email(a) for a in reminder.to)
        companies = [c.company_code for c in reminder.companies]
        assert companies == sorted(companies)
        for company in reminder.companies:     # rule 8's order, as the SPEC words it
            flags = [i.overdue for i in company.invoices]
            assert flags == sorted(flags, reverse=True)
            late = [i.days_late for i in company.invoices if i.overdue]
            assert late == sorted(late, reverse=True)
            rest = [i.due_date for i in company.invoices if not i.overdue]
            assert rest == sorted(rest)
        for item in reminder.invoices:
            assert owners[item.document] == reminder.customer_code
            assert balances[item.document] > 0 and item.balance_cents > 0
            assert scope is None or (item.company_code, item.account_code) in scope
            assert item.overdue or not only_overdue
    for skip in result.skipped:
        assert by_code[skip.customer_code]["send"] != "nao"


@settings(max_examples=300, deadline=None)
@given(st.emails() | st.text(alphabet="abcxyz.-_+@1ÁçX ", max_size=30)
       | st.from_regex(r"[a-z0-9._+-]{1,10}@[a-z0-9-]{1,8}(\.[a-z0-9-]{1,6}){1,3}", fullmatch=True))
def test_address_shortcut_agrees_with_the_validator(address):
    assert is_valid_email(address) == _validator_accepts(address)
    assert not _plainly_valid(address) or _validator_accepts(address)


_CELLS = st.lists(st.emails() | st.text(alphabet="abcxyz.-_+@1ÁçX ", max_size=20)
                  | st.sampled_from(["a@b.test", "x@y--z.com", "A@B.COM", "a@b.com", ""]),
                  max_size=4).flatmap(
    lambda parts: st.sampled_from([", ", ";", " ", ",", "; "]).map(lambda sep: sep.join(parts)))


@settings(max_examples=300, deadline=None)
@given(_CELLS)
def test_a_cells_valid_addresses_are_its_addresses_the_validator_accepts(cell):
    given_any, to = valid_addresses(cell)
    listed = addresses_of(cell)
    assert given_any == bool(listed)
    assert to == [a for a in listed if _validator_accepts(a)]


def test_the_one_pattern_decides_the_usual_addresses_and_leaves_the_odd_ones_to_the_validator():
    for usual in ["maria.silva@postosol.com.br", "FINANCEIRO+nf@Rede-Sul.com", "a_b-c@x.io"]:
        assert _plainly_valid(usual)
    for odd in ["a@localhost", "a@b.TEST", "a@xn--bcher-kva.com", "a" * 65 + "@b.com",
                "a@" + "b" * 250 + ".com", "a..b@c.com", ".a@c.com", "a@b.com\n", "ação@b.com",
                "a@b.c0m", "a@-b.com"]:
        assert not _plainly_valid(odd), odd


def test_an_overlong_address_is_refused_without_reaching_the_validators_memory():
    from dunning.addresses import MAX_ADDRESS
    _validator_accepts.cache_clear()
    for address in ["a" * 250 + "@posto.com.br", "x@" + "b" * 300 + ".com", "é" * 10_000]:
        assert len(address) > MAX_ADDRESS
        assert not is_valid_email(address) and not _validator_accepts.__wrapped__(address)
    assert _validator_accepts.cache_info().currsize == 0
    assert is_valid_email("a" * 64 + "@" + "b" * 60 + ".com.br")
