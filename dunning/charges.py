"""Multa and juros de mora: the updated amount of a late invoice, as an estimate.

Convention (README, "Valor atualizado"): when the run date is after the effective due date,
updated = saldo x (1 + multa% + juros% ao mês / 30 x dias de atraso), the days counted from the
printed vencimento (the same ``dias_atraso`` the message shows); simple interest, pro rata die on
a 30-day month. The sum is carried exactly as a fraction of integers (the division by 30 has no
exact decimal) and rounded half-up to the centavo once, at the end. Percentages are stored in
hundredths (200 = 2,00 %). Multa is capped at 2 % by CDC art. 52 §1.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from dunning.typed_input import shown

MAX_LATE_FEE_BP = 200            # CDC art. 52 §1: multa de mora de no máximo 2 %
MAX_INTEREST_BP_MONTH = 1000     # a sanity bound (10 % ao mês), not a legal figure
ESTIMATE_NOTE = "valor estimado; o valor exato é confirmado no pagamento"


def updated_cents(balance_cents: int, days_late: int, late_fee_bp: int,
                  interest_bp_month: int) -> int:
    """``balance_cents`` plus multa and juros for ``days_late`` days, half-up to the centavo."""
    if days_late <= 0 or not (late_fee_bp or interest_bp_month):
        return balance_cents
    # balance x (1 + fee/10000 + interest/10000 x days/30), over the common denominator 300000.
    numerator = balance_cents * (300_000 + 30 * late_fee_bp + interest_bp_month * days_late)
    return (2 * numerator + 300_000) // 600_000


def parse_percent(text: str, maximum_bp: int, label: str) -> int:
    """``2``, ``2,5`` or ``2.50`` (at most two decimals, 0 to the maximum) in hundredths of a
    percent; ValueError with a pt-BR message otherwise."""
    value = text.strip().replace("%", "").strip().replace(",", ".")
    try:
        number = Decimal(value or "0")
    except InvalidOperation:
        number = None
    limit = Decimal(maximum_bp) / 100
    if number is None or not number.is_finite() or number.as_tuple().exponent < -2 \
            or not 0 <= number <= limit:
        raise ValueError(f"{label}: valor inválido '{shown(text)}'; use um número de 0 a "
                         f"{format_percent(maximum_bp)} com até duas casas decimais.")
    return int(number * 100)


def format_percent(bp: int) -> str:
    """Hundredths of a percent as pt-BR text: 200 -> '2,00'."""
    return f"{bp // 100},{bp % 100:02d}"
