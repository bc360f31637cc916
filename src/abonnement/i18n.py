"""Every user-facing text in English, Norwegian bokmål (nb), Dutch (nl) and Danish (da) (R16).

Messages are English gettext msgids. Error messages and remedies are marked with `N_("...")` in
`abonnement.domain.errors` and use `{name}` str.format placeholders. The catalogs live in
`abonnement/locales/<lang>/LC_MESSAGES/messages.po` and are read at runtime straight from the
.po files with Babel, so there is no compile step and no .mo file anywhere.

The functions here take the locale first (`gettext(locale, msgid)`), except `render`, which takes
the message first (`render(N_("..."), locale, **context)`); babel.cfg tells the extractor so.

After adding, changing or removing a marked string, re-extract and merge the catalogs::

    scripts/update_catalogs.sh

which runs, from the repository root::

    pybabel extract -F babel.cfg -k N_ --add-location=file --sort-output \\
        --project=abonnement --version=<version> \\
        -o src/abonnement/locales/messages.pot src/abonnement
    pybabel update -i src/abonnement/locales/messages.pot -d src/abonnement/locales -l <lang> \\
        --init-missing --ignore-obsolete --ignore-pot-creation-date   # for en, nb, nl and da

then translate every new or "#, fuzzy" entry in nb, nl and da (English may stay empty: it falls
back to the msgid). tests/unit/test_i18n.py fails while any string is missing or untranslated.
"""

from __future__ import annotations

import copy
import functools
import gettext as _gettext
import io
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Final, Literal, Protocol

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern
from babel.numbers import format_currency as _babel_format_currency

from abonnement.domain.errors import SPECS, AbonnementError, Code, Refusal
from abonnement.domain.money import Money

__all__ = [
    "BABEL_LOCALES",
    "DEFAULT",
    "DOMAIN",
    "LOCALES_DIR",
    "SUPPORTED",
    "clear_cache",
    "format_date",
    "format_money",
    "gettext",
    "localize_error",
    "localize_refusal",
    "negotiate",
    "ngettext",
    "normalize_locale",
    "pgettext",
    "render",
    "translations",
]

SUPPORTED: Final = ("en", "nb", "nl", "da")
DEFAULT: Final = "en"
DOMAIN: Final = "messages"
LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"

# The Babel (CLDR) locale used to format numbers, money and dates for each supported language.
BABEL_LOCALES: Final[Mapping[str, str]] = {
    "en": "en",
    "nb": "nb_NO",
    "nl": "nl_NL",
    "da": "da_DK",
}

# Language subtags that mean one of ours: Norwegian ("no") and Nynorsk ("nn") readers get bokmål.
_ALIASES: Final[Mapping[str, str]] = {
    "en": "en",
    "nb": "nb",
    "no": "nb",
    "nn": "nb",
    "nl": "nl",
    "da": "da",
    # a POSIX setting such as LANG=C.UTF-8 means "no particular language"
    "c": "en",
    "posix": "en",
}

_SEPARATORS = re.compile(r"[-_.@]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

DateFormat = Literal["short", "medium", "long", "full"]


# -- choosing the language ------------------------------------------------------------------------
def _language(tag: str) -> str | None:
    """The supported code for a language tag or locale name ("nb-NO", "nn", "da_DK.UTF-8")."""
    primary = _SEPARATORS.split(tag.strip(), maxsplit=1)[0].lower()
    return _ALIASES.get(primary)


def negotiate(accept_language: str | None) -> str:
    """The supported language that an Accept-Language header prefers most, else `DEFAULT`.

    Honors q-values (`q=0` means "not this one"), keeps the header's order among equal weights,
    maps regional tags to their language ("nl-BE" -> "nl", "en-GB" -> "en") and Norwegian tags to
    bokmål ("no", "nn", "nb-NO" -> "nb"). `*` stands for any language we have. Malformed
    entries are skipped.
    """
    if not accept_language:
        return DEFAULT
    weighted: list[tuple[float, int, str]] = []
    for position, entry in enumerate(accept_language.split(",")):
        tag, _, params = entry.partition(";")
        tag = tag.strip()
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if not 0.0 <= quality <= 1.0:
            continue
        weighted.append((-quality, position, tag))
    weighted.sort()

    refused = {_language(tag) for quality, _, tag in weighted if quality == 0 and tag != "*"}
    for quality, _, tag in weighted:
        if quality == 0:
            break
        if tag == "*":
            for candidate in (DEFAULT, *SUPPORTED):
                if candidate not in refused:
                    return candidate
            continue
        language = _language(tag)
        if language is not None and language not in refused:
            return language
    return DEFAULT


def normalize_locale(value: str | None) -> str:
    """The supported code for a configured locale: "nb_NO", "NO", "nl", "da-DK" ... -> "nb", "nl",
    "da". Empty or None means `DEFAULT`; anything else raises ValueError."""
    if value is None or not value.strip():
        return DEFAULT
    code = _language(value)
    if code is None:
        raise ValueError(
            f"unsupported locale {value!r}; choose one of {', '.join(SUPPORTED)} "
            "(a region such as nb_NO or da_DK is fine)"
        )
    return code


# -- catalogs -------------------------------------------------------------------------------------
def _complete(message: Message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return all(message.string)
    return bool(message.string)


def _po_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _load(code: str) -> _gettext.NullTranslations:
    path = _po_path(code)
    if not path.is_file():
        return _gettext.NullTranslations()
    with path.open("rb") as po:
        catalog: Catalog = read_po(po, locale=code, domain=DOMAIN)
    # Untranslated and fuzzy entries fall back to the English msgid, as msgfmt would do.
    for message in list(catalog)[1:]:
        if message.fuzzy or not _complete(message):
            catalog.delete(message.id, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def translations(locale: str | None) -> _gettext.NullTranslations:
    """The translations for a locale, read from its .po file once and then cached."""
    return _load(normalize_locale(locale))


def clear_cache() -> None:
    """Forget the loaded catalogs (after editing a .po file in a running process)."""
    _load.cache_clear()


def gettext(locale: str | None, msgid: str) -> str:
    return translations(locale).gettext(msgid)


def ngettext(locale: str | None, singular: str, plural: str, n: int) -> str:
    return translations(locale).ngettext(singular, plural, n)


def pgettext(locale: str | None, context: str, msgid: str) -> str:
    return translations(locale).pgettext(context, msgid)


# -- words inside messages ------------------------------------------------------------------------
def _label(context: str, message: str) -> str:
    """Mark the display word of a context value for extraction (msgctxt, msgid)."""
    del context
    return message


# Context values that are codes, not words ("expired", "online"), are shown in the reader's
# language. Keyed by placeholder name, then by value; the placeholder name is the msgctxt.
_VALUE_LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "status": {
        # Translators: fills "This subscription is {status}." and "A subscription that is
        # {status} can't be reactivated."
        "trial": _label("status", "in its trial period"),
        "active": _label("status", "active"),
        "expired": _label("status", "expired"),
        "disabled": _label("status", "disabled"),
        "deleted": _label("status", "deleted"),
    },
    "channel": {
        # Translators: a purchase channel, as named in the Purchase channel column; fills
        # "{offer} can't be bought through the {channel} channel."
        "online": _label("channel", "online"),
        "prepaid": _label("channel", "prepaid"),
        "reseller": _label("channel", "reseller"),
        "volume": _label("channel", "Volume Licensing"),
    },
    "action": {
        # Translators: fills "Your admin role does not allow this action ({action})."
        "manage_purchases": _label("action", "buy, remove or cancel licenses and manage payment"),
        "assign_licenses": _label("action", "assign licenses"),
        "manage_users": _label("action", "add or delete users"),
        "manage_admin_roles": _label("action", "manage admin roles"),
        "read_subscriptions": _label("action", "view subscriptions"),
        "read_invoices": _label("action", "view invoices"),
        "read_licenses": _label("action", "view licenses"),
        "read_users": _label("action", "view users"),
    },
    "entity": {
        # Translators: a kind of thing, without article; fills "No {entity} with the id {id}
        # was found." and "A {entity} named {name} already exists."
        "user": _label("entity", "user"),
        "subscription": _label("entity", "subscription"),
        "organization": _label("entity", "organization"),
        "offer": _label("entity", "offer"),
        "product": _label("entity", "product"),
        "invoice": _label("entity", "invoice"),
        "license": _label("entity", "license"),
        "billing_account": _label("entity", "billing account"),
        "payment_method": _label("entity", "payment method"),
        "product_key": _label("entity", "product key"),
    },
}


def _localize_value(name: str, value: object, code: str) -> object:
    """A context value as the reader of `code` should see it inside a sentence."""
    if isinstance(value, Money):
        return format_money(value, code)
    if isinstance(value, date):
        return format_date(value, code)
    if isinstance(value, str):
        labels = _VALUE_LABELS.get(name)
        if labels is not None:
            msgid = labels.get(value.strip().lower().replace(" ", "_"))
            if msgid is not None:
                return pgettext(code, name, msgid)
        if _ISO_DATE.fullmatch(value):
            try:
                return format_date(date.fromisoformat(value), code)
            except ValueError:
                return value
    return value


def render(msgid: str, locale: str | None, /, **context: object) -> str:
    """Translate `msgid` and fill its `{name}` placeholders from `context`.

    Money amounts and dates (`date` objects or ISO "YYYY-MM-DD" strings) are formatted for the
    locale, and known code values of `status`, `channel`, `action` and `entity` are shown as
    words. Mark literal msgids for extraction: `render(N_("Saved."), locale)`.
    """
    code = normalize_locale(locale)
    values = {name: _localize_value(name, value, code) for name, value in context.items()}
    return gettext(code, msgid).format(**values)


# -- errors ---------------------------------------------------------------------------------------
class _HasCodeAndContext(Protocol):
    @property
    def code(self) -> Code: ...

    @property
    def context(self) -> Mapping[str, object]: ...


def localize_error(
    code: Code | str, context: Mapping[str, object] | None, locale: str | None
) -> tuple[str, str | None]:
    """The (message, remedy) of an error code in `locale`, with the context filled in."""
    spec = SPECS[Code(code)]
    values = dict(context or {})
    message = render(spec.message, locale, **values)
    remedy = render(spec.remedy, locale, **values) if spec.remedy else None
    return message, remedy


def localize_refusal(
    refusal: Refusal | AbonnementError | _HasCodeAndContext, locale: str | None
) -> tuple[str, str | None]:
    """The (message, remedy) of a `Refusal` (or a raised `AbonnementError`) in `locale`."""
    return localize_error(refusal.code, refusal.context, locale)


# -- numbers, money and dates ---------------------------------------------------------------------
@functools.cache
def _babel_locale(code: str) -> Locale:
    return Locale.parse(BABEL_LOCALES[code])


@functools.cache
def _currency_pattern(code: str, exponent: int) -> NumberPattern:
    # The locale's currency pattern, with exactly the currency's ISO 4217 decimals. (CLDR's own
    # digits differ from ISO for some currencies, e.g. IQD, and Money is in ISO minor units.)
    pattern: NumberPattern = copy.copy(_babel_locale(code).currency_formats["standard"])
    pattern.frac_prec = (exponent, exponent)
    return pattern


def format_money(money: Money, locale: str | None) -> str:
    """An amount as the locale writes it: "1 250,50 kr" (nb), "€ 12,50" (nl), "¥1,250" (en)."""
    code = normalize_locale(locale)
    return _babel_format_currency(
        money.major,
        money.currency.code,
        format=_currency_pattern(code, money.currency.exponent),
        locale=_babel_locale(code),
        currency_digits=False,
    )


def format_date(day: date, locale: str | None, format: DateFormat = "long") -> str:
    """A calendar date as the locale writes it: "31. januar 2026" (nb, long), "Jan 31, 2026"
    (en, medium)."""
    code = normalize_locale(locale)
    return _babel_format_date(day, format=format, locale=_babel_locale(code))
