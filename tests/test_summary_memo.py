"""The remembered plan summary (dunning.summary_memo): reused only while the database is unchanged.

The class of fault: a preview that counts from a summary computed before a change. Every change
below is committed by someone else than the preview (another connection, as a second PC or the
scheduled run would; another process through the real CLI; the preview's own app) and flips a
verdict, so a summary remembered across it would disagree with ``plan()``, which is never
remembered. Runs on both databases.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text, update

from blueprints.preview import PreviewWarmer, start_warmer
from dunning.rules import plan, plan_summary
from dunning import summary_memo
from dunning.runlock import acquire
from dunning.summary_memo import remembered
from models import (Account, Company, Customer, CustomerGroup, Invoice, OutboxLine, Run,
                    StationSettings, db)

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 8, 0)


@pytest.fixture
def station(session):
    """Two companies, a group, four customers with something overdue."""
    session.add_all([Company(id=1, code="1", name="Posto Um", tax_id="11.222.333/0001-81",
                             address="Rua 1", data_time=NOW - timedelta(hours=1)),
                     Company(id=2, code="2", name="Posto Dois", tax_id="11.222.333/0001-81",
                             address="Rua 2", data_time=NOW - timedelta(hours=1)),
                     Account(id=1, company_id=1, code=""), Account(id=2, company_id=2, code=""),
                     CustomerGroup(id=1, code="G", name="Grupo", send_email=True)])
    for n in range(1, 5):
        session.add(Customer(id=n, code=f"C{n}", name=f"Cliente {n}", name_folded=f"cliente {n}",
                             email_addresses=f"c{n}@cliente.example.com", group_id=1))
        for k, company in enumerate((1, 2)):
            session.add(Invoice(company_id=company, account_id=company, customer_id=n,
                                document=f"F{n}{k}", installment="", due_date=AS_OF - timedelta(10),
                                amount_cents=1000, balance_cents=1000))
    session.commit()
    return session


def verdicts(summary_or_plan) -> tuple:
    """Who is due (and of what kind), who is skipped and why, which companies are held back."""
    due = getattr(summary_or_plan, "due", None)
    if due is None:
        due = summary_or_plan.reminders
    return ([(d.customer_code, d.kind) for d in due],
            [(s.customer_code, s.reason) for s in summary_or_plan.skipped],
            [(h.code, h.reason, h.detail) for h in summary_or_plan.held])


def fresh(session, now=NOW) -> tuple:
    return verdicts(plan(session, AS_OF, now=now))


def commit_elsewhere(db_url: str, statement: str) -> None:
    """``statement`` committed by a connection of its own, as another PC would."""
    other_pc = create_engine(db_url)
    try:
        with other_pc.begin() as conn:
            conn.execute(text(statement))
    finally:
        other_pc.dispose()


def remembered_summary(session, now=NOW):
    """The summary, checked to be the remembered one the second time it is asked for."""
    first, second = plan_summary(session, AS_OF, now=now), plan_summary(session, AS_OF, now=now)
    assert second.due is first.due and second.skipped is first.skipped, "not remembered"
    return second


# Changes another PC (or the scheduled run) commits, each flipping a verdict, one input of the
# rules after the other: addresses, switches, tolerance, saldos, due dates, the creditor's data,
# account lists, billing accounts, earlier reminders, settings.
ELSEWHERE = [
    ["UPDATE customer SET email_addresses = '' WHERE code = 'C1'"],              # no_email
    ["UPDATE customer SET email_addresses = 'sem-arroba' WHERE code = 'C2'"],    # invalid_email
    ["UPDATE customer SET send_email = 'nao' WHERE code = 'C3'"],                # off
    ["UPDATE customer SET send_email = 'herdar' WHERE code = 'C3'"],
    ["UPDATE customer_group SET tolerance_days = 30"],                           # nothing_overdue
    ["UPDATE customer_group SET tolerance_days = NULL"],
    ["UPDATE invoice SET balance_cents = 0 WHERE customer_id = 4"],              # paid
    ["UPDATE invoice SET balance_cents = 5 WHERE customer_id = 4 AND company_id = 2"],
    ["INSERT INTO customer_account_rule (customer_id, account_id, send_email) "  # scope: paid
     "VALUES (4, 1, TRUE)"],
    ["DELETE FROM customer_account_rule"],
    ["UPDATE company SET address = '' WHERE code = '2'"],                        # creditor held
    ["UPDATE company SET address = 'Rua 2' WHERE code = '2'"],
    ["INSERT INTO billing_account (customer_id, account_id) VALUES (4, 1)"],     # scope: company 1
    ["UPDATE invoice SET balance_cents = 7 WHERE customer_id = 4 AND company_id = 1"],
    ["UPDATE invoice SET due_date = '2026-12-21' WHERE customer_id = 4 AND company_id = 1"],
    ["DELETE FROM billing_account"],
    [insert(Run).values(id=90, as_of=date(2026, 11, 20), started_at=datetime(2026, 11, 20, 7),
                        status="ok"),                                            # recently_sent
     insert(OutboxLine).values(run_id=90, customer_id=4, as_of=date(2026, 11, 20), status="sent",
                               kind="overdue")],
    ["UPDATE station_settings SET resend_interval_days = 1"],
]


def test_a_change_committed_elsewhere_is_never_counted_from_memory(app, station, db_url):
    station.add(StationSettings(id=1))
    station.commit()
    other_pc = create_engine(db_url)
    try:
        for statements in ELSEWHERE:
            before = verdicts(remembered_summary(station))
            with other_pc.begin() as conn:
                for statement in statements:
                    conn.execute(text(statement) if isinstance(statement, str) else statement)
            station.rollback()      # the next request's session
            after = verdicts(plan_summary(station, AS_OF, now=NOW))
            assert after == fresh(station), statements
            assert after != before, f"{statements} changed no verdict: the test would miss a stale memo"
    finally:
        other_pc.dispose()


ANOTHER_PROCESS = """
import sys
import sqlalchemy as sa
with sa.create_engine(sys.argv[1]).begin() as conn:
    conn.execute(sa.text("UPDATE customer SET email_addresses = '' WHERE code = 'C2'"))
"""


def test_a_change_by_another_process_and_by_the_app_itself(app, station, staff, db_url, tmp_path):
    before = verdicts(remembered_summary(station))
    assert before[2] == []
    # The real command line, another process: company 2 loses its address (CDC art. 42-A).
    env = {**os.environ, "DATABASE_URL": db_url, "APPLIANCE_INSTANCE": str(tmp_path / "cli")}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "set-company", "2",
                           "--address", ""], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    station.rollback()
    after_cli = verdicts(plan_summary(station, AS_OF, now=NOW))
    assert after_cli == fresh(station) and after_cli[2][0][:2] == ("2", "creditor_incomplete")
    # Another process, held back nothing new: C2's e-mail is cleared.
    remembered_summary(station)
    done = subprocess.run([sys.executable, "-c", ANOTHER_PROCESS, db_url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    station.rollback()
    after_process = verdicts(plan_summary(station, AS_OF, now=NOW))
    assert after_process == fresh(station) and ("C2", "no_email") in after_process[1]
    # Staff clear a customer's e-mails in the browser: the preview counts the edit at once.
    remembered_summary(station)
    with app.app_context():
        customer_id = db.session.scalar(db.select(Customer.id).where(Customer.code == "C1"))
    response = staff.post(f"/clientes/{customer_id}/emails", data={"addresses": ""})
    assert response.status_code == 302
    station.rollback()
    after_edit = verdicts(plan_summary(station, AS_OF, now=NOW))
    assert after_edit == fresh(station) and ("C1", "no_email") in after_edit[1]


def test_uncommitted_writes_neither_read_nor_fill_the_memo(station):
    committed = verdicts(remembered_summary(station))
    customer = station.scalar(db.select(Customer).where(Customer.code == "C1"))
    customer.email_addresses = ""
    station.flush()                           # written, not committed: this session sees it
    own = verdicts(plan_summary(station, AS_OF, now=NOW))
    assert ("C1", "no_email") in own[1] and own == fresh(station)
    station.rollback()                        # gone: the memo must not have kept it
    assert verdicts(plan_summary(station, AS_OF, now=NOW)) == committed == fresh(station)


def test_the_clock_decides_the_data_age_on_every_view(station):
    """Nothing changes in the database, the clock moves: the hold-back and its text follow it."""
    fresh_data = verdicts(remembered_summary(station))
    assert fresh_data[2] == []
    later = NOW + timedelta(days=2)          # past the 24-hour limit: both companies held back
    held = verdicts(plan_summary(station, AS_OF, now=later))
    assert held == fresh(station, later) and held[2]
    even_later = later + timedelta(hours=5)   # the same companies held, their age said anew
    again = verdicts(plan_summary(station, AS_OF, now=even_later))
    assert again == fresh(station, even_later) and again[2] != held[2]
    assert verdicts(plan_summary(station, AS_OF, now=NOW)) == fresh_data


def test_one_customer_and_other_dates_are_computed_each_time(station):
    everyone = remembered_summary(station)
    one = plan_summary(station, AS_OF, "C1", now=NOW)
    assert [d.customer_code for d in one.due] == ["C1"]
    other_day = plan_summary(station, AS_OF - timedelta(days=30), now=NOW)
    assert other_day.due == () and len(other_day.skipped) == 4
    assert plan_summary(station, AS_OF, now=NOW).due == everyone.due


def test_the_server_computes_todays_counts_once_the_data_is_quiet(app, station, db_url):
    """blueprints.preview.PreviewWarmer: what the server does every few seconds."""
    station.execute(update(Company).values(data_time=datetime.now()))   # fresh at the real clock
    station.commit()
    warmer = PreviewWarmer(app)
    assert warmer.step() is None                 # nothing to compare with yet
    ready = warmer.step()                        # quiet since the last look: computed ahead
    today = plan_summary(station, date.today(), now=datetime.now())
    assert today.due is ready.due and today.skipped is ready.skipped   # the view finds it ready
    commit_elsewhere(db_url, "UPDATE customer SET email_addresses = '' WHERE code = 'C1'")
    assert warmer.step() is None                 # changed since the last look: wait for quiet
    again = warmer.step()
    assert again.skipped is not ready.skipped and ("C1", "no_email") in verdicts(again)[1]
    station.rollback()
    assert plan_summary(station, date.today(), now=datetime.now()).skipped is again.skipped
    # A run is sending (the lock is held): quiet or not, the look computes nothing.
    lease = acquire(station, datetime.now())
    try:
        assert warmer.step() is None and warmer.step() is None
    finally:
        lease.release()
    assert warmer.step() is None                 # the release is a change: the next look computes
    assert warmer.step() is not None


def test_a_failing_look_is_logged_once_and_the_server_goes_on(tmp_path, caplog):
    """A database without the schema yet: every look fails the same way; one warning."""
    from app import create_app
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "i"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    stop = start_warmer(app, 0.01)
    try:
        deadline = datetime.now() + timedelta(seconds=30)
        while sum("não calculadas" in r.getMessage() for r in caplog.records) == 0:
            assert datetime.now() < deadline, "the look never ran"
            stop.wait(0.05)
        stop.wait(0.5)                           # dozens of looks more, all failing alike
    finally:
        stop.set()
    warnings = [r for r in caplog.records if "não calculadas" in r.getMessage()]
    assert len(warnings) == 1 and "no such table" in warnings[0].getMessage()


def test_todays_counts_and_another_dates_are_kept_side_by_side(app, station):
    """The server computes today's counts ahead while staff page through another date: neither
    pushes the other out."""
    other = remembered_summary(station)
    today = plan_summary(station, date.today(), now=NOW)
    assert plan_summary(station, AS_OF, now=NOW).due is other.due
    assert plan_summary(station, date.today(), now=NOW).due is today.due


def _in_thread(app, results: dict, name: str, key, compute) -> threading.Thread:
    """``remembered(key, compute)`` asked for in another thread (its own session), as a second
    view or the server's look ahead would."""
    def ask():
        with app.app_context():
            try:
                results[name] = remembered(db.session, key, compute)
            except Exception as exc:    # noqa: BLE001 - the test looks at it
                results[name] = exc
            finally:
                db.session.remove()
    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def _slow(started: threading.Event, release: threading.Event, value, calls: list):
    def compute():
        calls.append(value)
        started.set()
        assert release.wait(30)
        if isinstance(value, Exception):
            raise value
        return value
    return compute


def test_a_value_being_computed_is_waited_for_not_computed_twice(app, station):
    """The look ahead computing today's counts while a view asks for them: one computation."""
    started, release, calls, results = threading.Event(), threading.Event(), [], {}
    first = _in_thread(app, results, "first", "k", _slow(started, release, ("a",), calls))
    assert started.wait(30)
    second = _in_thread(app, results, "second", "k", lambda: calls.append("second") or ("b",))
    other_key = _in_thread(app, results, "other", "other key", lambda: ("c",))
    other_key.join(30)
    assert results["other"] == ("c",)            # another value is not held up by this one
    second.join(0.3)
    assert second.is_alive()                     # waiting for the first
    release.set()
    first.join(30), second.join(30)
    assert results["first"] == ("a",) and results["second"] is results["first"]
    assert calls == [("a",)]


def test_a_change_committed_while_waiting_is_computed_afresh(app, station, db_url):
    started, release, calls, results = threading.Event(), threading.Event(), [], {}
    first = _in_thread(app, results, "first", "k", _slow(started, release, ("old",), calls))
    assert started.wait(30)
    second = _in_thread(app, results, "second", "k", lambda: calls.append("new") or ("new",))
    second.join(0.3)
    commit_elsewhere(db_url, "UPDATE customer SET email_addresses = '' WHERE code = 'C1'")
    release.set()
    first.join(30), second.join(30)
    assert results == {"first": ("old",), "second": ("new",)}
    assert calls == [("old",), "new"]


def test_a_failed_computation_lets_the_waiting_caller_compute(app, station):
    started, release, calls, results = threading.Event(), threading.Event(), [], {}
    first = _in_thread(app, results, "first", "k",
                       _slow(started, release, RuntimeError("banco caiu"), calls))
    assert started.wait(30)
    second = _in_thread(app, results, "second", "k", lambda: calls.append("second") or ("b",))
    second.join(0.3)
    release.set()
    first.join(30), second.join(30)
    assert isinstance(results["first"], RuntimeError) and results["second"] == ("b",)
    # Neither left a claim behind: a third caller gets the kept value at once.
    assert remembered(station, "k", lambda: ("c",)) == ("b",)


def test_a_computation_that_takes_too_long_is_not_waited_for(app, station, monkeypatch):
    monkeypatch.setattr(summary_memo, "WAIT_SECONDS", 0.2)
    started, release, calls, results = threading.Event(), threading.Event(), [], {}
    first = _in_thread(app, results, "first", "k", _slow(started, release, ("a",), calls))
    assert started.wait(30)
    second = _in_thread(app, results, "second", "k", lambda: calls.append("second") or ("b",))
    second.join(30)
    assert results["second"] == ("b",)           # computed here after 0.2 s
    release.set()
    first.join(30)
    assert calls == [("a",), "second"]
    assert remembered(station, "k", lambda: ("c",)) == ("a",)   # the waiter kept nothing
