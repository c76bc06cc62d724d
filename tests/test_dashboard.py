"""The Painel's figures: open and overdue totals, aging buckets at their boundaries."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from dunning.dashboard import aging_bars, summary
from models import Account, Company, Customer, Invoice, db

AS_OF = date(2026, 11, 28)


def _invoices(session, days_late: dict[str, list[int]]):
    company = Company(code="1", name="Posto", data_time=datetime.now())
    account = Account(company=company, code="")
    session.add_all([company, account])
    n = 0
    for code, lates in days_late.items():
        customer = Customer(code=code, name=code)
        session.add(customer)
        for late in lates:
            n += 1
            session.add(Invoice(company=company, account=account, customer=customer, document=f"F{n}",
                                due_date=AS_OF - timedelta(days=late), balance_cents=100 * n))
    session.add(Invoice(company=company, account=account, customer=customer, document="PAGA",
                        due_date=AS_OF - timedelta(days=500), balance_cents=0))
    session.commit()


def test_totals_and_aging_boundaries(session):
    # F1..F9: 0 (due today: not overdue), 1, 30 | 31, 60 | 61, 90 | 91 | -5 (not yet due)
    _invoices(session, {"A": [0, 1, 30], "B": [31, 60], "C": [61, 90], "D": [91], "E": [-5]})
    s = summary(session, AS_OF)
    assert s.open_invoices == 9 and s.open_cents == 100 * sum(range(1, 10))
    assert s.overdue_invoices == 7 and s.overdue_cents == 100 * (2 + 3 + 4 + 5 + 6 + 7 + 8)
    assert [(b.label, b.invoices, b.cents) for b in s.aging] == [
        ("1-30 dias", 2, 500), ("31-60 dias", 2, 900), ("61-90 dias", 2, 1300), ("90+ dias", 1, 800)]
    assert s.delinquent_customers == 4
    assert s.last_run is None and s.last_run_problems == []


def test_empty_station(session):
    s = summary(session, AS_OF)
    assert (s.open_cents, s.overdue_cents, s.delinquent_customers) == (0, 0, 0)
    assert [b.width for b in aging_bars(s.aging)] == [0, 0, 0, 0]


def test_bars_are_proportional():
    from dunning.dashboard import Bucket
    bars = aging_bars([Bucket("a", 100, 1), Bucket("b", 50, 1), Bucket("c", 0, 0), Bucket("d", 25, 1)],
                      width=400)
    assert [b.width for b in bars] == [400, 200, 0, 100]
    assert [b.y for b in bars] == [0, 34, 68, 102]


def test_a_chains_large_amounts_still_fit_after_their_bars():
    from dunning.dashboard import BAR_X, CHAR_WIDTH, CHART_WIDTH, Bucket
    aging = [Bucket("1-30 dias", 13_104_615_046, 52_251), Bucket("31-60 dias", 0, 0),
             Bucket("61-90 dias", 1_000, 1), Bucket("90+ dias", 136_934_343_553, 546_625)]
    bars = aging_bars(aging, width=330)
    assert bars[3].text == "R$ 1.369.343.435,53 (546625)"
    for bar in bars:
        assert bar.text_x + CHAR_WIDTH * len(bar.text) <= CHART_WIDTH
    assert bars[3].width > bars[0].width > bars[2].width >= 0 and bars[1].width == 0
    assert bars[3].width > 200          # shortened, not flattened
    assert aging_bars([Bucket("a", 100, 1)], width=330)[0].width == 330   # small values: as before
    assert bars[3].text_x == BAR_X + bars[3].width + 6
