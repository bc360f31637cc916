"""R16: every user-facing text exists in English, Norwegian bokmål, Dutch and Danish."""

from __future__ import annotations

import gettext as stdlib_gettext
from datetime import date
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from abonnement import i18n
from abonnement.domain.errors import SPECS, Code, Refusal, error
from abonnement.domain.money import Money

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = ("nb", "nl", "da")
Key = tuple[str | None, str]  # (msgctxt, msgid)


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def _po(lang: str) -> Catalog:
    return _read(i18n.LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po", lang)


def _messages(catalog: Catalog) -> dict[Key, Message]:
    return {(m.context, _msgid(m)): m for m in list(catalog)[1:]}


def _msgid(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _forms(message: Message) -> list[str]:
    """The msgstr forms of an entry (one, or one per plural form)."""
    if message.string is None:
        return []
    return [message.string] if isinstance(message.string, str) else list(message.string)


def _placeholders(text: str) -> set[tuple[str, str | None, str | None]]:
    """The `{name}` fields of a str.format template, with their conversion and format spec."""
    return {
        (name, spec or None, conversion)
        for _, name, spec, conversion in Formatter().parse(text)
        if name is not None
    }


def _extract(tmp_path: Path) -> Catalog:
    """Extract the sources exactly as scripts/update_catalogs.sh does (same babel.cfg)."""
    pot = tmp_path / "messages.pot"
    cli: Any = CommandLineInterface()  # untyped in Babel
    cli.run(
        [
            "pybabel",
            "--quiet",
            "extract",
            f"--mapping-file={ROOT / 'babel.cfg'}",
            "--keyword=N_",
            "--add-location=file",
            "--sort-output",
            f"--output-file={pot}",
            str(ROOT / "src" / "abonnement"),
        ]
    )
    return _read(pot)


# -- the catalogs -------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", TRANSLATED)
def test_r16_every_msgid_is_translated_with_the_same_placeholders(lang: str) -> None:
    template = _messages(_read(i18n.LOCALES_DIR / "messages.pot"))
    translated = _messages(_po(lang))
    assert template, "the template is empty"
    problems = []
    for key, source in template.items():
        message = translated.get(key)
        if message is None:
            problems.append(f"missing: {key}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy (review the translation): {key}")
        if isinstance(source.id, str):
            if not isinstance(message.string, str) or not message.string.strip():
                problems.append(f"untranslated: {key}")
            elif _placeholders(message.string) != _placeholders(source.id):
                problems.append(f"placeholders differ: {key} -> {message.string!r}")
        else:  # a plural: every form translated, none using a placeholder the msgids lack
            forms = _forms(message)
            wanted = set().union(*(_placeholders(text) for text in source.id))
            if not forms or not all(form.strip() for form in forms):
                problems.append(f"untranslated plural form: {key}")
            elif any(not _placeholders(form) <= wanted for form in forms):
                problems.append(f"unknown placeholder in a plural form: {key}")
            elif _placeholders(forms[-1]) != _placeholders(source.id[-1]):
                problems.append(f"placeholders differ in the last plural form: {key}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_r16_every_translation_formats_with_the_msgids_context(lang: str) -> None:
    for key, message in _messages(_po(lang)).items():
        msgids = [message.id] if isinstance(message.id, str) else list(message.id)
        values = {name: "x" for text in msgids for name, _, _ in _placeholders(text)}
        for form in _forms(message):
            assert form.format(**values), key


@pytest.mark.parametrize("lang", TRANSLATED)
def test_r16_every_error_message_and_remedy_is_translated(lang: str) -> None:
    translated = _messages(_po(lang))
    for code, spec in SPECS.items():
        for text in (spec.message, spec.remedy):
            if text is None:
                continue
            message = translated.get((None, text))
            assert message is not None, f"{code}: {text!r} is not in the {lang} catalog"
            assert isinstance(message.string, str)
            assert message.string.strip(), f"{code}: {text!r} is untranslated in {lang}"
            assert not message.fuzzy, f"{code}: {text!r} is fuzzy in {lang}"
            assert _placeholders(message.string) == _placeholders(text), (code, lang)
            # and the runtime returns it, not the English fallback
            assert i18n.gettext(lang, text) == message.string


def test_r16_committed_catalogs_hold_every_string_in_the_source(tmp_path: Path) -> None:
    """A new, changed or removed marked string fails here until scripts/update_catalogs.sh has
    been run (and the new entries translated, which the test above checks)."""
    extracted = set(_messages(_extract(tmp_path)))
    assert len(extracted) >= len({s.message for s in SPECS.values()})
    template = set(_messages(_read(i18n.LOCALES_DIR / "messages.pot")))
    fix = "run scripts/update_catalogs.sh, then translate the new entries"
    assert extracted - template == set(), f"not in messages.pot; {fix}"
    assert template - extracted == set(), f"no longer in the source; {fix}"
    for lang in i18n.SUPPORTED:
        catalog = _po(lang)
        present = {key for key, m in _messages(catalog).items() if key in extracted}
        assert extracted - present == set(), f"missing from {lang}; {fix}"
        assert not catalog.obsolete, f"{lang} has obsolete entries; {fix}"


def test_catalogs_ship_as_po_files_inside_the_package() -> None:
    assert i18n.LOCALES_DIR == ROOT / "src" / "abonnement" / "locales"
    for lang in i18n.SUPPORTED:
        assert (i18n.LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").is_file()
    assert not list(i18n.LOCALES_DIR.rglob("*.mo")), "no compiled catalogs: .po is read directly"


# -- choosing the language ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("nb", "nb"),
        ("nb-NO", "nb"),
        ("no", "nb"),
        ("nn-NO,en;q=0.5", "nb"),
        ("nl-BE", "nl"),
        ("nl-NL,nl;q=0.9,en-US;q=0.8", "nl"),
        ("da-DK", "da"),
        ("DA", "da"),
        ("en-GB", "en"),
        ("en-GB,en;q=0.9,da;q=0.8", "en"),
        ("fr-FR", "en"),
        ("fr-FR,de;q=0.9,nl;q=0.3", "nl"),
        ("en;q=0.4,da;q=0.8", "da"),
        ("da;q=0.5,nl;q=0.5", "da"),  # equal weights keep the header's order
        ("da;q=0,nl;q=0.1", "nl"),  # q=0 refuses a language
        ("*", "en"),
        ("fr,*;q=0.5", "en"),
        ("en;q=0,*", "nb"),
        ("nb;q=abc,nl;q=2,da", "da"),  # malformed weights are skipped
        (" , ;q=1, nl ", "nl"),
    ],
)
def test_negotiate_accept_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nb_NO", "nb"),
        ("NO", "nb"),
        ("nn", "nb"),
        ("nb-NO", "nb"),
        ("nl", "nl"),
        ("nl_BE.UTF-8", "nl"),
        ("da_DK", "da"),
        ("en_GB", "en"),
        ("C.UTF-8", "en"),
        (None, "en"),
        ("  ", "en"),
    ],
)
def test_normalize_locale(value: str | None, expected: str) -> None:
    assert i18n.normalize_locale(value) == expected


@pytest.mark.parametrize("value", ["fr", "sv_SE", "de-DE", "x"])
def test_normalize_locale_refuses_unsupported(value: str) -> None:
    with pytest.raises(ValueError, match="unsupported locale"):
        i18n.normalize_locale(value)


# -- translating ---------------------------------------------------------------------------------
def test_translations_are_loaded_once_per_locale() -> None:
    first = i18n.translations("nb")
    assert isinstance(first, stdlib_gettext.NullTranslations)
    assert i18n.translations("nb_NO") is first
    assert i18n.translations("nl") is not first


def test_unknown_msgids_and_english_fall_back_to_the_msgid() -> None:
    text = "Reload and try again."
    assert i18n.gettext("en", text) == text
    assert i18n.gettext("nb", "Not a msgid at all.") == "Not a msgid at all."
    assert i18n.ngettext("da", "{n} thing", "{n} things", 1) == "{n} thing"
    assert i18n.ngettext("da", "{n} thing", "{n} things", 2) == "{n} things"
    assert i18n.pgettext("nl", "status", "expired") == "verlopen"
    with pytest.raises(ValueError, match="unsupported locale"):
        i18n.gettext("fr", text)


def test_render_translates_then_fills_the_placeholders() -> None:
    msgid = "{user} has no license for {product}."
    assert i18n.render(msgid, "en", user="Ada", product="Business Basic") == (
        "Ada has no license for Business Basic."
    )
    assert i18n.render(msgid, "nb", user="Ada", product="Business Basic") == (
        "Ada har ingen lisens for Business Basic."
    )


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_r4_localize_error_names_the_counts_in_every_language(locale: str) -> None:
    message, remedy = i18n.localize_error(
        Code.QUANTITY_BELOW_ASSIGNED, {"assigned": 12, "requested": 10}, locale
    )
    assert "12" in message
    assert "10" in message
    assert remedy
    if locale == "en":
        assert (
            message
            == Refusal(Code.QUANTITY_BELOW_ASSIGNED, {"assigned": 12, "requested": 10}).message
        )
    else:
        assert "licenses" not in message  # translated, not the English fallback


def test_r4_localize_error_per_language() -> None:
    context = {"assigned": 12, "requested": 10}
    assert i18n.localize_error(Code.QUANTITY_BELOW_ASSIGNED, context, "nb")[0] == (
        "Du kan ikke redusere antallet lisenser til 10, fordi 12 lisenser er tilordnet brukere."
    )
    assert i18n.localize_error(Code.QUANTITY_BELOW_ASSIGNED, context, "nl")[0] == (
        "U kunt het aantal licenties niet verlagen naar 10, omdat er 12 licenties aan "
        "gebruikers zijn toegewezen."
    )
    assert i18n.localize_error(Code.QUANTITY_BELOW_ASSIGNED, context, "da")[0] == (
        "Du kan ikke reducere antallet af licenser til 10, fordi 12 licenser er tildelt brugere."
    )


def test_r5_localize_refusal_without_context_or_remedy() -> None:
    message, remedy = i18n.localize_refusal(Refusal(Code.CREDIT_CHECK_PENDING), "da")
    assert message == "Der er en kreditkontrol i gang for dette abonnement."
    assert remedy is not None
    assert "to arbejdsdage" in remedy
    assert i18n.localize_error(Code.SAME_OFFER, {"offer": "E3"}, "nl") == (
        "Het abonnement gebruikt al E3.",
        None,
    )


def test_localize_refusal_accepts_a_raised_error() -> None:
    raised = error(Code.PRODUCT_KEY_ALREADY_REDEEMED, key="ABCDE-FGHIJ-KLMNO-PQRST-UVWXY")
    assert i18n.localize_refusal(raised, "nb") == (
        "Produktnøkkelen ABCDE-FGHIJ-KLMNO-PQRST-UVWXY er allerede brukt.",
        None,
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "This subscription is expired."),
        ("nb", "Dette abonnementet er utløpt."),
        ("nl", "Dit abonnement is verlopen."),
        ("da", "Dette abonnement er udløbet."),
    ],
)
def test_status_codes_are_shown_as_words(locale: str, expected: str) -> None:
    refusal = Refusal(Code.SUBSCRIPTION_NOT_ACTIVE, {"status": "expired"})
    assert i18n.localize_refusal(refusal, locale)[0] == expected


def test_dates_and_money_in_the_context_are_formatted_for_the_locale() -> None:
    ending = {"ends_on": "2026-01-31"}
    assert i18n.localize_error(Code.ALREADY_ENDING, ending, "nb")[0] == (
        "Dette abonnementet avsluttes allerede 31. januar 2026, og gjentakende fakturering er "
        "slått av."
    )
    assert "31 januari 2026" in i18n.localize_error(Code.ALREADY_ENDING, ending, "nl")[0]
    assert "-" in i18n.localize_error(Code.ALREADY_ENDING, {"ends_on": "-"}, "da")[0]
    assert _plain(i18n.render("{amount}", "da", amount=Money.of(9900, "DKK"))) == "99,00 kr."
    assert i18n.render("{day}", "en", day=date(2026, 3, 1)) == "March 1, 2026"


# -- money and dates ------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """CLDR spaces are no-break spaces and its minus may be U+2212; compare them plainly."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2212", "-")


MONEY = {
    "NOK": Money.of(125050, "NOK"),
    "EUR": Money.of(125050, "EUR"),
    "DKK": Money.of(125050, "DKK"),
    "JPY": Money.of(1250, "JPY"),
    "KWD": Money.of(1250125, "KWD"),
}


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("en", "NOK", "NOK1,250.50"),
        ("en", "EUR", "€1,250.50"),
        ("en", "DKK", "DKK1,250.50"),
        ("en", "JPY", "¥1,250"),
        ("en", "KWD", "KWD1,250.125"),
        ("nb", "NOK", "1 250,50 kr"),
        ("nb", "EUR", "1 250,50 €"),
        ("nb", "DKK", "1 250,50 DKK"),
        ("nb", "JPY", "1 250 JPY"),
        ("nb", "KWD", "1 250,125 KWD"),
        ("nl", "NOK", "NOK 1.250,50"),
        ("nl", "EUR", "€ 1.250,50"),
        ("nl", "DKK", "DKK 1.250,50"),
        ("nl", "JPY", "JP¥ 1.250"),
        ("nl", "KWD", "KWD 1.250,125"),
        ("da", "NOK", "1.250,50 NOK"),
        ("da", "EUR", "1.250,50 €"),
        ("da", "DKK", "1.250,50 kr."),
        ("da", "JPY", "1.250 JP¥"),
        ("da", "KWD", "1.250,125 KWD"),
    ],
)
def test_format_money(locale: str, currency: str, expected: str) -> None:
    assert _plain(i18n.format_money(MONEY[currency], locale)) == expected


def test_format_money_keeps_the_iso_minor_unit_and_the_sign() -> None:
    # CLDR shows IQD without decimals; Money holds ISO 4217 fils (3 decimals), so they stay.
    assert _plain(i18n.format_money(Money.of(1250, "IQD"), "en")) == "IQD1.250"
    assert _plain(i18n.format_money(Money.of(-125050, "EUR"), "nb")) == "-1 250,50 €"
    assert _plain(i18n.format_money(Money.of(5, "EUR"), "nl")) == "€ 0,05"


@pytest.mark.parametrize(
    ("locale", "long", "medium"),
    [
        ("en", "January 31, 2026", "Jan 31, 2026"),
        ("nb", "31. januar 2026", "31. jan. 2026"),
        ("nl", "31 januari 2026", "31 jan 2026"),
        ("da", "31. januar 2026", "31. jan. 2026"),
    ],
)
def test_format_date(locale: str, long: str, medium: str) -> None:
    day = date(2026, 1, 31)
    assert i18n.format_date(day, locale) == long
    assert i18n.format_date(day, locale, "medium") == medium
