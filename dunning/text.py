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


# Characters that act on a terminal instead of showing: C0/C1 controls and DEL (escape
# sequences, carriage return, backspace), line/paragraph separators, bidirectional overrides
# and zero-width characters (text that reads differently than it is); lone surrogates (a file
# name or argument in another encoding), which a UTF-8 terminal cannot even be sent.
_INVISIBLE = {"Cc", "Zl", "Zp", "Cs"}
_FORMAT_CHARS = set(range(0x200B, 0x2010)) | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0xFEFF}


class _Escapes(dict):
    """``str.translate`` table: each dangerous character becomes a visible ``\\xNN``/``\\uNNNN``."""

    def __init__(self, keep: str):
        super().__init__()
        self.keep = keep

    def __missing__(self, code: int) -> str | int:
        char = chr(code)
        if char not in self.keep and (unicodedata.category(char) in _INVISIBLE
                                      or code in _FORMAT_CHARS):
            escaped = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        else:
            escaped = code
        self[code] = escaped
        return escaped


_ONE_LINE = _Escapes(keep="")
_LINES = _Escapes(keep="\n")


def terminal_safe(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every character that would act on a terminal shown as an escape instead.

    Imported data (names, e-mails, SMTP replies) reaches the terminal through the CLI; a value
    must not move the cursor, recolour, retitle the window or forge a line of its own.
    """
    value = str(text)
    if value.isascii() and value.isprintable():
        return value
    return value.translate(_LINES if keep_newlines else _ONE_LINE)


class _JsonEscapes(_Escapes):
    def __missing__(self, code: int) -> str | int:
        escaped = super().__missing__(code)
        if isinstance(escaped, str):
            escaped = self[code] = f"\\u{code:04x}"
        return escaped


_JSON = _JsonEscapes(keep="\n")


def json_terminal_safe(json_text: str) -> str:
    """JSON text (``ensure_ascii=False``) with the characters terminal_safe escapes written as
    ``\\uNNNN``: the same JSON value, harmless on a terminal."""
    return json_text if json_text.isascii() and json_text.isprintable() else json_text.translate(_JSON)
