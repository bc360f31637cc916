"""Error codes: every code has a spec, every message formats with what its raisers pass, and
every kind maps to one HTTP status."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from abonnement.domain import errors, policies, productkeys
from abonnement.domain.catalog import CancellationModel, Offer, PurchaseChannel
from abonnement.domain.errors import (
    SPECS,
    AbonnementError,
    BadRequestError,
    Code,
    ConflictError,
    InvalidInputError,
    Kind,
    NotFoundError,
    PermissionDeniedError,
    Refusal,
    RefusedError,
    TooManyRequestsError,
    UnauthenticatedError,
    error,
    from_refusal,
)
from abonnement.domain.money import Money
from abonnement.domain.subscriptions import Status, SubscriptionFacts

# What each code's raisers put in the context. Codes raised by the domain are checked against
# real domain refusals below; the others are the contract for the services that raise them.
CONTEXT: dict[Code, dict[str, object]] = {
    Code.INVALID_INPUT: {"field": "quantity", "problem": "not a number"},
    Code.NOT_FOUND: {"entity": "subscription", "id": 42},
    Code.PERMISSION_DENIED: {"action": "manage_purchases"},
    Code.ALREADY_EXISTS: {"entity": "offer", "name": "bs-monthly"},
    Code.CONCURRENT_CHANGE: {},
    Code.QUANTITY_BELOW_ASSIGNED: {"assigned": 40, "requested": 39},
    Code.QUANTITY_OUT_OF_RANGE: {"minimum": 1, "maximum": 300},
    Code.ALL_LICENSES_ASSIGNED: {"assigned": 10},
    Code.QUANTITY_AT_MINIMUM: {"minimum": 1},
    Code.CREDIT_CHECK_PENDING: {},
    Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD: {},
    Code.PREPAID_LICENSES_CANNOT_BE_REMOVED: {"prepaid": 10},
    Code.MANAGED_BY_RESELLER: {},
    Code.MANAGED_BY_VOLUME_LICENSING: {},
    Code.TRIAL_BUY_FIRST: {},
    Code.OFFER_END_OF_SALE: {"offer": "Business Standard"},
    Code.SUBSCRIPTION_NOT_ACTIVE: {"status": "expired"},
    Code.PAYMENT_METHOD_REQUIRED: {},
    Code.CHANNEL_NOT_ALLOWED: {"offer": "Business Standard", "channel": "online"},
    Code.CURRENCY_NOT_OFFERED: {"offer": "Business Standard", "currency": "NOK"},
    Code.TRIAL_NOTHING_TO_CANCEL: {},
    Code.OVER_ONLINE_CANCEL_LIMIT: {"assigned": 26, "limit": 25},
    Code.ALREADY_ENDING: {"ends_on": "2025-04-01"},
    Code.CANNOT_REACTIVATE: {"status": "active"},
    Code.TRIAL_EXTENSION_UNAVAILABLE: {"within": 15},
    Code.SWITCH_TOO_FEW_LICENSES: {"assigned": 40, "requested": 39},
    Code.CHANGE_PENDING: {"effective": "2025-04-01"},
    Code.SAME_OFFER: {"offer": "Business Standard"},
    Code.PREPAID_CANNOT_SWITCH: {},
    Code.PAYMENT_DECLINED: {"amount": "12.50 EUR"},
    Code.PAYMENT_INSUFFICIENT_FUNDS: {"amount": "12.50 EUR"},
    Code.PAYMENT_PROCESSING_ERROR: {"amount": "12.50 EUR"},
    Code.NO_LICENSES_AVAILABLE: {"available": 0, "product": "Business Standard", "requested": 3},
    Code.TOO_MANY_USERS: {"maximum": 20, "requested": 21},
    Code.USER_ALREADY_LICENSED: {"user": "kari@example.no", "product": "Business Standard"},
    Code.LICENSE_NOT_ASSIGNED: {"user": "kari@example.no", "product": "Business Standard"},
    Code.ASSIGNMENT_NOT_ALLOWED: {"status": "disabled"},
    Code.EMAIL_TAKEN: {"email": "kari@example.no"},
    Code.LAST_GLOBAL_ADMIN: {},
    Code.PRODUCT_KEY_MALFORMED: {"key": "BCDFG"},
    Code.PRODUCT_KEY_TYPO: {"key": "BCDFG-HJKMN-PQRTV-WXY23-46789"},
    Code.PRODUCT_KEY_UNKNOWN: {"key": "BCDFG-HJKMN-PQRTV-WXY23-46789"},
    Code.PRODUCT_KEY_ALREADY_REDEEMED: {"key": "BCDFG-HJKMN-PQRTV-WXY23-46789"},
    Code.PRODUCT_KEY_MIXED_OFFERS: {},
    Code.WEBHOOK_URL_INVALID: {"url": "ftp://hooks.example"},
    Code.WEBHOOK_EVENT_TYPE_UNKNOWN: {"type": "subscription.renewd"},
    Code.UNAUTHENTICATED: {},
    Code.IDEMPOTENCY_KEY_INVALID: {"header": "Idempotency-Key", "maximum": 255},
    Code.IDEMPOTENCY_KEY_REUSED: {"key": "order-17", "method": "POST", "path": "/v1/products"},
    Code.IDEMPOTENCY_KEY_IN_USE: {"key": "order-17"},
    Code.IDEMPOTENCY_KEY_ANSWER_LOST: {"key": "order-17"},
    Code.RATE_LIMITED: {"limit": 100, "retry_after": 2},
    Code.SIGN_IN_FAILED: {},
    Code.SIGN_IN_LOCKED: {"minutes": 15},
    Code.PASSWORD_TOO_SHORT: {"minimum": 10},
    Code.FORM_EXPIRED: {},
}

STATUS_BY_KIND = {
    Kind.INVALID: 422,
    Kind.NOT_FOUND: 404,
    Kind.FORBIDDEN: 403,
    Kind.REFUSED: 409,
    Kind.CONFLICT: 409,
    Kind.UNAUTHENTICATED: 401,
    Kind.BAD_REQUEST: 400,
    Kind.TOO_MANY_REQUESTS: 429,
}
CLASS_BY_KIND: dict[Kind, type[AbonnementError]] = {
    Kind.INVALID: InvalidInputError,
    Kind.NOT_FOUND: NotFoundError,
    Kind.FORBIDDEN: PermissionDeniedError,
    Kind.REFUSED: RefusedError,
    Kind.CONFLICT: ConflictError,
    Kind.UNAUTHENTICATED: UnauthenticatedError,
    Kind.BAD_REQUEST: BadRequestError,
    Kind.TOO_MANY_REQUESTS: TooManyRequestsError,
}


def placeholders(template: str | None) -> set[str]:
    if template is None:
        return set()
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


# specs -----------------------------------------------------------------------------------------
def test_every_code_has_a_spec_and_a_context_contract() -> None:
    assert set(SPECS) == set(Code)
    assert set(CONTEXT) == set(Code)


def test_codes_are_stable_snake_case_names() -> None:
    for code in Code:
        assert code.value == code.name.lower()
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", code.value)


@pytest.mark.parametrize("code", list(Code))
def test_placeholders_are_plain_format_names(code: Code) -> None:
    spec = SPECS[code]
    for template in (spec.message, spec.remedy):
        if template is None:
            continue
        assert template.strip() == template
        assert template.endswith((".", "?")), template
        for literal, name, conversion, format_spec in string.Formatter().parse(template):
            assert "{" not in literal
            assert "}" not in literal
            if name is not None:
                assert name.isidentifier(), (code, name)  # no positional, index or attribute
                assert not conversion
                assert not format_spec


@pytest.mark.parametrize("code", list(Code))
def test_every_message_formats_with_the_context_its_raisers_pass(code: Code) -> None:
    spec, context = SPECS[code], CONTEXT[code]
    assert placeholders(spec.message) | placeholders(spec.remedy) == set(context)
    refusal = Refusal(code, context)
    assert "{" not in refusal.message
    for value in context.values():
        assert str(value) in refusal.message + (refusal.remedy or "")
    if spec.remedy is None:
        assert refusal.remedy is None
    else:
        assert refusal.remedy is not None
        assert "{" not in refusal.remedy


def test_a_message_without_its_context_does_not_format_silently() -> None:
    with pytest.raises(KeyError):
        _ = Refusal(Code.QUANTITY_BELOW_ASSIGNED).message


def test_n_marks_without_translating() -> None:
    assert errors.N_("Hello {name}.") == "Hello {name}."


# the domain's own refusals ---------------------------------------------------------------------
T0 = date(2025, 3, 1)
OFFER = Offer("bs", "BUS-STD", "Business Standard", {"EUR": Money.of(1250, "EUR")})
OTHER = Offer("bp", "BUS-PREM", "Business Premium", {"EUR": Money.of(2200, "EUR")})


def facts(**overrides: Any) -> SubscriptionFacts:
    fields: dict[str, Any] = {
        "status": Status.ACTIVE,
        "channel": PurchaseChannel.ONLINE,
        "quantity": 10,
        "assigned": 4,
        "term_start": T0,
        "term_end": date(2025, 4, 1),
    }
    fields.update(overrides)
    return SubscriptionFacts(**fields)


def first_buy(f: SubscriptionFacts, offer: Offer = OFFER, *, pm: bool = True) -> Refusal:
    return policies.availability(f, offer, has_payment_method=pm).buy_reasons[0]


def first_remove(f: SubscriptionFacts, offer: Offer = OFFER) -> Refusal:
    return policies.availability(f, offer, has_payment_method=True).remove_reasons[0]


def quantity(f: SubscriptionFacts, total: int) -> object:
    return policies.decide_quantity(f, OFFER, total, T0, has_payment_method=True)


EUR_1 = {"EUR": Money.of(1, "EUR")}
WINDOWED = Offer("nce", "X", "NCE", EUR_1, cancellation_model=CancellationModel.WINDOWED)
RETIRED = Offer("old", "X", "Old Plan", EUR_1, end_of_sale=True)
PARTNER_ONLY = Offer(
    "p", "X", "Partner Plan", EUR_1, channels=frozenset({PurchaseChannel.RESELLER})
)
PREPAID = {"channel": PurchaseChannel.PREPAID, "prepaid_quantity": 10}

DOMAIN_REFUSALS: dict[Code, Callable[[], object]] = {
    Code.QUANTITY_BELOW_ASSIGNED: lambda: quantity(facts(), 3),
    Code.QUANTITY_OUT_OF_RANGE: lambda: quantity(facts(), 0),
    Code.ALL_LICENSES_ASSIGNED: lambda: first_remove(facts(assigned=10)),
    Code.QUANTITY_AT_MINIMUM: lambda: first_remove(facts(quantity=1, assigned=0)),
    Code.CREDIT_CHECK_PENDING: lambda: first_buy(facts(credit_check_pending=True)),
    Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD: lambda: first_buy(facts(**PREPAID), pm=False),
    Code.PREPAID_LICENSES_CANNOT_BE_REMOVED: lambda: first_remove(facts(**PREPAID)),
    Code.MANAGED_BY_RESELLER: lambda: first_buy(facts(channel=PurchaseChannel.RESELLER)),
    Code.MANAGED_BY_VOLUME_LICENSING: lambda: first_buy(facts(channel=PurchaseChannel.VOLUME)),
    Code.TRIAL_BUY_FIRST: lambda: first_buy(facts(status=Status.TRIAL)),
    Code.OFFER_END_OF_SALE: lambda: policies.check_switch(facts(), OFFER, RETIRED, 10, "EUR"),
    Code.SUBSCRIPTION_NOT_ACTIVE: lambda: first_buy(facts(status=Status.DISABLED)),
    Code.PAYMENT_METHOD_REQUIRED: lambda: first_buy(facts(), pm=False),
    Code.CHANNEL_NOT_ALLOWED: lambda: policies.check_switch(
        facts(), OFFER, PARTNER_ONLY, 10, "EUR"
    ),
    Code.CURRENCY_NOT_OFFERED: lambda: policies.check_switch(facts(), OFFER, OTHER, 10, "DKK"),
    Code.TRIAL_NOTHING_TO_CANCEL: lambda: policies.decide_cancellation(
        facts(status=Status.TRIAL), OFFER, T0
    ),
    Code.OVER_ONLINE_CANCEL_LIMIT: lambda: policies.decide_cancellation(
        facts(quantity=30, assigned=26), OFFER, T0
    ),
    Code.ALREADY_ENDING: lambda: policies.decide_cancellation(
        facts(recurring_billing=False), WINDOWED, T0 + timedelta(days=10)
    ),
    Code.CANNOT_REACTIVATE: lambda: policies.check_reactivate(facts()),
    Code.TRIAL_EXTENSION_UNAVAILABLE: lambda: policies.check_trial_extension(facts(), OFFER, T0),
    Code.SWITCH_TOO_FEW_LICENSES: lambda: policies.check_switch(facts(), OFFER, OTHER, 3, "EUR"),
    Code.CHANGE_PENDING: lambda: policies.check_switch(
        facts(pending_quantity=5, pending_effective=date(2025, 4, 1)), OFFER, OTHER, 10, "EUR"
    ),
    Code.SAME_OFFER: lambda: policies.check_switch(facts(), OFFER, OFFER, 10, "EUR"),
    Code.PREPAID_CANNOT_SWITCH: lambda: policies.check_switch(
        facts(**PREPAID), OFFER, OTHER, 10, "EUR"
    ),
    Code.ASSIGNMENT_NOT_ALLOWED: lambda: policies.check_assignable(Status.DISABLED),
    Code.PRODUCT_KEY_MALFORMED: lambda: productkeys.validate("not a key"),
    Code.PRODUCT_KEY_TYPO: lambda: productkeys.validate("BBBBB-BBBBB-BBBBB-BBBBB-BBBBC"),
}


def codes_referenced_by(module: object) -> set[Code]:
    source = Path(module.__file__).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    return {Code[name] for name in re.findall(r"\bCode\.([A-Z_]+)\b", source)}


def test_every_code_the_domain_raises_has_a_scenario_below() -> None:
    raised = codes_referenced_by(policies) | codes_referenced_by(productkeys)
    assert raised == set(DOMAIN_REFUSALS)


@pytest.mark.parametrize("code", list(DOMAIN_REFUSALS))
def test_domain_refusals_carry_the_context_their_message_needs(code: Code) -> None:
    refusal = DOMAIN_REFUSALS[code]()
    assert isinstance(refusal, Refusal), refusal
    assert refusal.code is code
    assert set(refusal.context) == set(CONTEXT[code])
    assert "{" not in refusal.message
    assert refusal.remedy is None or "{" not in refusal.remedy


# HTTP statuses and typed errors ----------------------------------------------------------------
@pytest.mark.parametrize("code", list(Code))
def test_error_for_a_code_has_the_class_and_http_status_of_its_kind(code: Code) -> None:
    kind = SPECS[code].kind
    err = error(code, **CONTEXT[code])
    assert type(err) is CLASS_BY_KIND[kind]
    assert err.kind is kind
    assert err.status == STATUS_BY_KIND[kind]
    assert err.code is code
    assert err.context == CONTEXT[code]
    assert err.message == Refusal(code, CONTEXT[code]).message
    assert err.remedy == Refusal(code, CONTEXT[code]).remedy
    assert str(err) == f"{code.value}: {err.message}"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (Code.INVALID_INPUT, 422),
        (Code.QUANTITY_OUT_OF_RANGE, 422),
        (Code.NOT_FOUND, 404),
        (Code.PRODUCT_KEY_UNKNOWN, 404),
        (Code.PERMISSION_DENIED, 403),
        (Code.QUANTITY_BELOW_ASSIGNED, 409),
        (Code.OVER_ONLINE_CANCEL_LIMIT, 409),
        (Code.CONCURRENT_CHANGE, 409),
        (Code.EMAIL_TAKEN, 409),
        (Code.UNAUTHENTICATED, 401),
    ],
)
def test_http_status_examples(code: Code, status: int) -> None:
    assert error(code, **CONTEXT[code]).status == status


def test_from_refusal_keeps_code_and_context() -> None:
    refusal = Refusal(Code.OVER_ONLINE_CANCEL_LIMIT, {"assigned": 26, "limit": 25})
    err = from_refusal(refusal)
    assert isinstance(err, RefusedError)
    assert (err.code, err.context) == (refusal.code, dict(refusal.context))
    assert err.status == 409
    assert "26" in err.message


def test_every_error_is_an_abonnement_error() -> None:
    for cls in CLASS_BY_KIND.values():
        assert issubclass(cls, AbonnementError)
        assert issubclass(cls, Exception)
