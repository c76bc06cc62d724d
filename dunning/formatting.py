"""pt-BR money and dates, parsed from the ERP's exports and shown on pages and in e-mails alike."""
from __future__ import annotations

import re
from datetime import date, datetime

from dunning.typed_input import shown

# pt-BR "1.234,56" / "1234,56" / "1234", or "1234.56"; "1.234" is read as thousands (see below).
_AMOUNT = re.compile(r"(-?)(?:(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?|(\d+)\.(\d{1,2}))")
# The shape nearly every export uses, "1.234,56" up to 12 digits of units: digits once the dots
# and the comma are gone.
_COMMON_AMOUNT = re.compile(r"\d{1,3}(?:\.\d{3}){0,3},\d\d")
_COMMON_COLUMN = re.compile(r"\d{1,3}(?:\.\d{3}){0,3},\d\d(?:\n\d{1,3}(?:\.\d{3}){0,3},\d\d)*")
_MAX_UNITS_DIGITS = 13  # R$ 9.999.999.999.999,99 fits a 64-bit integer column with room to add
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BR_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_cents(text: str) -> int:
    """Parse ``1.234,56``, ``1234,56``, ``1234.56`` or ``1234`` (optionally ``R$``, ``-``) to cents.

    ``1.234`` (dots in groups of three, no comma) is read as thousands, as a pt-BR ERP writes it.
    Raises ValueError for anything else, including more than two decimals or an absurd size.
    """
    if _COMMON_AMOUNT.fullmatch(text):
        return int(text.replace(".", "").replace(",", ""))
    m = _AMOUNT.fullmatch(text)
    if m is None:
        value = text.replace("R$", "").replace("\u00a0", " ").strip()
        if value.startswith("-"):
            value = "-" + value[1:].lstrip()
        m = _AMOUNT.fullmatch(value)
        if m is None:
            raise ValueError(text)
    sign, units, frac, dot_units, dot_frac = m.groups()
    if units is None:
        units, frac = dot_units, dot_frac
    else:
        units = units.replace(".", "")
    if len(units) > _MAX_UNITS_DIGITS:
        raise ValueError(text)
    cents = int(units) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
    return -cents if sign else cents


def cents_column(texts: tuple[str, ...]) -> list[int] | None:
    """``parse_cents`` of many amounts at once when all have the common shape (``1.234,56``),
    else None (parse them one by one)."""
    joined = "\n".join(texts)
    if not _COMMON_COLUMN.fullmatch(joined):
        return None
    digits = joined.replace(".", "").replace(",", "").split("\n")
    return list(map(int, digits)) if len(digits) == len(texts) else None


# Dates the appliance accepts anywhere (imports, --date, ?data=): outside, they are typos, and
# date arithmetic near year 1 or 9999 overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2100
DATE_RANGE_MESSAGE = f"data fora do intervalo aceito ({FIRST_YEAR} a {LAST_YEAR})"


class DateOutOfRange(ValueError):
    """A well-formed date before FIRST_YEAR or after LAST_YEAR."""


def _in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise DateOutOfRange(value.isoformat())
    return value


def parse_date(text: str) -> date:
    """Parse ``dd/mm/aaaa`` or ``aaaa-mm-dd``; ValueError for anything else or an impossible date,
    DateOutOfRange (a ValueError) for a year outside FIRST_YEAR..LAST_YEAR."""
    value = text.strip()
    if m := _ISO_DATE.match(value):
        return _in_range(date(int(m[1]), int(m[2]), int(m[3])))
    if m := _BR_DATE.match(value):
        return _in_range(date(int(m[3]), int(m[2]), int(m[1])))
    raise ValueError(text)


def parse_run_date(text: str) -> date:
    """A run date as the CLI and the preview take it (``AAAA-MM-DD``); ValueError with a pt-BR
    message naming the value for anything else or a year outside FIRST_YEAR..LAST_YEAR."""
    value = text if len(text) == 10 and text[:4].isdigit() else ""
    try:
        return _in_range(date.fromisoformat(value))
    except DateOutOfRange:
        raise ValueError(f"Data inválida '{shown(text)}': {DATE_RANGE_MESSAGE}.") from None
    except ValueError:
        raise ValueError(f"Data inválida '{shown(text)}': use AAAA-MM-DD (por exemplo 2026-11-28).") from None


def format_brl(cents: int | None) -> str:
    """Cents as ``R$ 1.234,56`` (``-R$ 5,00`` when negative, empty for None)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    units, frac = divmod(abs(cents), 100)
    return f"{sign}R$ {units:,}".replace(",", ".") + f",{frac:02d}"


def format_date(value: date | None) -> str:
    """A date as ``dd/mm/aaaa`` (empty for None)."""
    return value.strftime("%d/%m/%Y") if value else ""


def format_datetime(value: datetime | None) -> str:
    """A moment as ``dd/mm/aaaa hh:mm:ss`` (empty for None)."""
    return value.strftime("%d/%m/%Y %H:%M:%S") if value else ""


def cents_to_str(cents: int) -> str:
    """Cents as the JSON form of SPEC §6: a string with a dot, ``1234.56``."""
    sign = "-" if cents < 0 else ""
    units, frac = divmod(abs(cents), 100)
    return f"{sign}{units}.{frac:02d}"
