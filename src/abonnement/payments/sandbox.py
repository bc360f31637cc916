"""The built-in sandbox processor: behaves like a real gateway, moves no real money.

Test cards (any future expiry date, any 3–4 digit CVC; spaces and dashes are allowed):

=====================  ======================================================================
number                 behaviour
=====================  ======================================================================
4242 4242 4242 4242    always succeeds
4000 0000 0000 0002    declined: ``card_declined``
4000 0000 0000 9995    declined: ``insufficient_funds``
4000 0000 0000 0069    declined: ``expired_card`` (the issuer says so; tokenizing still works)
4000 0000 0000 0341    succeeds for purpose ``purchase`` and ``change``; declined
                       (``card_declined``) for ``renewal``: "fails at the next renewal"
4000 0000 0000 0119    declined: ``processing_error``, a transient failure (``retryable``);
                       in the sandbox it fails every time, so dunning can be exercised
any other Luhn-valid   succeeds
12–19 digit number
=====================  ======================================================================

Bank accounts (IBAN, SEPA direct debit style): a charge answers ``pending``; `settle` then
simulates the transfer clearing (or bouncing) and answers the final result:

======================  ====================================================================
IBAN                    behaviour
======================  ====================================================================
NL91 ABNA 0417 1643 00  settles: ``succeeded``
DE89 3704 0044 0532     bounces at settlement: ``declined`` with ``insufficient_funds``
0130 00
any other valid IBAN    settles: ``succeeded``
======================  ====================================================================

Bank accounts cannot be authorized (like real direct debits): `authorize` refuses them.
Invoice methods (`base.invoice_method`) never reach a processor: the billing service records
their charges as pending until paid by transfer; the sandbox refuses the invoice token.

Determinism across processes. The outcome of `authorize`/`charge` is a pure function of
(token, purpose, amount) — see `decide` — and the processor reference is a pure function of the
idempotency key (``sbx_ch_``/``sbx_au_``/``sbx_re_`` + the first 24 hex digits of its SHA-256).
So retrying a charge with the same key in another process, with a fresh ledger, gives the same
result and the same reference. The ledger (`SandboxLedger`, in memory by default) remembers
requests per key (to refuse a reused key with another amount) and the payments (for capture,
settle and the refund totals). Pass a shared or persistent ledger to let several processor
objects see the same payments.

Payments this processor's ledger never saw (made by another process or another processor
object, e.g. each `get_processor()` call makes a new one):

- `refund` of a well-formed sandbox charge reference (``sbx_ch_``/``sbx_au_`` + 24 hex) is
  accepted; only the engine's own records can bound it, since this ledger does not know what
  was captured. With ``SandboxProcessor(strict=True)`` it raises `UnknownPaymentError`, as a
  real gateway would for a charge it does not know.
- `settle` needs ``token=`` and ``amount=`` (the stored method token and the charged amount)
  to decide; the outcome is again a pure function of the token.
- `capture` always needs the ledger that saw the authorization.

Tokens carry only what the sandbox needs: the test behaviour and a random nonce
(``sbx_card_ok_<16 hex>``, ``sbx_bank_nsf_<16 hex>``); never the number, the CVC or the IBAN.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol

from abonnement.domain.money import Money
from abonnement.payments import validation as check
from abonnement.payments.base import (
    INVOICE_TOKEN,
    CaptureExceedsAuthorizedError,
    DeclineCode,
    IdempotencyConflictError,
    InputProblem,
    PaymentField,
    PaymentInputError,
    PaymentMethodKind,
    PaymentRequest,
    PaymentResult,
    PaymentStateError,
    PaymentStatus,
    Purpose,
    RefundExceedsCapturedError,
    RefundResult,
    RefundStatus,
    TokenizedMethod,
    UnknownPaymentError,
    require_positive,
)
from abonnement.payments.validation import (
    BRAND_NAMES,
)

# test data ----------------------------------------------------------------------------------


class CardBehaviour(StrEnum):
    """What a sandbox card does; the value is what its token carries."""

    SUCCEEDS = "ok"
    DECLINED = "dcl"
    INSUFFICIENT_FUNDS = "nsf"
    EXPIRED = "exp"
    DECLINES_RENEWAL = "ren"
    PROCESSING_ERROR = "err"


class BankBehaviour(StrEnum):
    """What a sandbox bank account does at settlement; the value is what its token carries."""

    SETTLES = "ok"
    INSUFFICIENT_FUNDS = "nsf"


@dataclass(frozen=True, slots=True)
class SandboxCard:
    number: str
    behaviour: CardBehaviour
    description: str


@dataclass(frozen=True, slots=True)
class SandboxBankAccount:
    iban: str
    behaviour: BankBehaviour
    description: str


def _cards(*cards: SandboxCard) -> Mapping[str, SandboxCard]:
    return MappingProxyType({card.number: card for card in cards})


TEST_CARDS: Final[Mapping[str, SandboxCard]] = _cards(
    SandboxCard("4242424242424242", CardBehaviour.SUCCEEDS, "always succeeds"),
    SandboxCard("4000000000000002", CardBehaviour.DECLINED, "declined: card_declined"),
    SandboxCard(
        "4000000000009995", CardBehaviour.INSUFFICIENT_FUNDS, "declined: insufficient_funds"
    ),
    SandboxCard("4000000000000069", CardBehaviour.EXPIRED, "declined: expired_card"),
    SandboxCard(
        "4000000000000341",
        CardBehaviour.DECLINES_RENEWAL,
        "succeeds for purchase and change, declined (card_declined) at renewal",
    ),
    SandboxCard(
        "4000000000000119",
        CardBehaviour.PROCESSING_ERROR,
        "declined: processing_error (transient, retryable)",
    ),
)
"""The special test card numbers (digits only). Any other Luhn-valid number succeeds."""

TEST_IBANS: Final[Mapping[str, SandboxBankAccount]] = MappingProxyType(
    {
        account.iban: account
        for account in (
            SandboxBankAccount("NL91ABNA0417164300", BankBehaviour.SETTLES, "settles"),
            SandboxBankAccount(
                "DE89370400440532013000",
                BankBehaviour.INSUFFICIENT_FUNDS,
                "bounces at settlement: insufficient_funds",
            ),
        )
    }
)
"""The special test IBANs (compact form). Any other valid IBAN settles."""

_TOKEN_RE: Final = re.compile(r"sbx_(card|bank)_([a-z]{2,3})_([0-9a-f]{16})")
_PAYMENT_REF_RE: Final = re.compile(r"sbx_(ch|au)_[0-9a-f]{24}")

# references ---------------------------------------------------------------------------------


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:24]


def charge_ref(idempotency_key: str) -> str:
    """The reference `charge` gives the payment with this idempotency key, in any process."""
    return "sbx_ch_" + _digest(idempotency_key)


def authorization_ref(idempotency_key: str) -> str:
    """The reference `authorize` gives the payment with this idempotency key, in any process."""
    return "sbx_au_" + _digest(idempotency_key)


def refund_ref(idempotency_key: str) -> str:
    """The reference `refund` gives the refund with this idempotency key, in any process."""
    return "sbx_re_" + _digest(idempotency_key)


# tokens and the pure decision --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: PaymentMethodKind
    behaviour: CardBehaviour | BankBehaviour


def _parse_token(token: str) -> _Token:
    if token == INVOICE_TOKEN:
        raise PaymentInputError(
            PaymentField.TOKEN,
            InputProblem.WRONG_METHOD_KIND,
            "invoice methods need no processor: record the charge as pending until paid",
        )
    match = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise PaymentInputError(PaymentField.TOKEN, InputProblem.UNKNOWN_TOKEN)
    kind, code = match.group(1), match.group(2)
    try:
        if kind == "card":
            return _Token(PaymentMethodKind.CARD, CardBehaviour(code))
        return _Token(PaymentMethodKind.BANK_ACCOUNT, BankBehaviour(code))
    except ValueError:
        raise PaymentInputError(PaymentField.TOKEN, InputProblem.UNKNOWN_TOKEN) from None


def _card_decline(behaviour: CardBehaviour, purpose: Purpose) -> DeclineCode | None:
    match behaviour:
        case CardBehaviour.SUCCEEDS:
            return None
        case CardBehaviour.DECLINED:
            return DeclineCode.CARD_DECLINED
        case CardBehaviour.INSUFFICIENT_FUNDS:
            return DeclineCode.INSUFFICIENT_FUNDS
        case CardBehaviour.EXPIRED:
            return DeclineCode.EXPIRED_CARD
        case CardBehaviour.DECLINES_RENEWAL:
            return DeclineCode.CARD_DECLINED if purpose is Purpose.RENEWAL else None
        case CardBehaviour.PROCESSING_ERROR:
            return DeclineCode.PROCESSING_ERROR


def decide(token: str, purpose: Purpose, amount: Money) -> tuple[PaymentStatus, DeclineCode | None]:
    """The sandbox's answer to a charge: a pure function of (token, purpose, amount).

    Cards succeed or decline at once; bank accounts answer PENDING (see `settlement`). The amount
    must be positive but does not change the outcome. Raises `PaymentInputError` for an unknown
    or invoice token and for purpose REFUND.
    """
    require_positive(amount)
    if purpose is Purpose.REFUND:
        raise PaymentInputError(PaymentField.PURPOSE, InputProblem.NOT_A_CHARGE)
    parsed = _parse_token(token)
    if isinstance(parsed.behaviour, BankBehaviour):
        return PaymentStatus.PENDING, None
    code = _card_decline(parsed.behaviour, purpose)
    return (PaymentStatus.SUCCEEDED, None) if code is None else (PaymentStatus.DECLINED, code)


def settlement(token: str) -> tuple[PaymentStatus, DeclineCode | None]:
    """How a pending bank charge on this token ends: a pure function of the token."""
    parsed = _parse_token(token)
    if parsed.behaviour is BankBehaviour.INSUFFICIENT_FUNDS:
        return PaymentStatus.DECLINED, DeclineCode.INSUFFICIENT_FUNDS
    return PaymentStatus.SUCCEEDED, None


# the ledger ---------------------------------------------------------------------------------


class PaymentState(StrEnum):
    AUTHORIZED = "authorized"  # held on the card, not yet captured
    CAPTURED = "captured"  # money taken (charged, captured or settled); refundable
    PENDING = "pending"  # bank charge waiting for `settle`
    DECLINED = "declined"  # nothing taken


@dataclass(frozen=True, slots=True)
class SandboxPayment:
    """One payment as the sandbox remembers it."""

    processor_ref: str
    token: str
    purpose: Purpose
    amount: Money  # what was authorized or charged
    state: PaymentState
    captured: Money
    refunded: Money
    decline_code: DeclineCode | None = None

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded


@dataclass(frozen=True, slots=True)
class Remembered:
    """A request seen under an idempotency key and the answer it got."""

    fingerprint: tuple[tuple[str, str], ...]
    result: PaymentResult | RefundResult


class SandboxLedger(Protocol):
    """Where the sandbox keeps its state. Implement it over a database to share it between
    processes; `InMemorySandboxLedger` is the default. Every read-then-write of the processor
    happens inside one `transaction()`."""

    def transaction(self) -> AbstractContextManager[None]: ...

    def recall(self, idempotency_key: str) -> Remembered | None: ...

    def remember(self, idempotency_key: str, remembered: Remembered) -> None: ...

    def payment(self, processor_ref: str) -> SandboxPayment | None: ...

    def save(self, payment: SandboxPayment) -> None: ...


class InMemorySandboxLedger:
    """The sandbox's state in this process's memory, safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._requests: dict[str, Remembered] = {}
        self._payments: dict[str, SandboxPayment] = {}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def transaction(self) -> AbstractContextManager[None]:
        return self._locked()

    def recall(self, idempotency_key: str) -> Remembered | None:
        with self._lock:
            return self._requests.get(idempotency_key)

    def remember(self, idempotency_key: str, remembered: Remembered) -> None:
        with self._lock:
            self._requests[idempotency_key] = remembered

    def payment(self, processor_ref: str) -> SandboxPayment | None:
        with self._lock:
            return self._payments.get(processor_ref)

    def save(self, payment: SandboxPayment) -> None:
        with self._lock:
            self._payments[payment.processor_ref] = payment

    def payments(self) -> list[SandboxPayment]:
        """Every payment seen, oldest first (for tests and the operator's eyes)."""
        with self._lock:
            return list(self._payments.values())


def _key(idempotency_key: str) -> str:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise PaymentInputError(PaymentField.IDEMPOTENCY_KEY, InputProblem.MISSING)
    return idempotency_key


def _money(amount: Money) -> str:
    return f"{amount.minor} {amount.currency.code}"


def _nonce() -> str:
    return secrets.token_hex(8)


# the processor -------------------------------------------------------------------------------


class SandboxProcessor:
    """The sandbox `PaymentProcessor`. See the module docstring for its test cards and IBANs."""

    name = "sandbox"

    def __init__(self, ledger: SandboxLedger | None = None, *, strict: bool = False) -> None:
        self.ledger: SandboxLedger = ledger if ledger is not None else InMemorySandboxLedger()
        self.strict = strict  # refuse refunds of charges this ledger never saw

    # tokenization ---------------------------------------------------------------------------

    def tokenize_card(
        self, number: str, exp_month: int, exp_year: int, cvc: str, *, today: date
    ) -> TokenizedMethod:
        digits = check.card_number(number)
        month, year = check.expiry(exp_month, exp_year, today)
        check.cvc(cvc)
        special = TEST_CARDS.get(digits)
        behaviour = special.behaviour if special is not None else CardBehaviour.SUCCEEDS
        brand = check.card_brand(digits)
        last4 = digits[-4:]
        display = BRAND_NAMES[brand] if brand is not None else "Card"
        return TokenizedMethod(
            kind=PaymentMethodKind.CARD,
            token=f"sbx_card_{behaviour.value}_{_nonce()}",
            label=f"{display} •••• {last4}",
            brand=brand,
            last4=last4,
            exp_month=month,
            exp_year=year,
            country=None,
        )

    def tokenize_bank_account(self, iban: str, holder: str) -> TokenizedMethod:
        compact = check.iban(iban)
        check.holder(holder)
        special = TEST_IBANS.get(compact)
        behaviour = special.behaviour if special is not None else BankBehaviour.SETTLES
        last4 = compact[-4:]
        return TokenizedMethod(
            kind=PaymentMethodKind.BANK_ACCOUNT,
            token=f"sbx_bank_{behaviour.value}_{_nonce()}",
            label=f"IBAN •••• {last4}",
            brand=None,
            last4=last4,
            country=compact[:2],
        )

    # money ----------------------------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        parsed = _parse_token(request.token)
        if parsed.kind is not PaymentMethodKind.CARD:
            raise PaymentInputError(
                PaymentField.TOKEN,
                InputProblem.WRONG_METHOD_KIND,
                "bank accounts are charged, not authorized",
            )
        return self._pay("authorize", request, authorization_ref(_key(request.idempotency_key)))

    def charge(self, request: PaymentRequest) -> PaymentResult:
        return self._pay("charge", request, charge_ref(_key(request.idempotency_key)))

    def _pay(self, operation: str, request: PaymentRequest, ref: str) -> PaymentResult:
        status, code = decide(request.token, request.purpose, request.amount)
        fingerprint = (
            ("operation", operation),
            ("token", request.token),
            ("purpose", request.purpose.value),
            ("amount", _money(request.amount)),
        )
        key = request.idempotency_key
        with self.ledger.transaction():
            replay = self._replay(key, fingerprint)
            if replay is not None:
                assert isinstance(replay, PaymentResult)
                return replay
            zero = Money.zero(request.amount.currency)
            if status is PaymentStatus.SUCCEEDED:
                state = (
                    PaymentState.AUTHORIZED if operation == "authorize" else PaymentState.CAPTURED
                )
            elif status is PaymentStatus.PENDING:
                state = PaymentState.PENDING
            else:
                state = PaymentState.DECLINED
            captured = request.amount if state is PaymentState.CAPTURED else zero
            payment = SandboxPayment(
                processor_ref=ref,
                token=request.token,
                purpose=request.purpose,
                amount=request.amount,
                state=state,
                captured=captured,
                refunded=zero,
                decline_code=code,
            )
            result = PaymentResult(
                status=status,
                processor_ref=ref,
                amount=request.amount,
                decline_code=code,
                message=_message(operation, status, code, request),
            )
            self.ledger.save(payment)
            self.ledger.remember(key, Remembered(fingerprint, result))
            return result

    def _replay(
        self, key: str, fingerprint: tuple[tuple[str, str], ...]
    ) -> PaymentResult | RefundResult | None:
        seen = self.ledger.recall(key)
        if seen is None:
            return None
        if seen.fingerprint != fingerprint:
            before, now = dict(seen.fingerprint), dict(fingerprint)
            differences = tuple(
                name for name in dict.fromkeys([*before, *now]) if before.get(name) != now.get(name)
            )
            raise IdempotencyConflictError(key, differences)
        return seen.result

    def capture(self, processor_ref: str, amount: Money) -> PaymentResult:
        require_positive(amount)
        with self.ledger.transaction():
            payment = self._payment(processor_ref)
            _same_currency(payment, amount)
            if payment.state is PaymentState.CAPTURED and payment.captured == amount:
                return _captured_result(payment, "captured")
            if payment.state is not PaymentState.AUTHORIZED:
                raise PaymentStateError(processor_ref, payment.state.value, "capture")
            if amount > payment.amount:
                raise CaptureExceedsAuthorizedError(processor_ref, amount, payment.amount)
            captured = replace(payment, state=PaymentState.CAPTURED, captured=amount)
            self.ledger.save(captured)
            return _captured_result(captured, "captured")

    def settle(
        self, processor_ref: str, *, token: str | None = None, amount: Money | None = None
    ) -> PaymentResult:
        """Clear (or bounce) a pending bank charge, as the bank would days later.

        Answers SUCCEEDED (the money is captured and refundable) or DECLINED with
        `insufficient_funds` for the failing test IBAN. Settling again answers the same. For a
        charge this ledger never saw, give the stored method `token` and the charged `amount`.
        """
        with self.ledger.transaction():
            payment = self._payment_to_settle(processor_ref, token, amount)
            if _parse_token(payment.token).kind is not PaymentMethodKind.BANK_ACCOUNT:
                raise PaymentStateError(processor_ref, "a card payment", "settle")
            if payment.state is PaymentState.PENDING:
                status, code = settlement(payment.token)
                if status is PaymentStatus.SUCCEEDED:
                    payment = replace(payment, state=PaymentState.CAPTURED, captured=payment.amount)
                else:
                    payment = replace(payment, state=PaymentState.DECLINED, decline_code=code)
                self.ledger.save(payment)
            if payment.state is PaymentState.CAPTURED:
                return _captured_result(payment, "bank transfer cleared")
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                processor_ref=processor_ref,
                amount=payment.amount,
                decline_code=payment.decline_code,
                message=f"bank transfer of {payment.amount} bounced: {payment.decline_code}",
            )

    def _payment_to_settle(
        self, processor_ref: str, token: str | None, amount: Money | None
    ) -> SandboxPayment:
        payment = self.ledger.payment(processor_ref)
        if payment is not None:
            if token is not None and token != payment.token:
                raise PaymentInputError(PaymentField.TOKEN, InputProblem.MISMATCH)
            if amount is not None and amount != payment.amount:
                raise PaymentInputError(PaymentField.AMOUNT, InputProblem.MISMATCH)
            return payment
        if token is None or amount is None or not processor_ref.startswith("sbx_ch_"):
            raise UnknownPaymentError(processor_ref)
        if _PAYMENT_REF_RE.fullmatch(processor_ref) is None:
            raise UnknownPaymentError(processor_ref)
        require_positive(amount)
        zero = Money.zero(amount.currency)
        # A charge made elsewhere: a bank charge is pending until settled.
        return SandboxPayment(
            processor_ref=processor_ref,
            token=token,
            purpose=Purpose.PURCHASE,  # unknown here and irrelevant to settlement
            amount=amount,
            state=PaymentState.PENDING,
            captured=zero,
            refunded=zero,
        )

    def refund(
        self, processor_ref_of_charge: str, amount: Money, idempotency_key: str
    ) -> RefundResult:
        require_positive(amount)
        key = _key(idempotency_key)
        fingerprint = (
            ("operation", "refund"),
            ("charge", processor_ref_of_charge),
            ("amount", _money(amount)),
        )
        with self.ledger.transaction():
            replay = self._replay(key, fingerprint)
            if replay is not None:
                assert isinstance(replay, RefundResult)
                return replay
            payment = self.ledger.payment(processor_ref_of_charge)
            if payment is None:
                return self._refund_unseen(processor_ref_of_charge, amount, key, fingerprint)
            if payment.state is not PaymentState.CAPTURED:
                raise PaymentStateError(processor_ref_of_charge, payment.state.value, "refund")
            _same_currency(payment, amount)
            if amount > payment.refundable:
                raise RefundExceedsCapturedError(
                    processor_ref_of_charge, amount, payment.refundable
                )
            self.ledger.save(replace(payment, refunded=payment.refunded + amount))
            result = RefundResult(
                status=RefundStatus.SUCCEEDED,
                processor_ref=refund_ref(key),
                amount=amount,
                charge_ref=processor_ref_of_charge,
                message=f"refunded {amount} of {payment.captured} on {processor_ref_of_charge}",
            )
            self.ledger.remember(key, Remembered(fingerprint, result))
            return result

    def _refund_unseen(
        self,
        charge: str,
        amount: Money,
        key: str,
        fingerprint: tuple[tuple[str, str], ...],
    ) -> RefundResult:
        """A refund of a charge made by another process: accepted unless strict (see module)."""
        if self.strict or _PAYMENT_REF_RE.fullmatch(charge) is None:
            raise UnknownPaymentError(charge)
        result = RefundResult(
            status=RefundStatus.SUCCEEDED,
            processor_ref=refund_ref(key),
            amount=amount,
            charge_ref=charge,
            message=f"refunded {amount} on {charge} (charge not in this ledger: not bounded here)",
        )
        self.ledger.remember(key, Remembered(fingerprint, result))
        return result

    def _payment(self, processor_ref: str) -> SandboxPayment:
        payment = self.ledger.payment(processor_ref)
        if payment is None:
            raise UnknownPaymentError(processor_ref)
        return payment


def _same_currency(payment: SandboxPayment, amount: Money) -> None:
    if amount.currency != payment.amount.currency:
        raise PaymentInputError(
            PaymentField.AMOUNT,
            InputProblem.CURRENCY_MISMATCH,
            f"payment is in {payment.amount.currency.code}",
        )


def _captured_result(payment: SandboxPayment, what: str) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.SUCCEEDED,
        processor_ref=payment.processor_ref,
        amount=payment.captured,
        message=f"{what}: {payment.captured} on {payment.processor_ref}",
    )


def _message(
    operation: str, status: PaymentStatus, code: DeclineCode | None, request: PaymentRequest
) -> str:
    what = f"{operation} of {request.amount} ({request.purpose.value})"
    if status is PaymentStatus.SUCCEEDED:
        return f"{what} succeeded"
    if status is PaymentStatus.PENDING:
        return f"{what} pending until the bank transfer clears"
    suffix = " (transient: retry later)" if code is DeclineCode.PROCESSING_ERROR else ""
    return f"{what} declined: {code}{suffix}"
