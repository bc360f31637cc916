"""Money flows on both databases, with hand-checked numbers (R6, R7, R9, R11, R12, R13).

The organization is Dutch (21 % VAT, EUR); Business Standard costs €12.50 per license per month.
The clock starts on 2 March 2026, so the first period runs to 2 April: 31 days.
"""

from __future__ import annotations

from datetime import date, timedelta

from abonnement.app import Abonnement
from abonnement.domain.errors import Code
from abonnement.services import cancellation, invoices, organizations, productkeys, subscriptions
from abonnement.services.schemas import InvoiceView

from .conftest import Org, World, card, refused


def lines(invoice: InvoiceView) -> list[tuple[str, str, str, int, int]]:
    return [
        (ln.kind, ln.start.isoformat(), ln.end.isoformat(), ln.quantity, ln.amount)
        for ln in invoice.lines
    ]


def advance(app: Abonnement, days: int) -> None:
    app.clock.advance(timedelta(days=days))  # type: ignore[attr-defined]


def receivable(world: World, org: Org) -> int:
    return world.app.read(world.op, invoices.balance, org.id).receivable


def test_r6_buying_licenses_charges_at_once_for_the_rest_of_the_period(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    [first] = app.read(ba, invoices.list_invoices, org.id)
    assert lines(first) == [("charge", "2026-03-02", "2026-04-02", 100, 125000)]
    assert (first.subtotal, first.tax, first.total, first.reason) == (
        125000,
        26250,
        151250,
        "purchase",
    )
    advance(app, 10)  # 12 March: 21 of 31 days left
    app.run(ba, subscriptions.set_quantity, sub.id, 105)
    change = app.read(ba, invoices.list_invoices, org.id)[-1]
    assert lines(change) == [("charge", "2026-03-12", "2026-04-02", 5, 4234)]  # 5×1250×21/31
    assert (change.tax, change.total) == (889, 5123)
    payments = app.read(ba, invoices.list_payments, org.id)
    assert [(p.kind, p.status, p.amount) for p in payments] == [
        ("charge", "succeeded", 151250),
        ("charge", "succeeded", 5123),
    ]
    assert receivable(world, org) == 0
    assert first.number < change.number


def test_r7_the_next_statement_reverses_and_restates_the_period(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    advance(app, 10)
    app.run(ba, subscriptions.set_quantity, sub.id, 105)
    statement = app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    assert statement is not None
    assert lines(statement) == [
        ("reversal", "2026-03-02", "2026-04-02", 100, -125000),
        ("reversal", "2026-03-12", "2026-04-02", 5, -4234),
        ("charge", "2026-03-02", "2026-03-12", 100, 40323),  # 100 × 1250 × 10/31
        ("charge", "2026-03-12", "2026-04-02", 105, 88911),  # 105 × 1250 × 21/31
        ("charge", "2026-04-02", "2026-05-02", 105, 131250),  # April, in advance
    ]
    assert (statement.subtotal, statement.tax, statement.total) == (131250, 27563, 158813)
    assert receivable(world, org) == 0


def test_r12_removed_licenses_are_credited_on_the_next_bill(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    advance(app, 10)
    app.run(ba, subscriptions.set_quantity, sub.id, 95)
    assert len(app.read(ba, invoices.list_invoices, org.id)) == 1  # nothing until the next bill
    statement = app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    assert statement is not None
    march = [ln.amount for ln in statement.lines if ln.period_start == date(2026, 3, 2)]
    assert march == [-125000, 40323, 80444]  # −5 licenses × 21/31 of a month = −€42.33
    assert statement.subtotal == 118750 - 4233


def test_r11_r13_cancelling_gives_a_final_credit_refunded_within_the_next_cycle(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=10)
    advance(app, 15)  # 17 March: 15 days used
    app.run(ga, cancellation.cancel, sub.id)
    final = app.read(ga, invoices.list_invoices, org.id)[-1]
    assert final.kind == "credit_note" and final.reason == "cancellation"
    assert lines(final) == [
        ("reversal", "2026-03-02", "2026-04-02", 10, -12500),
        ("charge", "2026-03-02", "2026-03-17", 10, 6048),  # 10 × 1250 × 15/31
    ]
    assert (final.tax, final.total) == (-1355, -7807)
    assert receivable(world, org) == -7807  # credit, due on the next billing date
    assert app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2)) is None
    refunds = [p for p in app.read(ga, invoices.list_payments, org.id) if p.kind == "refund"]
    assert [(r.status, r.amount) for r in refunds] == [("succeeded", 7807)]
    assert receivable(world, org) == 0


def test_r8_windowed_cancellation_inside_the_window_is_refunded_at_once(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=2)
    advance(app, 3)
    app.run(ga, cancellation.cancel, sub.id)
    refunds = [p for p in app.read(ga, invoices.list_payments, org.id) if p.kind == "refund"]
    # 2 × €150 × 362/365 days back, plus its VAT
    assert sum(r.amount for r in refunds) == -app.read(ga, invoices.list_invoices, org.id)[-1].total
    assert receivable(world, org) == 0


def test_r9_switching_charges_the_days_used_and_credits_the_rest(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    wrong = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=10)  # €6.00
    advance(app, 10)
    app.run(ga, cancellation.switch_plan, wrong.id, "prem-monthly")  # €22.00
    credit, bought = app.read(ga, invoices.list_invoices, org.id)[-2:]
    assert (credit.kind, credit.reason) == ("credit_note", "switch")
    assert [ln.amount for ln in credit.lines] == [-6000, 1935]  # 10 × 600 × 10/31 used
    assert (credit.total, bought.total) == (-4919, 26620)
    charges = [p.amount for p in app.read(ga, invoices.list_payments, org.id) if p.kind == "charge"]
    assert charges == [7260, 26620 - 4919]  # the credit pays part of the new plan
    assert receivable(world, org) == 0


def test_r5_prepaid_seats_are_never_charged_and_extra_card_seats_are(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    keys = app.run(app.operator, productkeys.generate, "std-monthly", count=1, licenses=10).keys
    sub = app.run(ga, productkeys.redeem, org.id, keys).subscription
    assert app.read(ga, invoices.list_invoices, org.id) == []
    app.run(ga, subscriptions.set_quantity, sub.id, 12)
    [extra] = app.read(ga, invoices.list_invoices, org.id)
    assert [(ln.quantity, ln.amount) for ln in extra.lines] == [(2, 2500)]


def test_a_declined_card_leaves_the_licenses_unbought_and_says_why(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=5)
    numbers = [i.number for i in app.read(ga, invoices.list_invoices, org.id)]
    app.run(ga, organizations.add_payment_method, org.id, kind="card", **card("4000000000009995"))
    err = refused(app.run, ga, subscriptions.set_quantity, sub.id, 8)
    assert err.code is Code.PAYMENT_INSUFFICIENT_FUNDS and "EUR" in str(err.context["amount"])
    assert app.read(ga, subscriptions.get, sub.id).quantity == 5
    assert [i.number for i in app.read(ga, invoices.list_invoices, org.id)] == numbers
    app.run(ga, organizations.add_payment_method, org.id, kind="card", **card("4000000000000002"))
    err = refused(app.run, ga, subscriptions.buy, org.id, "basic-monthly", quantity=1)
    assert err.code is Code.PAYMENT_DECLINED
    assert len(app.read(ga, subscriptions.list_for, org.id)) == 1
    # the next invoice takes the next number: no gap from the declined attempts
    other = world.org("Other")
    app.run(other.admins["global_admin"], subscriptions.buy, other.id, "std-monthly", quantity=1)
    [fresh] = app.read(world.op, invoices.list_invoices, other.id)
    assert int(fresh.number.split("-")[1]) == int(numbers[-1].split("-")[1]) + 1


def test_paying_by_invoice_leaves_the_invoice_open_during_the_credit_check(world: World) -> None:
    app = world.app
    org = world.org(payment="invoice")
    ga = org.admins["global_admin"]
    app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=4)
    [inv] = app.read(ga, invoices.list_invoices, org.id)
    assert inv.due_date == inv.issue_date + timedelta(days=30)  # net 30
    assert [(p.status, p.amount) for p in app.read(ga, invoices.list_payments, org.id)] == [
        ("pending", inv.total)
    ]
    assert receivable(world, org) == inv.total


def test_the_preview_equals_the_real_change_and_changes_nothing(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=100)
    advance(app, 10)
    before = app.read(ga, invoices.list_invoices, org.id)
    preview = app.read(ga, invoices.preview, org.id, subscriptions.set_quantity, sub.id, 105)
    assert app.read(ga, invoices.list_invoices, org.id) == before
    assert app.read(ga, subscriptions.get, sub.id).quantity == 100
    assert preview.next_billing_date == date(2026, 4, 2)
    app.run(ga, subscriptions.set_quantity, sub.id, 105)
    real_now = app.read(ga, invoices.list_invoices, org.id)[-1]
    assert [lines(i) for i in preview.now] == [lines(real_now)]
    assert preview.charged_now == real_now.total == 5123
    real_next = app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    assert preview.next_invoice is not None and real_next is not None
    assert lines(preview.next_invoice) == lines(real_next)
    assert preview.next_invoice.total == real_next.total


def test_the_ledger_balances_and_issued_invoices_are_never_edited(world: World) -> None:
    from sqlalchemy import func, select

    from abonnement.store import models as m

    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=30)
    advance(app, 5)
    app.run(ga, subscriptions.set_quantity, sub.id, 40)
    advance(app, 5)
    app.run(ga, subscriptions.set_quantity, sub.id, 20)
    first = app.read(ga, invoices.list_invoices, org.id)
    app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    advance(app, 40)
    app.run(ga, cancellation.cancel, sub.id)
    app.run(app.operator, invoices.run_statement, org.id, date(2026, 5, 2))
    after = app.read(ga, invoices.list_invoices, org.id)
    assert after[: len(first)] == first  # nothing issued was changed
    with app.engine.connect() as conn:
        total = conn.scalar(select(func.sum(m.LedgerEntry.amount_minor)))
        per_tx = conn.execute(
            select(m.LedgerEntry.transaction, func.sum(m.LedgerEntry.amount_minor)).group_by(
                m.LedgerEntry.transaction
            )
        ).all()
    assert total == 0
    assert all(amount == 0 for _, amount in per_tx)
    assert receivable(world, org) == 0


def test_a_reactivated_subscription_is_billed_again_from_the_day_it_comes_back(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=3)
    advance(app, 5)
    app.run(ga, cancellation.cancel, sub.id)  # 7 March: 5 days used
    advance(app, 10)
    app.run(ga, subscriptions.reactivate, sub.id)  # 17 March
    back = app.read(ga, invoices.list_invoices, org.id)[-1]
    assert [(ln.kind, ln.start, ln.quantity) for ln in back.lines] == [
        ("charge", date(2026, 3, 17), 3)
    ]
    app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    assert receivable(world, org) == 0


def test_a_renewal_declined_on_the_default_card_is_paid_by_the_backup(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    ga = org.admins["global_admin"]
    app.run(ga, organizations.add_payment_method, org.id, kind="card", **card())
    app.run(ga, organizations.add_payment_method, org.id, kind="card", **card("4000000000000341"))
    app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=2)  # 0341 pays a purchase
    renewal = app.run(app.operator, invoices.run_statement, org.id, date(2026, 4, 2))
    assert renewal is not None
    charges = [(p.status, p.decline_code) for p in app.read(ga, invoices.list_payments, org.id)]
    assert charges[-2:] == [("declined", "card_declined"), ("succeeded", None)]
    assert receivable(world, org) == 0


def test_billing_account_details_and_vendor_tax_settings(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    account = app.read(ba, invoices.get_billing_account, org.id)
    assert (account.tax_rate_bp, account.payment_terms_days, account.currency) == (2100, 30, "EUR")
    app.run(ba, invoices.update_billing_account, org.id, bill_to_address="Keizersgracht 1")
    assert refused(app.run, ba, invoices.update_billing_account, org.id, tax_rate_bp=0).code is (
        Code.PERMISSION_DENIED
    )
    app.run(app.operator, invoices.update_billing_account, org.id, payment_terms_days=14)
    app.run(ba, subscriptions.buy, org.id, "basic-monthly", quantity=1)
    [inv] = app.read(ba, invoices.list_invoices, org.id)
    assert inv.due_date == inv.issue_date + timedelta(days=14)
    assert inv.bill_to["address"] == "Keizersgracht 1"


def test_windowed_reduction_inside_the_window_is_refunded_at_once(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=10)
    advance(app, 2)
    app.run(ga, subscriptions.set_quantity, sub.id, 8)
    credit = app.read(ga, invoices.list_invoices, org.id)[-1]
    assert credit.kind == "credit_note" and credit.reason == "change"
    refunds = [p.amount for p in app.read(ga, invoices.list_payments, org.id) if p.kind == "refund"]
    assert refunds == [-credit.total]
    assert receivable(world, org) == 0


def test_previewing_a_cancellation_shows_the_final_credit_without_cancelling(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=10)
    advance(app, 15)
    preview = app.read(ga, invoices.preview, org.id, cancellation.cancel, sub.id)
    assert [i.total for i in preview.now] == [-7807]
    assert app.read(ga, subscriptions.get, sub.id).status == "active"
    app.run(ga, cancellation.cancel, sub.id)
    assert app.read(ga, invoices.list_invoices, org.id)[-1].total == -7807
