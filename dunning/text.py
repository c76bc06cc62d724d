"""Text as staff type it into a search box: without accents, in lower case."""
from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` lower-cased without accents: "Agropecuária São João" -> "agropecuaria sao joao"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
