"""A double-entry ledger per billing account. Every movement of money is a balanced transaction
of postings; nothing is edited, corrections are new transactions. Balances are derived.

Sign convention: a posting's amount is positive for a debit and negative for a credit, so every
transaction sums to zero. The receivable account holds what the customer owes; below zero it is
credit the customer has with the vendor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from abonnement.domain.money import Money


class Account(StrEnum):
    RECEIVABLE = "receivable"  # the customer's balance with the vendor
    REVENUE = "revenue"
    TAX_PAYABLE = "tax_payable"
    CASH = "cash"  # money moved through the payment processor


class TransactionKind(StrEnum):
    INVOICE = "invoice"  # an invoice or credit note was issued
    PAYMENT = "payment"  # the customer paid
    REFUND = "refund"  # money went back to the customer's payment method


class UnbalancedError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount: Money  # debit > 0, credit < 0


@dataclass(frozen=True, slots=True)
class Transaction:
    kind: TransactionKind
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedError("a transaction has postings")
        currency = self.postings[0].amount.currency
        if any(p.amount.currency != currency for p in self.postings):
            raise UnbalancedError("a transaction is in one currency")
        if sum(p.amount.minor for p in self.postings) != 0:
            raise UnbalancedError("debits and credits must be equal")


def invoice_issued(net: Money, tax: Money) -> Transaction:
    """An invoice (or, with negative amounts, a credit note): the customer owes net + tax."""
    return Transaction(
        TransactionKind.INVOICE,
        (
            Posting(Account.RECEIVABLE, net + tax),
            Posting(Account.REVENUE, -net),
            Posting(Account.TAX_PAYABLE, -tax),
        ),
    )


def payment_received(amount: Money) -> Transaction:
    if amount.minor <= 0:
        raise ValueError("a payment is a positive amount")
    return Transaction(
        TransactionKind.PAYMENT,
        (Posting(Account.CASH, amount), Posting(Account.RECEIVABLE, -amount)),
    )


def refund_paid(amount: Money) -> Transaction:
    if amount.minor <= 0:
        raise ValueError("a refund is a positive amount")
    return Transaction(
        TransactionKind.REFUND,
        (Posting(Account.RECEIVABLE, amount), Posting(Account.CASH, -amount)),
    )


def balance(postings: Iterable[Posting], account: Account, zero: Money) -> Money:
    """The debit balance of an account (negative: a credit balance)."""
    total = zero
    for posting in postings:
        if posting.account is account:
            total = total + posting.amount
    return total
