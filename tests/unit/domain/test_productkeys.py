"""Product keys: 25 characters in five groups of five with a check character."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abonnement.domain.errors import Code, Refusal
from abonnement.domain.productkeys import (
    ALPHABET,
    LENGTH,
    format_key,
    generate,
    normalize,
    validate,
)

KEY_SHAPE = re.compile(rf"[{ALPHABET}]{{5}}(-[{ALPHABET}]{{5}}){{4}}")


def key_from(seed: int) -> str:
    return generate(random.Random(seed).randrange)


KEYS = st.randoms(use_true_random=False).map(lambda rnd: normalize(generate(rnd.randrange)))


def test_alphabet_has_25_distinct_easy_to_read_characters() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 25
    assert LENGTH == 25
    assert not set(ALPHABET) & set("AEIOU0O1IL5SZ")


def test_generate_makes_five_groups_of_five() -> None:
    key = key_from(1)
    assert KEY_SHAPE.fullmatch(key), key


def test_generate_draws_24_characters_from_the_alphabet() -> None:
    asked: list[int] = []

    def first(n: int) -> int:
        asked.append(n)
        return 0

    key = generate(first)
    assert asked == [len(ALPHABET)] * 24
    assert normalize(key)[:24] == ALPHABET[0] * 24


def test_validate_returns_the_compact_key_from_any_common_spelling() -> None:
    key = key_from(7)
    compact = key.replace("-", "")
    assert validate(key) == compact
    assert validate(key.lower()) == compact
    assert validate(" " + key.replace("-", " ") + "\n") == compact
    assert validate(compact) == compact


def test_normalize_and_format() -> None:
    assert normalize(" abcde-fghij  klmno ") == "ABCDEFGHIJKLMNO"
    assert format_key("bcdfghjkmn") == "BCDFG-HJKMN"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "BCDFG-HJKMN",  # too short
        "BCDFG-HJKMN-PQRTV-WXY23-4678",  # 24
        "BCDFG-HJKMN-PQRTV-WXY23-46789-B",  # 26
        "BCDFG-HJKMN-PQRTV-WXY23-4678O",  # O is not in the alphabet
        "BCDFG-HJKMN-PQRTV-WXY23-4678.",
    ],
)
def test_wrong_shapes_are_malformed(text: str) -> None:
    result = validate(text)
    assert result == Refusal(Code.PRODUCT_KEY_MALFORMED, {"key": text.strip()[:40]})


def test_a_malformed_refusal_shows_at_most_40_characters() -> None:
    result = validate("  " + "X" * 100)
    assert isinstance(result, Refusal)
    assert result.context == {"key": "X" * 40}


def test_a_typo_is_reported_with_the_key_formatted() -> None:
    compact = normalize(key_from(3))
    wrong = ALPHABET[(ALPHABET.index(compact[0]) + 1) % 25] + compact[1:]
    assert validate(wrong.lower()) == Refusal(Code.PRODUCT_KEY_TYPO, {"key": format_key(wrong)})


@pytest.mark.parametrize("seed", range(25))
def test_every_substitution_and_neighbour_swap_of_a_key_is_caught(seed: int) -> None:
    """Exhaustive over 600 substitutions and 24 swaps per key (odd-N Luhn missed some)."""
    compact = normalize(key_from(seed))
    for position in range(LENGTH):
        for char in ALPHABET:
            if char != compact[position]:
                mutated = compact[:position] + char + compact[position + 1 :]
                assert validate(mutated) == Refusal(
                    Code.PRODUCT_KEY_TYPO, {"key": format_key(mutated)}
                ), (compact, position, char)
    for position in range(LENGTH - 1):
        a, b = compact[position], compact[position + 1]
        if a != b:
            swapped = compact[:position] + b + a + compact[position + 2 :]
            result = validate(swapped)
            assert isinstance(result, Refusal), (compact, position)
            assert result.code is Code.PRODUCT_KEY_TYPO


# properties ------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_a_generated_key_always_validates(rnd: random.Random) -> None:
    key = generate(rnd.randrange)
    assert KEY_SHAPE.fullmatch(key)
    assert validate(key) == key.replace("-", "")


@settings(max_examples=300, deadline=None)
@given(
    compact=KEYS,
    position=st.integers(min_value=0, max_value=LENGTH - 1),
    char=st.one_of(st.sampled_from(ALPHABET), st.characters()),
)
def test_any_single_character_substitution_is_caught(
    compact: str, position: int, char: str
) -> None:
    assume(char.upper() != compact[position])  # "b" for "B" is the same key, not a typo
    mutated = compact[:position] + char + compact[position + 1 :]
    for spelling in (mutated, format_key(mutated)):
        result = validate(spelling)
        assert isinstance(result, Refusal), (compact, position, char)
        assert result.code in (Code.PRODUCT_KEY_TYPO, Code.PRODUCT_KEY_MALFORMED)
        if char in ALPHABET:
            assert result.code is Code.PRODUCT_KEY_TYPO


@settings(max_examples=300, deadline=None)
@given(compact=KEYS, position=st.integers(min_value=0, max_value=LENGTH - 2))
def test_any_swap_of_two_adjacent_different_characters_is_caught(
    compact: str, position: int
) -> None:
    a, b = compact[position], compact[position + 1]
    assume(a != b)
    swapped = compact[:position] + b + a + compact[position + 2 :]
    result = validate(format_key(swapped))
    assert isinstance(result, Refusal), (compact, position)
    assert result.code is Code.PRODUCT_KEY_TYPO
