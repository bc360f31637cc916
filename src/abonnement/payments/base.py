"""The payments interface: what billing asks of a payment processor, and what comes back.

A processor turns raw payment details into an opaque token (`tokenize_card`,
`tokenize_bank_account`) and moves money against that token (`authorize`, `capture`, `charge`,
`refund`). Every money movement returns a typed result; a decline is a *result*, not an exception.
Exceptions are reserved for requests that are wrong in themselves (bad input, a reused
idempotency key with a different request, an over-refund, an unknown reference): those change
nothing at the processor.

The engine stores the results (status, processor reference, amount, decline code); this layer
stores nothing durable itself.

Idempotency: every `authorize`, `charge` and `refund` carries an idempotency key. Sending the same
key again with the same request returns the same result with the same `processor_ref` and moves no
money twice; sending it with a different request raises `IdempotencyConflictError`. Keys are
global to the processor, so a caller should make them unique across organizations (for example
``f"org:{org_id}:invoice:{invoice_id}:attempt:{n}"``).

Invoice payment methods (`PaymentMethodKind.INVOICE`) never reach a processor: the billing service
records such a charge as pending until the customer's bank transfer is matched to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol, runtime_checkable

from abonnement.domain.money import Money


class PaymentMethodKind(StrEnum):
    CARD = "card"
    BANK_ACCOUNT = "bank_account"
    INVOICE = "invoice"


class Purpose(StrEnum):
    """Why money moves. A processor may decide differently per purpose (see the sandbox)."""

    PURCHASE = "purchase"  # first charge of a new subscription, or licenses bought (R6)
    RENEWAL = "renewal"  # the recurring charge at the start of a new period
    CHANGE = "change"  # a mid-period change billed at once (plan switch, added seats)
    REFUND = "refund"  # money going back; never valid for authorize/charge


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PENDING = "pending"  # bank transfer/direct debit not cleared yet


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeclineCode(StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    PROCESSING_ERROR = "processing_error"  # transient: the same request may succeed later

    @property
    def retryable(self) -> bool:
        """A transient failure: try again (dunning) rather than ask for another method."""
        return self is DeclineCode.PROCESSING_ERROR


# errors ------------------------------------------------------------------------------------


class PaymentField(StrEnum):
    """Which part of a request was wrong (stable, for mapping to the engine's error codes)."""

    NUMBER = "number"
    EXP_MONTH = "exp_month"
    EXP_YEAR = "exp_year"
    CVC = "cvc"
    IBAN = "iban"
    HOLDER = "holder"
    TOKEN = "token"
    AMOUNT = "amount"
    PURPOSE = "purpose"
    IDEMPOTENCY_KEY = "idempotency_key"
    PROCESSOR_REF = "processor_ref"


class InputProblem(StrEnum):
    """What was wrong with a field (stable)."""

    MISSING = "missing"
    NOT_DIGITS = "not_digits"
    WRONG_LENGTH = "wrong_length"
    CHECKSUM = "checksum"
    INVALID_FORMAT = "invalid_format"
    OUT_OF_RANGE = "out_of_range"
    EXPIRED = "expired"
    TOO_LONG = "too_long"
    NOT_POSITIVE = "not_positive"
    CURRENCY_MISMATCH = "currency_mismatch"
    UNKNOWN_TOKEN = "unknown_token"
    WRONG_METHOD_KIND = "wrong_method_kind"
    NOT_A_CHARGE = "not_a_charge"
    MISMATCH = "mismatch"  # does not match what the processor recorded


class PaymentError(Exception):
    """Base of every exception this layer raises. Nothing was charged or refunded."""


class PaymentInputError(PaymentError, ValueError):
    """A field of a payment request is invalid. The message never contains the card number."""

    def __init__(self, field: PaymentField, problem: InputProblem, detail: str = "") -> None:
        text = f"invalid {field.value}: {problem.value}"
        super().__init__(f"{text} ({detail})" if detail else text)
        self.field = field
        self.problem = problem


class AmountNotPositiveError(PaymentInputError):
    """A zero or negative amount: nothing to charge or refund."""

    def __init__(self, amount: Money) -> None:
        super().__init__(PaymentField.AMOUNT, InputProblem.NOT_POSITIVE, str(amount))
        self.amount = amount


class IdempotencyConflictError(PaymentError, ValueError):
    """An idempotency key was reused for a different request (e.g. another amount)."""

    def __init__(self, key: str, differences: tuple[str, ...]) -> None:
        super().__init__(
            f"idempotency key {key!r} was used before for a different request "
            f"(differs in: {', '.join(differences)})"
        )
        self.key = key
        self.differences = differences


class UnknownPaymentError(PaymentError, LookupError):
    """The processor has no payment with this reference."""

    def __init__(self, processor_ref: str) -> None:
        super().__init__(f"no payment {processor_ref!r} at this processor")
        self.processor_ref = processor_ref


class PaymentStateError(PaymentError):
    """The operation does not fit the payment's state (e.g. refunding a declined charge)."""

    def __init__(self, processor_ref: str, state: str, operation: str) -> None:
        super().__init__(f"cannot {operation} payment {processor_ref!r}: it is {state}")
        self.processor_ref = processor_ref
        self.state = state
        self.operation = operation


class AmountExceedsAvailableError(PaymentError, ValueError):
    """More was asked than is available on the payment."""

    def __init__(self, processor_ref: str, requested: Money, available: Money, what: str) -> None:
        super().__init__(
            f"cannot {what} {requested} on {processor_ref!r}: only {available} is available"
        )
        self.processor_ref = processor_ref
        self.requested = requested
        self.available = available


class CaptureExceedsAuthorizedError(AmountExceedsAvailableError):
    def __init__(self, processor_ref: str, requested: Money, authorized: Money) -> None:
        super().__init__(processor_ref, requested, authorized, "capture")


class RefundExceedsCapturedError(AmountExceedsAvailableError):
    """A refund larger than the captured amount minus the earlier refunds."""

    def __init__(self, processor_ref: str, requested: Money, refundable: Money) -> None:
        super().__init__(processor_ref, requested, refundable, "refund")


class UnknownProcessorError(PaymentError, LookupError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no payment processor named {name!r} (known: {', '.join(known)})")
        self.name = name


# values ------------------------------------------------------------------------------------


def require_positive(amount: Money) -> None:
    """Raise `AmountNotPositiveError` unless `amount` is above zero."""
    if not isinstance(amount, Money):
        raise TypeError(f"amount must be Money, not {type(amount).__name__}")
    if amount.minor <= 0:
        raise AmountNotPositiveError(amount)


@dataclass(frozen=True, slots=True)
class TokenizedMethod:
    """A payment method as the engine may store it: no card number, no CVC, no full IBAN."""

    kind: PaymentMethodKind
    token: str  # opaque processor token; what authorize/charge take
    label: str  # for people, e.g. "Visa •••• 4242"
    brand: str | None = None  # visa, mastercard, amex, discover; None if unknown or not a card
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    country: str | None = None  # ISO 3166 alpha-2 where known (the IBAN's country)


INVOICE_TOKEN = "invoice"


def invoice_method(label: str = "Invoice") -> TokenizedMethod:
    """The payment method "pay by invoice". It needs no processor: the billing service records
    its charges as pending until the bank transfer arrives. Processors refuse its token."""
    return TokenizedMethod(kind=PaymentMethodKind.INVOICE, token=INVOICE_TOKEN, label=label)


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """Money to take from a tokenized method. The amount must be positive."""

    amount: Money
    token: str
    purpose: Purpose
    idempotency_key: str
    description: str = ""

    def __post_init__(self) -> None:
        require_positive(self.amount)
        if not isinstance(self.purpose, Purpose):
            raise TypeError("purpose must be a Purpose")
        if self.purpose is Purpose.REFUND:
            raise PaymentInputError(PaymentField.PURPOSE, InputProblem.NOT_A_CHARGE)
        if not self.token:
            raise PaymentInputError(PaymentField.TOKEN, InputProblem.MISSING)
        if not self.idempotency_key or not self.idempotency_key.strip():
            raise PaymentInputError(PaymentField.IDEMPOTENCY_KEY, InputProblem.MISSING)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What an authorize, capture, charge or settle did.

    `processor_ref` identifies the payment at the processor (keep it: capture, refund and settle
    take it). `amount` is what the operation was about (authorized, captured or charged).
    `decline_code` is set exactly when `status` is DECLINED. `message` is English, for logs.
    """

    status: PaymentStatus
    processor_ref: str
    amount: Money
    decline_code: DeclineCode | None = None
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is PaymentStatus.SUCCEEDED

    @property
    def pending(self) -> bool:
        return self.status is PaymentStatus.PENDING

    @property
    def retryable(self) -> bool:
        """True for a transient failure worth retrying with the same method."""
        return self.decline_code is not None and self.decline_code.retryable


@dataclass(frozen=True, slots=True)
class RefundResult:
    """What a refund did. `charge_ref` is the payment refunded; `message` is English, for logs."""

    status: RefundStatus
    processor_ref: str
    amount: Money
    charge_ref: str
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is RefundStatus.SUCCEEDED


# the interface -----------------------------------------------------------------------------


@runtime_checkable
class PaymentProcessor(Protocol):
    """One payment gateway. The sandbox implements it; a real gateway plugs in by name."""

    @property
    def name(self) -> str:
        """The registry name, stored beside each token and reference (at most 32 characters)."""
        ...

    def tokenize_card(
        self, number: str, exp_month: int, exp_year: int, cvc: str, *, today: date
    ) -> TokenizedMethod:
        """Validate card details (Luhn, 12–19 digits, not expired on `today`, CVC of 3–4 digits)
        and return a token. Raises `PaymentInputError`. The full number is never kept."""
        ...

    def tokenize_bank_account(self, iban: str, holder: str) -> TokenizedMethod:
        """Validate an IBAN and the account holder's name and return a token.
        Raises `PaymentInputError`."""
        ...

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        """Hold the amount on a card without taking it (capture takes it)."""
        ...

    def capture(self, processor_ref: str, amount: Money) -> PaymentResult:
        """Take up to the authorized amount of a successful authorization."""
        ...

    def charge(self, request: PaymentRequest) -> PaymentResult:
        """Authorize and capture in one step. Bank accounts answer PENDING until cleared."""
        ...

    def refund(
        self, processor_ref_of_charge: str, amount: Money, idempotency_key: str
    ) -> RefundResult:
        """Give back part or all of a captured payment; never more than captured minus earlier
        refunds (`RefundExceedsCapturedError`)."""
        ...
