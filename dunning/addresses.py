"""E-mail addresses: how a cell lists them, and which ones a reminder can go to.

email-validator is the authority (syntax only, no DNS look-up: the station's PC may be offline),
but it costs ~0.1 ms per address and the plan checks every delinquent customer's addresses on
every run. Plain ASCII addresses of the usual shape are decided by a conservative pattern that
only accepts addresses the validator accepts too (tests/test_rules.py checks that property);
anything else goes to the validator.
"""
from __future__ import annotations

import re
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

_SPLIT = re.compile(r"[,;\s]+")
_SPECIAL_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)
# Every special-use name is a single label today; should a later email-validator add a longer one,
# the shortcut switches itself off rather than guess.
_SHORTCUT_SAFE = all("." not in name for name in SPECIAL_USE_DOMAIN_NAMES)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# One regular expression, one C call per address: at most 254 characters, a local part of at most
# 64 dot-separated atoms, a domain without "--" (IDNA prefixes are the validator's business)
# whose last label is letters and no special-use name.
_PLAIN = re.compile(
    r"(?=.{1,254}\Z)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9_+-]{1,64}(?:\.[A-Za-z0-9_+-]{1,64})*@"
    r"(?![^@]*--)(?:" + _LABEL + r"\.)+"
    r"(?!(?i:" + "|".join(sorted(map(re.escape, _SPECIAL_TLDS))) + r")\Z)[A-Za-z]{2,63}",
    re.DOTALL)


def split_emails(cell: str) -> list[str]:
    """Addresses in a cell separated by ``,``, ``;`` or spaces, without repeats (case-blind)."""
    cell = cell.strip()
    if not _SPLIT.search(cell):  # the usual single address
        return [cell] if cell else []
    seen: dict[str, str] = {}
    for address in _SPLIT.split(cell):
        if address:
            seen.setdefault(address.lower(), address)
    return list(seen.values())


def addresses_of(stored: str) -> list[str]:
    """A customer's stored address list (``"a@x.com, b@y.com"``) as separate addresses."""
    if not stored:
        return []
    if "," not in stored and ";" not in stored and " " not in stored:
        return [stored]          # the usual single address, without the splitter's cost
    return split_emails(stored)


@lru_cache(maxsize=65_536)   # a pure function of the text: the server's next preview reuses it
def _validator_accepts(address: str) -> bool:
    """email-validator's verdict, syntax only, without SMTPUTF8: an address with accents before
    the @ needs a server extension the sender does not use, so it is invalid from the import on
    (warning), in the preview and in the run (``invalid_email``), instead of failing every day.
    A non-ASCII domain is fine: it travels in IDNA form."""
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False)
        return True
    except EmailNotValidError:
        return False


def _plainly_valid(address: str) -> bool:
    """True only for addresses the validator certainly accepts (False means "ask the validator")."""
    return _SHORTCUT_SAFE and _PLAIN.fullmatch(address) is not None


# No address is longer (RFC 5321 as email-validator applies it): longer text is refused before
# the validator's memory, which so holds at most 65,536 x 254 characters whatever a file holds.
MAX_ADDRESS = 254


def is_valid_email(address: str) -> bool:
    """Whether a reminder can be addressed to ``address``."""
    return len(address) <= MAX_ADDRESS and (_plainly_valid(address)
                                            or _validator_accepts(address))


def valid_addresses(stored: str) -> tuple[bool, list[str]]:
    """(whether the stored list names any address, the valid ones): what rule 7 checks.

    The usual cell, one plainly valid address, is decided by one pattern match."""
    if stored and _plainly_valid(stored):
        return True, [stored]
    given = addresses_of(stored)
    return bool(given), [a for a in given if is_valid_email(a)]
