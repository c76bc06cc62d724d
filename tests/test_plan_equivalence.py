"""The preview, the dry-run and the real send give the same answer (SPEC §4; issue 14 item 3).

Hypothesis draws whole stations (switches, tolerances, account lists, billing accounts, addresses
good and bad, companies without an address, invoices around weekends and holidays, earlier
reminders, the régua's settings) and, on each, compares:

* every verdict of ``plan()`` with SPEC §4 read invoice by invoice (``oracle`` below);
* ``plan()`` with ``plan_summary()``, with ``plan(customer_ids=...)`` page by page, and with
  ``plan(customer_code)`` customer by customer;
* the dry-run JSON (CLI) with ``plan().to_json()``, and ``plan_json_text`` with ``json.dumps``;
* every page of "Pré-visualizar envio" with the plan (counts, messages, order);
* what a real run sends to a real SMTP server, and the skips it records, with the plan.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, insert, select

from dunning.addresses import addresses_of, is_valid_email
from dunning.bank_calendar import DueDateCalendar
from dunning.creditor import creditor_gaps
from dunning.delivery import DeliveryOptions, run
from dunning.plan_json import plan_json_parts, plan_json_text
from dunning.rules import load_details, plan, plan_summary
from dunning.statement import render
from models import (Account, BillingAccount, Company, Customer, CustomerAccountRule, CustomerGroup,
                    GroupAccountRule, Invoice, OutboxLine, Run, StationSettings, db)
from models.delivery import DELIVERED_STATUSES
from smtpserver import configure_station

# Run dates next to Sunday 15 Nov, Friday 20 Nov (Consciência Negra), Christmas, 31 Dec (bank
# holiday) and New Year.
RUN_DATES = [date(2026, 11, 16), date(2026, 11, 20), date(2026, 11, 23), date(2026, 12, 24),
             date(2026, 12, 28), date(2027, 1, 4)]
ACCOUNTS = [(company, code) for company in (1, 2, 3) for code in ("", "7")]
ADDRESSES = ["", "fin{n}@cliente.example.com", "a{n}@x.example.com, b{n}@y.example.com",
             "sem-arroba{n}", "ruim{n}@dominio", "ok{n}@cliente.example.com; ruim{n}@"]
KEEP = {"user", "login_session", "login_throttle", "alembic_version"}

account_lists = st.lists(st.tuples(st.integers(0, len(ACCOUNTS) - 1), st.booleans()),
                         max_size=2, unique_by=lambda entry: entry[0])
customers = st.lists(st.fixed_dictionaries({
    "send": st.sampled_from(["herdar", "herdar", "sim", "nao"]),
    "tol": st.sampled_from([None, None, 0, 1, 3, 8]),
    "group": st.sampled_from([None, 0, 1, 2]),
    "emails": st.sampled_from(ADDRESSES),
    "entries": account_lists,
    "billing": st.lists(st.integers(0, len(ACCOUNTS) - 1), max_size=1),
    "sent": st.none() | st.tuples(st.sampled_from([1, 3, 6, 7, 8, 30]),
                                  st.sampled_from(["sent", "unknown", "failed_permanent"]),
                                  st.sampled_from(["overdue", "overdue", "due_soon"])),
}), min_size=1, max_size=14)
groups = st.lists(st.fixed_dictionaries({
    "send": st.booleans(), "tol": st.sampled_from([None, 0, 2, 5]), "entries": account_lists,
}), min_size=3, max_size=3)
invoices = st.lists(st.tuples(st.integers(0, 13), st.integers(0, len(ACCOUNTS) - 1),
                              st.integers(-25, 20), st.sampled_from([0, 1, 9_999, 123_456]),
                              st.sampled_from(["", "1"])), max_size=50)
station_settings = st.fixed_dictionaries({
    "resend_interval_days": st.sampled_from([0, 1, 7]),
    "only_overdue": st.booleans(),
    "shift_due_dates": st.booleans(),
    "bank_calendar": st.sampled_from(["bancario", "nacional"]),
    "due_soon_days": st.sampled_from([0, 0, 3, 5]),
    "late_fee_bp": st.sampled_from([0, 200]),
    "interest_bp_month": st.sampled_from([0, 100]),
})
stations = st.fixed_dictionaries({
    "as_of": st.sampled_from(RUN_DATES),
    "incomplete": st.sets(st.sampled_from([1, 2, 3]), max_size=2),   # companies without address
    "stale": st.sets(st.sampled_from([1, 2, 3]), max_size=2),        # data older than the limit
    "groups": groups, "customers": customers, "invoices": invoices, "settings": station_settings,
})


def build_station(session, station: dict, now: datetime) -> None:
    """Replace the station's data with ``station`` (the staff user and its login stay)."""
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in KEEP:
            session.execute(delete(table))
    session.expunge_all()   # the rows just deleted, as an earlier example or view loaded them
    as_of = station["as_of"]
    session.execute(insert(Company), [
        {"id": n, "code": str(n), "name": f"Posto {n}", "tax_id": "11.222.333/0001-81",
         "address": "" if n in station["incomplete"] else f"Rua {n}, 10",
         "data_time": now - timedelta(days=3 if n in station["stale"] else 0, hours=1)}
        for n in (1, 2, 3)])
    session.execute(insert(Account), [{"id": a + 1, "company_id": company, "code": code}
                                      for a, (company, code) in enumerate(ACCOUNTS)])
    session.execute(insert(CustomerGroup), [
        {"id": g + 1, "code": f"G{g}", "name": f"Grupo {g}", "send_email": group["send"],
         "tolerance_days": group["tol"]} for g, group in enumerate(station["groups"])])
    rows = [{"group_id": g + 1, "account_id": a + 1, "send_email": on}
            for g, group in enumerate(station["groups"]) for a, on in group["entries"]]
    if rows:
        session.execute(insert(GroupAccountRule), rows)
    customers = station["customers"]
    session.execute(insert(Customer), [
        {"id": n + 1, "code": f"C{n:02d}", "name": f"Cliente {n}", "name_folded": f"cliente {n}",
         "email_addresses": c["emails"].format(n=n), "send_email": c["send"],
         "tolerance_days": c["tol"], "group_id": None if c["group"] is None else c["group"] + 1}
        for n, c in enumerate(customers)])
    for model, rows in (
            (CustomerAccountRule, [{"customer_id": n + 1, "account_id": a + 1, "send_email": on}
                                   for n, c in enumerate(customers) for a, on in c["entries"]]),
            (BillingAccount, [{"customer_id": n + 1, "account_id": a + 1}
                              for n, c in enumerate(customers) for a in c["billing"]])):
        if rows:
            session.execute(insert(model), rows)
    rows = []
    for k, (n, a, offset, balance, installment) in enumerate(station["invoices"]):
        due = as_of + timedelta(days=offset)
        rows.append({"id": k + 1, "company_id": ACCOUNTS[a][0], "account_id": a + 1,
                     "customer_id": n % len(customers) + 1, "document": f"F{k}",
                     "installment": installment, "due_date": due, "issue_date": due - timedelta(30),
                     "amount_cents": balance + 100, "balance_cents": balance,
                     "digitable_line": f"2379{k:043d}" if k % 3 == 0 else "", "pix_code": "",
                     "payment_link": "https://pagamento.example.com/x" if k % 5 == 0 else ""})
    if rows:
        session.execute(insert(Invoice), rows)
    sent = [(n, c["sent"]) for n, c in enumerate(customers) if c["sent"]]
    for n, (days, status, kind) in sent:
        day = as_of - timedelta(days=days)
        run_id = session.execute(insert(Run).values(as_of=day, started_at=datetime.combine(day, time(7)),
                                                    status="ok")
                                 .returning(Run.id)).scalar_one()
        session.execute(insert(OutboxLine).values(run_id=run_id, customer_id=n + 1, as_of=day,
                                                  status=status, kind=kind))
    session.add(StationSettings(id=1, **station["settings"]))
    session.commit()


def oracle(station: dict) -> tuple[dict[str, tuple[str, set[str]]], set[str]]:
    """SPEC §4 read invoice by invoice: customer code -> (kind or skip reason, documents listed)
    for every enabled customer, and the codes of the companies held back that some enabled
    customer has something overdue with."""
    as_of, config = station["as_of"], station["settings"]
    calendar = DueDateCalendar(config["bank_calendar"])

    def effective(due: date) -> date:
        return calendar.next_business_day(due) if config["shift_due_dates"] else due

    incomplete = {n for n in (1, 2, 3) if creditor_gaps(
        f"Posto {n}", "11.222.333/0001-81", "" if n in station["incomplete"] else "Rua")}
    held = incomplete | station["stale"]
    out, held_used = {}, set()
    for n, c in enumerate(station["customers"]):
        group = station["groups"][c["group"]] if c["group"] is not None else None
        own = {a for a, on in c["entries"] if on}
        group_own = {a for a, on in group["entries"] if on} if group else set()
        inherits = c["send"] == "herdar"
        if c["send"] == "nao" or not (c["send"] == "sim" or own or (
                inherits and group and (group["send"] or group_own))):
            continue
        tolerance = c["tol"] if c["tol"] is not None else (
            group["tol"] if group and group["tol"] is not None else 0)
        scope = set(c["billing"]) or own or (group_own if inherits else set()) or None
        items = [(f"F{k}", ACCOUNTS[a][0], as_of + timedelta(days=offset))
                 for k, (owner, a, offset, balance, _) in enumerate(station["invoices"])
                 if owner % len(station["customers"]) == n and balance > 0
                 and (scope is None or a in scope)]
        kept = [item for item in items if item[1] not in held]
        cutoff = as_of - timedelta(days=tolerance)
        overdue = [doc for doc, _, due in kept if effective(due) < cutoff]
        held_overdue = {company for _, company, due in items
                        if company in held and effective(due) < cutoff}
        held_used |= {str(company) for company in held_overdue}
        given = addresses_of(c["emails"].format(n=n))
        valid = [a for a in given if is_valid_email(a)]
        address = "no_email" if not given else ("invalid_email" if not valid else None)
        last = as_of - timedelta(days=c["sent"][0]) if c["sent"] and c["sent"][2] == "overdue" \
            and c["sent"][1] in DELIVERED_STATUSES else None
        soon = as_of + timedelta(days=config["due_soon_days"])
        if overdue:
            recent = last is not None and last > as_of - timedelta(days=max(1, config["resend_interval_days"]))
            listed = set(overdue) if config["only_overdue"] else {doc for doc, _, _ in kept}
            reason = address or ("recently_sent" if recent else None)
            out[f"C{n:02d}"] = (reason, set()) if reason else ("overdue", listed)
        elif held_overdue:
            out[f"C{n:02d}"] = ("stale_data" if held_overdue & station["stale"]
                                else "creditor_incomplete", set())
        elif config["due_soon_days"] and any(effective(due) == soon for _, _, due in kept):
            out[f"C{n:02d}"] = (address, set()) if address else (
                "due_soon", {doc for doc, _, due in kept if effective(due) == soon})
        else:
            out[f"C{n:02d}"] = ("nothing_overdue", set())
    return out, held_used


def shown_codes(html: str) -> list[str]:
    """The customer codes of the messages a preview page shows, in order."""
    return re.findall(r'<article class="message">\s*<h2><a href="[^"]*">([^<]+)</a>', html)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(station=stations)
def test_preview_dry_run_and_send_agree(app, session, staff, runner, smtp_server, station):
    now = datetime.now()    # the data age is measured against the clock, as the run does
    build_station(session, station, now)
    as_of = station["as_of"]
    full = plan(session, as_of, now=now)

    # SPEC §4 read invoice by invoice.
    verdicts = {r.customer_code: (r.kind, {i.document for i in r.invoices}) for r in full.reminders}
    verdicts.update({s.customer_code: (s.reason, set()) for s in full.skipped})
    assert (verdicts, {h.code for h in full.held}) == oracle(station)

    # The summary: the same verdicts, without the listings.
    summary = plan_summary(session, as_of, now=now)
    assert [(d.customer_id, d.customer_code, d.kind, list(d.to)) for d in summary.due] == [
        (r.customer_id, r.customer_code, r.kind, r.to) for r in full.reminders]
    assert list(summary.skipped) == full.skipped and summary.held == full.held

    # A page, or one customer, at a time: the same messages as the whole plan lists.
    by_id = {r.customer_id: r for r in full.reminders}
    ids = list(by_id)
    load_details(session, full.reminders)      # what only the e-mail prints, as generated
    for invoice in (inv for r in full.reminders for inv in r.invoices):
        k = int(invoice.document[1:])
        assert (invoice.issue_date, invoice.amount_cents, invoice.digitable_line, invoice.pix_code,
                invoice.payment_link) == (
            invoice.due_date - timedelta(30), invoice.balance_cents + 100,
            f"2379{k:043d}" if k % 3 == 0 else "", "",
            "https://pagamento.example.com/x" if k % 5 == 0 else "")
    for start in range(0, len(ids), 3):
        page = plan(session, as_of, now=now, customer_ids=ids[start:start + 3])
        load_details(session, page.reminders)
        assert [described(r) for r in page.reminders] == [described(by_id[i]) for i in ids[start:start + 3]]
    for reminder in full.reminders[:3]:
        one = plan(session, as_of, reminder.customer_code, now=now)
        load_details(session, one.reminders)
        assert [described(r) for r in one.reminders] == [described(reminder)] and not one.skipped
    for skip in full.skipped[:3]:
        one = plan_summary(session, as_of, skip.customer_code, now=now)
        assert (one.due, one.skipped) == ((), (skip,))

    # The dry-run JSON: the CLI prints the plan; the text writer is json.dumps to the letter.
    assert plan_json_text(full) == json.dumps(full.to_json(), ensure_ascii=False)
    assert "".join(plan_json_parts(full, batch=2)) == plan_json_text(full)   # as the CLI prints it
    result = runner.invoke(args=["email-pendencia-financeira", "--dry-run", "--json",
                                 "--date", as_of.isoformat()])
    assert result.exit_code == (1 if full.held else 0), result.output
    assert json.loads(result.output) == full.to_json()

    # Pré-visualizar envio, every page: the same customers in the same order, the same counts.
    shown, number = [], 1
    while True:
        html = staff.get(f"/previa/?data={as_of.isoformat()}&page={number}").get_data(as_text=True)
        cards = re.findall(r'<div class="big">(\d+)</div>', html)
        assert cards[:2] == [str(len(full.reminders)), str(len(full.skipped))]
        shown += shown_codes(html)
        if f"page={number + 1}" not in html:
            break
        number += 1
    assert shown == [r.customer_code for r in full.reminders]

    # The real send: what reaches the SMTP server and what the run records.
    before = len(smtp_server.received)
    configured = configure_station(session, smtp_server, app.instance_path)
    report = run(session, as_of, app.instance_path, options=DeliveryOptions(attempts=1, backoff=0))
    received = smtp_server.received[before:]
    assert report.sent == len(full.reminders) == len(received)
    for reminder, message in zip(full.reminders, received):
        assert message.rcpt_tos == reminder.to
        subject, text, _ = render(reminder, configured, as_of)
        assert message.message["Subject"] == subject
        assert message.message.get_payload()[0].get_content().replace("\r\n", "\n") == text
    skipped = {line.customer_id: line.skip_reason for line in session.scalars(
        select(OutboxLine).where(OutboxLine.as_of == as_of, OutboxLine.status == "skipped"))}
    assert skipped == {s.customer_id: s.reason for s in full.skipped}


def described(reminder) -> tuple:
    """Everything a message is made of: the JSON, the totals, the level and the creditors."""
    return (reminder.to_json(), reminder.overdue_cents, reminder.open_cents, reminder.updated_cents,
            reminder.level, [(c.company_code, c.name, c.overdue_cents, c.open_cents,
                              [(i.invoice_id, i.issue_date, i.amount_cents, i.digitable_line,
                                i.payment_link) for i in c.invoices]) for c in reminder.companies])
