"""Payments: one interface (`PaymentProcessor`), processors found by name.

`get_processor()` gives the built-in sandbox; a real gateway plugs in with
`register_processor("name", factory)` and is then chosen by that name (e.g. from settings).
"""

from __future__ import annotations

from collections.abc import Callable

from abonnement.payments.base import (
    INVOICE_TOKEN,
    AmountExceedsAvailableError,
    AmountNotPositiveError,
    CaptureExceedsAuthorizedError,
    DeclineCode,
    IdempotencyConflictError,
    InputProblem,
    PaymentError,
    PaymentField,
    PaymentInputError,
    PaymentMethodKind,
    PaymentProcessor,
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
    UnknownProcessorError,
    invoice_method,
)
from abonnement.payments.sandbox import (
    TEST_CARDS,
    TEST_IBANS,
    InMemorySandboxLedger,
    SandboxLedger,
    SandboxProcessor,
)

ProcessorFactory = Callable[..., PaymentProcessor]

_FACTORIES: dict[str, ProcessorFactory] = {"sandbox": SandboxProcessor}


def register_processor(name: str, factory: ProcessorFactory, *, replace: bool = False) -> None:
    """Make a processor available under `name` (at most 32 characters, as stored)."""
    if not name or len(name) > 32:
        raise ValueError("a processor name has 1 to 32 characters")
    if name in _FACTORIES and not replace:
        raise ValueError(f"a payment processor named {name!r} is already registered")
    _FACTORIES[name] = factory


def processor_names() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def get_processor(name: str = "sandbox", **options: object) -> PaymentProcessor:
    """A new processor of the kind registered as `name`; `options` go to its factory (the
    sandbox takes `ledger=`). Raises `UnknownProcessorError` for a name nobody registered."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownProcessorError(name, processor_names())
    return factory(**options)


__all__ = [
    "INVOICE_TOKEN",
    "TEST_CARDS",
    "TEST_IBANS",
    "AmountExceedsAvailableError",
    "AmountNotPositiveError",
    "CaptureExceedsAuthorizedError",
    "DeclineCode",
    "IdempotencyConflictError",
    "InMemorySandboxLedger",
    "InputProblem",
    "PaymentError",
    "PaymentField",
    "PaymentInputError",
    "PaymentMethodKind",
    "PaymentProcessor",
    "PaymentRequest",
    "PaymentResult",
    "PaymentStateError",
    "PaymentStatus",
    "ProcessorFactory",
    "Purpose",
    "RefundExceedsCapturedError",
    "RefundResult",
    "RefundStatus",
    "SandboxLedger",
    "SandboxProcessor",
    "TokenizedMethod",
    "UnknownPaymentError",
    "UnknownProcessorError",
    "get_processor",
    "invoice_method",
    "processor_names",
    "register_processor",
]
