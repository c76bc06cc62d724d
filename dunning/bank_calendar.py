"""Which days move a due date to the next business day: the home of the due-date calendar.

Two choices (station setting ``bank_calendar``):

* ``nacional``: Saturdays, Sundays and Brazil's national public holidays (the seed's behaviour).
* ``bancario`` (default): those, plus the days FEBRABAN declares without banking service to the
  public nationwide every year - Carnaval Monday and Tuesday, Corpus Christi and 31 December.
  A bill due on such a day is paid on the next business day without charges, so reminding the
  customer (or charging multa/juros) before then would be wrong.

Either way the station's state (UF) adds its state holidays, and staff may type extra dates
(municipal holidays). The ``holidays`` package supplies the national and state holidays; its
Brazilian "optional" category also holds Ash Wednesday (banks open at noon), 28 October (a civil
servants' day, banks open) and 24 December (banks open in the morning), which are not bank
holidays, so the bank days are taken by date from Easter rather than from that category.
"""
from __future__ import annotations

from datetime import date, timedelta

import holidays
from dateutil.easter import easter

from dunning.typed_input import shown

CALENDAR_CHOICES = {"bancario": "calendário bancário (feriados nacionais, Carnaval, Corpus Christi "
                                "e 31 de dezembro)",
                    "nacional": "feriados nacionais"}
STATES = tuple(s for s in holidays.country_holidays("BR").subdivisions if len(s) == 2)


def bank_holidays(year: int) -> dict[date, str]:
    """The nationwide days without banking service that are not national holidays, by date."""
    sunday = easter(year)
    return {sunday - timedelta(days=48): "Carnaval (segunda-feira)",
            sunday - timedelta(days=47): "Carnaval (terça-feira)",
            sunday + timedelta(days=60): "Corpus Christi",
            date(year, 12, 31): "Último dia do ano (sem expediente bancário)"}


class DueDateCalendar:
    """Answers "is this day a non-business day?" for one station's settings."""

    def __init__(self, kind: str = "bancario", state: str = "",
                 extra: frozenset[date] | set[date] = frozenset()):
        self.kind = kind
        self.extra = frozenset(extra)
        self.public = holidays.country_holidays("BR", subdiv=state or None)
        self._bank_years: dict[int, dict[date, str]] = {}

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is not a business day apart from weekends, or None when it is one."""
        if day in self.extra:
            return "feriado informado pela estação"
        if day in self.public:
            return self.public.get(day)
        if self.kind == "bancario":
            year = self._bank_years.get(day.year)
            if year is None:
                year = self._bank_years[day.year] = bank_holidays(day.year)
            return year.get(day)
        return None

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def next_business_day(self, day: date) -> date:
        """``day`` itself when it is a business day, else the first one after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day


def parse_extra_dates(text: str) -> list[date]:
    """``AAAA-MM-DD`` dates separated by commas (spaces and line breaks allowed), sorted, unique.

    Raises ValueError with a pt-BR message naming the bad value.
    """
    out: set[date] = set()
    for part in text.replace("\n", ",").replace(";", ",").split(","):
        value = part.strip()
        if not value:
            continue
        try:
            if len(value) != 10:
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"Data inválida '{shown(value)}': use AAAA-MM-DD (por exemplo "
                             "2027-01-25), separadas por vírgula.") from None
        if not 1900 <= day.year <= 2100:
            raise ValueError(f"Data fora do intervalo aceito (1900 a 2100): '{value}'.")
        out.add(day)
    return sorted(out)
