"""The escalation levels of the régua de cobrança: which wording a reminder uses, by days late.

A reminder's level is the last level starting at or before the most days late among its overdue
invoices (days counted from the printed vencimento, as the message shows them). Levels only pick
the wording: who is due a reminder, and when, stays SPEC §4's business (dunning.rules).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import EscalationLevel

MAX_LEVELS = 6
MAX_START_DAYS = 3650


@dataclass(frozen=True)
class Level:
    """One level; its template sources are '' where the station's common template applies."""

    number: int                 # 1 for the first (mildest) level, by start_days
    name: str
    start_days: int
    subject: str = ""
    text: str = ""
    html: str = ""


# The built-in régua: polite, factual, no threats and nothing that exposes the customer (CDC
# art. 42). Its wording lives in the built-in templates (templates/email/statement.*).
DEFAULT_LEVELS = (Level(1, "Lembrete", 1), Level(2, "Segundo aviso", 15),
                  Level(3, "Aviso final", 30))


def load_levels(session: Session) -> list[Level]:
    """The station's levels by start_days, or the built-in three when it never saved any."""
    rows = session.execute(select(
        EscalationLevel.name, EscalationLevel.start_days, EscalationLevel.subject_template,
        EscalationLevel.text_template, EscalationLevel.html_template)
        .order_by(EscalationLevel.start_days)).all()
    if not rows:
        return list(DEFAULT_LEVELS)
    return [Level(number, name, start, subject, text, html)
            for number, (name, start, subject, text, html) in enumerate(rows, start=1)]


class LevelsInvalid(ValueError):
    """The levels typed in cannot be saved; ``errors`` are pt-BR messages."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def check_levels(levels: list[tuple[str, int]]) -> list[str]:
    """pt-BR errors of a list of (name, start_days) staff typed in ([] when it can be saved)."""
    errors = []
    if not levels:
        errors.append("Defina pelo menos um nível.")
    if len(levels) > MAX_LEVELS:
        errors.append(f"No máximo {MAX_LEVELS} níveis.")
    seen_days, seen_names = set(), set()
    for position, (name, start) in enumerate(levels, start=1):
        if not name.strip():
            errors.append(f"Nível {position}: informe o nome.")
        elif len(name.strip()) > 60:
            errors.append(f"Nível {position}: nome com no máximo 60 caracteres.")
        elif name.strip().casefold() in seen_names:
            errors.append(f"Nível {position}: o nome '{name.strip()}' já foi usado.")
        if not 1 <= start <= MAX_START_DAYS:
            errors.append(f"Nível {position}: dias de atraso entre 1 e {MAX_START_DAYS} "
                          f"(recebido {start}).")
        elif start in seen_days:
            errors.append(f"Nível {position}: já há um nível a partir de {start} dias.")
        seen_days.add(start)
        seen_names.add(name.strip().casefold())
    return errors
