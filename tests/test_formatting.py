"""Parsing the ERP's amounts and dates, and showing money and dates the pt-BR way."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.formatting import cents_to_str, format_brl, format_date, parse_cents, parse_date


@pytest.mark.parametrize("text, cents", [
    ("1.234,56", 123456), ("1234,56", 123456), ("1234.56", 123456), ("1234", 123400),
    ("0,00", 0), ("0", 0), ("0,5", 50), ("1.5", 150), ("12.345.678,90", 1234567890),
    ("1.234", 123400),  # dots in groups of three: thousands, as a pt-BR ERP writes it
    ("1.23", 123), (" 320,40 ", 32040), ("R$ 1.234,56", 123456), ("R$\u00a01.234,56", 123456),
    ("-5,00", -500), ("- 5,00", -500), ("-R$ 5,00", -500), ("R$ -5", -500),
    ("9.999.999.999.999,99", 999999999999999),
])
def test_parse_cents(text, cents):
    assert parse_cents(text) == cents


@pytest.mark.parametrize("text", [
    "", " ", "abc", "1,234", "1,234.56", "1.234.5", "1.2345", "12,3,4", "1.2.3", "1 234,56",
    "1e3", "+5", "--5", "-", "R$", ",50", ".50", "1,", "10000000000000,00", "1,2345",
])
def test_parse_cents_rejects(text):
    with pytest.raises(ValueError):
        parse_cents(text)


@pytest.mark.parametrize("text, value", [
    ("01/10/2026", date(2026, 10, 1)), ("1/2/2026", date(2026, 2, 1)),
    ("2026-10-01", date(2026, 10, 1)), (" 29/02/2028 ", date(2028, 2, 29)),
    ("31/12/2099", date(2099, 12, 31)),
])
def test_parse_date(text, value):
    assert parse_date(text) == value


@pytest.mark.parametrize("text", [
    "", "31/02/2026", "29/02/2027", "00/01/2026", "01/13/2026", "2026-13-01", "2026-02-30",
    "01/10/26", "2026/10/01", "10-01-2026", "2026-1-1", "ontem", "01.10.2026",
])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError):
        parse_date(text)


@pytest.mark.parametrize("cents, text", [
    (0, "R$ 0,00"), (5, "R$ 0,05"), (123456, "R$ 1.234,56"), (100000000, "R$ 1.000.000,00"),
    (-500, "-R$ 5,00"), (None, ""),
])
def test_format_brl(cents, text):
    assert format_brl(cents) == text


def test_format_date():
    assert format_date(date(2026, 1, 5)) == "05/01/2026"
    assert format_date(None) == ""


@pytest.mark.parametrize("cents, text", [(123456, "1234.56"), (5, "0.05"), (0, "0.00"), (-150, "-1.50")])
def test_cents_to_str(cents, text):
    assert cents_to_str(cents) == text


@pytest.mark.parametrize("cents", [0, 1, 99, 100, 123456, 10**12 + 7])
def test_formatted_amounts_parse_back(cents):
    assert parse_cents(format_brl(cents)) == cents
    assert parse_cents(cents_to_str(cents)) == cents


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=999_999_999_999_999))
def test_bare_brl_amounts_parse_back(cents):
    """The ERP's usual "1.234,56" (no R$), read by parse_cents' fast path, up to its largest size."""
    assert parse_cents(format_brl(cents).removeprefix("R$ ")) == cents
