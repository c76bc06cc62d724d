"""What staff type (a form field, a command-line value) before it is trusted: whole numbers
within bounds, and text a database can store.

The one home of these checks, so that a number of 5,000 digits (past Python's int() limit), a
superscript "²" (a digit to ``str.isdigit`` that int() refuses), a NUL character (PostgreSQL
refuses it) or an undecodable byte on the command line is a pt-BR message wherever it is typed,
and never a traceback.
"""
from __future__ import annotations

MAX_DIGITS = 18  # a whole number we take fits a 64-bit column; no bound of ours is longer
SHOWN = 100      # characters of a value quoted in a message


def shown(text: object) -> str:
    """``text`` as quoted in a message: a huge value is cut, saying how long it was."""
    value = str(text)
    if len(value) <= SHOWN:
        return value
    return f"{value[:SHOWN]}... ({len(value):,} caracteres)".replace(",", ".")


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` (ASCII digits, an optional ``-``, spaces around) as an int within ``low..high``;
    None for anything else."""
    value = text.strip()
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()):
        return None
    significant = digits.lstrip("0")
    if len(significant) > MAX_DIGITS:
        return None
    number = int(significant or "0") * (-1 if value.startswith("-") else 1)
    return number if low <= number <= high else None


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored, in pt-BR (None when it can): a NUL character, which
    PostgreSQL refuses in any text, or a byte that is not UTF-8 (a command-line argument typed
    in another encoding arrives as a lone surrogate, which neither database can encode)."""
    if "\x00" in text:
        return "contém um caractere nulo (\\0)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contém bytes que não são texto UTF-8 (digite o valor de novo, sem caracteres especiais)"
    return None
