"""How old each company's invoice data is: the home of the data age guard (``stale_data``).

A company's data time is the data time of the last accepted import that contained it
(``dunning.history``); its age is measured against the real clock the caller passes in, never
against a run's ``--date``. A company whose data is older than the station's limit, or that no
recorded import ever contained, is held back: none of its invoices goes into any message.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning.formatting import format_datetime
from models import Company, StationSettings

STALE_DATA = "stale_data"
FIX_HINT = ("importe uma exportação nova das faturas dessa empresa (pasta de importação, página "
            "Importar ou `flask --app app import-invoices ARQUIVO`)")


def describe_age(age: timedelta) -> str:
    """An age as staff say it: "45 minutos", "5 horas e 10 minutos", "3 dias e 2 horas"."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    if days:
        parts = [unit(days, "dia", "dias")] + ([unit(hours, "hora", "horas")] if hours else [])
    elif hours:
        parts = [unit(hours, "hora", "horas")] + ([unit(minutes, "minuto", "minutos")] if minutes else [])
    else:
        parts = [unit(minutes, "minuto", "minutos")]
    return " e ".join(parts)


@dataclass(frozen=True)
class CompanyAge:
    """One company's data time and age, and whether the guard holds it back."""

    company_id: int
    code: str
    name: str
    data_time: datetime | None
    age: timedelta | None            # None: never imported by a recorded import
    stale: bool

    @property
    def age_label(self) -> str:
        if self.data_time is None:
            return "nunca importados"
        return describe_age(self.age)

    def detail(self, max_age_hours: int) -> str:
        """Why the company is held back and how to fix it (pt-BR, for every place that says it)."""
        if self.data_time is None:
            why = "nenhuma importação registrada contém esta empresa"
        else:
            why = (f"dados de {format_datetime(self.data_time)}, há {self.age_label} (limite: "
                   f"{max_age_hours} hora{'s' if max_age_hours != 1 else ''})")
        return f"{why}; {FIX_HINT}"


def max_data_age_hours(session: Session) -> int:
    """The station's limit (0 = guard off), its default before the settings were ever saved."""
    value = session.scalar(select(StationSettings.max_data_age_hours).where(StationSettings.id == 1))
    return 24 if value is None else value


def company_ages(session: Session, now: datetime, max_age_hours: int) -> list[CompanyAge]:
    """Every company's data age at ``now``, by code; ``stale`` is always False when the limit is 0.

    Exactly the limit is still fresh; a minute more is not. A data time after ``now`` (a clock
    set wrong) counts as age zero.
    """
    limit = timedelta(hours=max_age_hours)
    ages = []
    for company_id, code, name, data_time in session.execute(
            select(Company.id, Company.code, Company.name, Company.data_time).order_by(Company.code)):
        age = None if data_time is None else max(now - data_time, timedelta(0))
        stale = bool(max_age_hours) and (age is None or age > limit)
        ages.append(CompanyAge(company_id, code, name, data_time, age, stale))
    return ages

