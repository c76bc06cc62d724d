"""Text as staff type it into a search box: without accents, in lower case."""
from __future__ import annotations

import unicodedata


class _Marks(dict):
    """``str.translate`` table deleting combining marks, filled in as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_MARKS = _Marks()


def fold(text: str) -> str:
    """``text`` lower-cased without accents: "Agropecuária São João" -> "agropecuaria sao joao"."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return unicodedata.normalize("NFKD", lowered).translate(_MARKS)
