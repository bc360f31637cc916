"""Product keys: 25 characters in five groups of five, the last one a check character.

The alphabet leaves out vowels and look-alikes (0/O, 1/I/L, 5/S) so keys are easy to read out.
The check character makes the weighted sum of all 25 character values (weights 1 and 2
alternating, the check character weighing 1) a multiple of 25. Both weights and their difference
are invertible mod 25, so it catches every single-character typo and every swap of two neighbouring
characters. (Luhn mod N's digit folding would not: with an odd N it maps two values to one.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

from abonnement.domain.errors import Code, Refusal

ALPHABET = "BCDFGHJKMNPQRTVWXY2346789"
_BASE = len(ALPHABET)
_INDEX = {char: i for i, char in enumerate(ALPHABET)}
LENGTH = 25
_SEPARATORS = re.compile(r"[\s\-]+")


def _check_char(body: str) -> str:
    factor = 2
    total = 0
    for char in reversed(body):
        total += factor * _INDEX[char]
        factor = 1 if factor == 2 else 2
    return ALPHABET[(_BASE - total % _BASE) % _BASE]


def generate(random_index: Callable[[int], int]) -> str:
    """A new key, drawing characters with `random_index(n)` (e.g. `secrets.randbelow`)."""
    body = "".join(ALPHABET[random_index(_BASE)] for _ in range(LENGTH - 1))
    return format_key(body + _check_char(body))


def normalize(text: str) -> str:
    """Upper case without spaces or dashes: the form keys are stored and compared in."""
    return _SEPARATORS.sub("", text).upper()


def format_key(key: str) -> str:
    compact = normalize(key)
    return "-".join(compact[i : i + 5] for i in range(0, len(compact), 5))


def validate(text: str) -> str | Refusal:
    """The normalized key, or why it is not one (wrong shape, or a typo caught by the check)."""
    compact = normalize(text)
    shown = text.strip()[:40]
    if len(compact) != LENGTH or any(char not in _INDEX for char in compact):
        return Refusal(Code.PRODUCT_KEY_MALFORMED, {"key": shown})
    if _check_char(compact[:-1]) != compact[-1]:
        return Refusal(Code.PRODUCT_KEY_TYPO, {"key": format_key(compact)})
    return compact
