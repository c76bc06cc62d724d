"""CPF and CNPJ check digits, including the alphanumeric CNPJ in force from July 2026.

Values are stored exactly as the ERP gives them; this only tells whether one is plausible.
"""
from __future__ import annotations

import re
from operator import mul

_SEPARATORS = re.compile(r"[.\-/\s]")
_CNPJ_SHAPE = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CPF_WEIGHTS = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
_CPF_OFFSETS = (48 * sum(_CPF_WEIGHTS[1:]), 48 * sum(_CPF_WEIGHTS))


def _digit(total: int) -> int:
    """Modulo-11 check digit shared by CPF and CNPJ."""
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def _compact(value: str) -> str:
    """``value`` without punctuation and spaces."""
    compact = value.replace(".", "").replace("-", "").replace("/", "")
    return compact if compact.isalnum() else _SEPARATORS.sub("", compact)


def is_valid_cpf(value: str) -> bool:
    """Whether ``value`` (with or without punctuation) is a CPF with correct check digits."""
    digits = value if len(value) == 11 else _compact(value)
    if len(digits) != 11 or not (digits.isascii() and digits.isdigit()) or digits == digits[0] * 11:
        return False
    nums = digits.encode()  # the ASCII codes: each digit is worth its code - 48
    d1 = _digit(sum(map(mul, nums[:9], _CPF_WEIGHTS[1:])) - _CPF_OFFSETS[0])
    d2 = _digit(sum(map(mul, nums[:10], _CPF_WEIGHTS)) - _CPF_OFFSETS[1])
    return nums[9] - 48 == d1 and nums[10] - 48 == d2


def is_valid_cnpj(value: str) -> bool:
    """Whether ``value`` is a numeric or alphanumeric CNPJ (each character worth ASCII - 48)."""
    chars = _compact(value).upper()
    if not _CNPJ_SHAPE.match(chars) or chars == chars[0] * 14:
        return False
    nums = [ord(c) - 48 for c in chars]
    d1 = _digit(sum(map(mul, nums[:12], _CNPJ_WEIGHTS[1:])))
    d2 = _digit(sum(map(mul, nums[:12] + [d1], _CNPJ_WEIGHTS)))
    return nums[12] == d1 and nums[13] == d2


# Lengths a CPF (11) or numeric CNPJ (14) has once a spreadsheet dropped one or two leading zeros.
PADDABLE_LENGTHS = {9: 11, 10: 11, 12: 14, 13: 14}


def zero_padded(value: str) -> str | None:
    """``value`` with the leading zeros a spreadsheet dropped put back, when it is 9 or 10 digits
    that make a valid CPF once padded, or 12 or 13 that make a valid CNPJ; else None."""
    width = PADDABLE_LENGTHS.get(len(value))
    if width is None or not (value.isascii() and value.isdigit()):
        return None
    padded = value.zfill(width)
    return padded if (is_valid_cpf(padded) if width == 11 else is_valid_cnpj(padded)) else None


def is_valid_tax_id(value: str) -> bool:
    """A CPF (11 digits) or a CNPJ (14 characters); an empty value is not checked here."""
    compact = _compact(value)
    return is_valid_cpf(compact) if len(compact) == 11 else is_valid_cnpj(compact)
