"""The ledger balances; invoice totals tax once per invoice, half up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain.currencies import currency
from abonnement.domain.invoices import due_date, tax_rate_for, totals
from abonnement.domain.ledger import (
    Account,
    Posting,
    Transaction,
    TransactionKind,
    UnbalancedError,
    balance,
    invoice_issued,
    payment_received,
    refund_paid,
)
from abonnement.domain.money import Money

NOK = currency("NOK")


def test_norwegian_vat_on_an_invoice_is_25_percent_rounded_once() -> None:
    t = totals([Money(40323, NOK), Money(88911, NOK), Money(-125000, NOK)], Decimal("0.25"), NOK)
    assert (t.subtotal.minor, t.tax.minor, t.total.minor) == (4234, 1059, 5293)  # 1058.5 -> 1059


def test_a_credit_note_has_negative_tax_rounded_away_from_zero() -> None:
    t = totals([Money(-4233, NOK)], Decimal("0.25"), NOK)
    assert (t.tax.minor, t.total.minor) == (-1058, -5291)  # -1058.25 -> -1058


def test_rates_and_terms() -> None:
    assert tax_rate_for("no") == Decimal("0.25")
    assert tax_rate_for("NL") == Decimal("0.21")
    assert tax_rate_for("DK") == Decimal("0.25")
    assert tax_rate_for("SE") == 0
    assert tax_rate_for("SE", {"SE": Decimal("0.25")}) == Decimal("0.25")
    assert due_date(date(2026, 3, 1)) == date(2026, 3, 31)
    with pytest.raises(ValueError, match="tax rate"):
        totals([], Decimal("1.5"), NOK)


def test_a_transaction_must_balance_in_one_currency() -> None:
    with pytest.raises(UnbalancedError):
        Transaction(TransactionKind.PAYMENT, (Posting(Account.CASH, Money(1, NOK)),))
    with pytest.raises(UnbalancedError):
        Transaction(
            TransactionKind.PAYMENT,
            (
                Posting(Account.CASH, Money(1, NOK)),
                Posting(Account.RECEIVABLE, Money.of(-1, "EUR")),
            ),
        )


def test_invoice_paid_then_credit_refunded_leaves_nothing_owed() -> None:
    book = [
        invoice_issued(Money(10000, NOK), Money(2500, NOK)),
        payment_received(Money(12500, NOK)),
        invoice_issued(Money(-4000, NOK), Money(-1000, NOK)),  # credit note
        refund_paid(Money(5000, NOK)),
    ]
    postings = [p for t in book for p in t.postings]
    zero = Money(0, NOK)
    assert balance(postings, Account.RECEIVABLE, zero) == zero
    assert balance(postings, Account.CASH, zero) == Money(7500, NOK)
    assert balance(postings, Account.REVENUE, zero) == Money(-6000, NOK)
    assert balance(postings, Account.TAX_PAYABLE, zero) == Money(-1500, NOK)


amounts = st.integers(min_value=-(10**9), max_value=10**9)


@settings(max_examples=1000, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["invoice", "payment", "refund"]),
            amounts,
            st.sampled_from(["0", "0.21", "0.25"]),
        ),
        max_size=40,
    )
)
def test_the_ledger_always_balances(events: list[tuple[str, int, str]]) -> None:
    book = []
    for kind, amount, rate in events:
        if kind == "invoice":
            t = totals([Money(amount, NOK)], Decimal(rate), NOK)
            book.append(invoice_issued(t.subtotal, t.tax))
        elif amount > 0:
            book.append(
                (payment_received if kind == "payment" else refund_paid)(Money(amount, NOK))
            )
    postings = [p for t in book for p in t.postings]
    zero = Money(0, NOK)
    assert sum((balance(postings, a, zero) for a in Account), zero) == zero
