"""Buying and removing licenses by entering the new total (seed 002)."""

from __future__ import annotations

from datetime import timedelta

from abonnement.domain.errors import Code
from abonnement.services import audit, licensing, organizations, productkeys, subscriptions

from .conftest import World, card, refused


def test_r3_new_total_100_to_105_buys_5_and_to_95_removes_10(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    up = app.run(ba, subscriptions.set_quantity, sub.id, 105)
    assert (up.kind, up.previous, up.quantity) == ("buy", 100, 105)
    down = app.run(ba, subscriptions.set_quantity, sub.id, 95)
    assert (down.kind, down.previous, down.quantity) == ("remove", 105, 95)
    same = app.run(ba, subscriptions.set_quantity, sub.id, 95)
    assert same.kind == "unchanged"
    actions = [r.action for r in app.read(app.operator, audit.list_records, org.id)]
    assert actions.count("subscription.quantity.buy") == 1
    assert actions.count("subscription.quantity.remove") == 1


def test_r6_bought_licenses_can_be_assigned_at_once(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=2)
    people = world.people(org, 5)
    app.run(ga, subscriptions.set_quantity, sub.id, 5)
    assert app.run(ga, licensing.assign, org.id, "BUS-STD", people).license.available == 0


def test_r4_cannot_go_below_assigned_and_says_the_counts(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=15)
    app.run(ga, licensing.assign, org.id, "BUS-STD", world.people(org, 12))
    err = refused(app.run, ga, subscriptions.set_quantity, sub.id, 10)
    assert err.code is Code.QUANTITY_BELOW_ASSIGNED
    assert err.context == {"assigned": 12, "requested": 10}
    assert err.status == 409
    assert app.read(ga, subscriptions.get, sub.id).quantity == 15  # nothing changed
    assert app.run(ga, subscriptions.set_quantity, sub.id, 12).quantity == 12


def test_r4_all_licenses_assigned_makes_remove_unavailable(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=3)
    app.run(ga, licensing.assign, org.id, "BUS-STD", world.people(org, 3))
    avail = app.read(ga, subscriptions.availability, sub.id)
    assert avail.can_buy and not avail.can_remove
    assert [r.code for r in avail.remove_reasons] == ["all_licenses_assigned"]


def test_r5_credit_check_pending_blocks_buy_and_remove_until_completed(world: World) -> None:
    app = world.app
    org = world.org(payment="invoice")
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=10)
    avail = app.read(ba, subscriptions.availability, sub.id)
    assert not avail.can_buy and not avail.can_remove
    assert avail.buy_reasons[0].code == "credit_check_pending"
    assert (
        refused(app.run, ba, subscriptions.set_quantity, sub.id, 11).code
        is Code.CREDIT_CHECK_PENDING
    )
    app.run(app.operator, subscriptions.complete_credit_check, sub.id)
    assert app.run(ba, subscriptions.set_quantity, sub.id, 11).quantity == 11


def test_r5_prepaid_by_key_can_add_with_a_card_but_never_remove_prepaid_seats(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    ga = org.admins["global_admin"]
    keys = app.run(app.operator, productkeys.generate, "std-monthly", count=2, licenses=5).keys
    redeemed = app.run(ga, productkeys.redeem, org.id, keys)
    sub = redeemed.subscription
    assert (sub.channel, sub.quantity, sub.prepaid_quantity) == ("prepaid", 10, 10)
    avail = sub.availability
    assert [r.code for r in avail.buy_reasons] == ["prepaid_needs_key_or_payment_method"]
    assert [r.code for r in avail.remove_reasons] == ["prepaid_licenses_cannot_be_removed"]
    err = refused(app.run, ga, subscriptions.set_quantity, sub.id, 12)
    assert err.code is Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD
    app.run(ga, organizations.add_payment_method, org.id, kind="card", **card())
    assert app.run(ga, subscriptions.set_quantity, sub.id, 12).quantity == 12
    assert app.run(ga, subscriptions.set_quantity, sub.id, 10).quantity == 10  # card seats go
    err = refused(app.run, ga, subscriptions.set_quantity, sub.id, 9)
    assert err.code is Code.PREPAID_LICENSES_CANNOT_BE_REMOVED
    assert err.context == {"prepaid": 10}


def test_r5_r10_reseller_and_volume_subscriptions_are_changed_by_their_partner(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    reseller = app.run(
        app.operator,
        subscriptions.buy,
        org.id,
        "std-monthly",
        quantity=10,
        channel="reseller",
        partner_name="Fabrikam Partners",
    )
    volume = app.run(
        app.operator,
        subscriptions.buy,
        org.id,
        "basic-monthly",
        quantity=10,
        channel="volume",
        agreement_number="VL-123",
    )
    assert reseller.availability.buy_reasons[0].code == "managed_by_reseller"
    assert volume.availability.remove_reasons[0].code == "managed_by_volume_licensing"
    assert (
        refused(app.run, ga, subscriptions.set_quantity, reseller.id, 12).code
        is Code.MANAGED_BY_RESELLER
    )
    assert (
        refused(app.run, ga, subscriptions.set_quantity, volume.id, 8).code
        is Code.MANAGED_BY_VOLUME_LICENSING
    )
    # and an organization can't record a partner purchase itself
    err = refused(
        app.run,
        ga,
        subscriptions.buy,
        org.id,
        "std-monthly",
        quantity=1,
        channel="reseller",
        partner_name="x",
    )
    assert err.code is Code.PERMISSION_DENIED


def test_r5_trial_must_be_bought_first(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    trial = app.run(ga, subscriptions.buy, org.id, "std-monthly", trial=True)
    assert (trial.status, trial.quantity) == ("trial", 25)
    assert trial.availability.buy_reasons[0].code == "trial_buy_first"
    assert (
        refused(app.run, ga, subscriptions.set_quantity, trial.id, 30).code is Code.TRIAL_BUY_FIRST
    )
    paid = app.run(ga, subscriptions.convert_trial, trial.id, 30)
    assert (paid.status, paid.quantity, paid.availability.can_buy) == ("active", 30, True)


def test_r5_end_of_sale_stops_buying_but_not_removing(world: World) -> None:
    from abonnement.services import catalog

    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=10)
    app.run(app.operator, catalog.set_end_of_sale, "basic-monthly")
    avail = app.read(ga, subscriptions.availability, sub.id)
    assert not avail.can_buy and avail.can_remove
    assert avail.buy_reasons[0].code == "offer_end_of_sale"
    assert (
        refused(app.run, ga, subscriptions.set_quantity, sub.id, 11).code is Code.OFFER_END_OF_SALE
    )
    assert app.run(ga, subscriptions.set_quantity, sub.id, 9).quantity == 9


def test_windowed_reduction_inside_window_is_immediate_and_later_scheduled_for_renewal(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=20)
    assert app.run(ga, subscriptions.set_quantity, sub.id, 18).quantity == 18  # day 0: in window
    app.clock.advance(timedelta(days=10))  # type: ignore[attr-defined]
    later = app.run(ga, subscriptions.set_quantity, sub.id, 15)
    assert (later.quantity, later.scheduled_quantity, later.scheduled_on) == (18, 15, sub.term_end)
    # a pending change blocks switching plan until it lands (R9 precondition)
    from abonnement.services import cancellation

    err = refused(app.run, ga, cancellation.switch_plan, sub.id, "prem-monthly")
    assert err.code is Code.CHANGE_PENDING
    # turning recurring billing off drops the scheduled change
    off = app.run(ga, subscriptions.set_recurring_billing, sub.id, False)
    assert off.pending_quantity is None and not off.recurring_billing


def test_quantity_out_of_range_and_bad_types_change_nothing(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=5)
    assert (
        refused(app.run, ga, subscriptions.set_quantity, sub.id, 0).code
        is Code.QUANTITY_OUT_OF_RANGE
    )
    assert (
        refused(app.run, ga, subscriptions.set_quantity, sub.id, 10**9).code
        is Code.QUANTITY_OUT_OF_RANGE
    )
    assert refused(app.run, ga, subscriptions.set_quantity, sub.id, True).code is Code.INVALID_INPUT
    assert refused(app.run, ga, subscriptions.buy, org.id, "std-monthly").code is Code.INVALID_INPUT
    assert (
        refused(app.run, ga, subscriptions.buy, org.id, "nope", quantity=1).code is Code.NOT_FOUND
    )
    assert len(app.read(ga, subscriptions.list_for, org.id)) == 1


def test_online_purchase_needs_a_payment_method(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    err = refused(
        app.run, org.admins["global_admin"], subscriptions.buy, org.id, "std-monthly", quantity=1
    )
    assert err.code is Code.PAYMENT_METHOD_REQUIRED
    assert app.read(app.operator, subscriptions.list_for, org.id) == []
