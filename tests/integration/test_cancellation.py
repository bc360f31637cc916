"""Cancelling (seed 004), recurring billing and reactivation."""

from __future__ import annotations

from datetime import timedelta

from abonnement.domain.errors import Code
from abonnement.services import cancellation, licensing, subscriptions

from .conftest import World, refused


def test_r14_a_trial_has_nothing_to_cancel(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    trial = app.run(ga, subscriptions.buy, org.id, "std-monthly", trial=True)
    err = refused(app.run, ga, cancellation.cancel, trial.id)
    assert err.code is Code.TRIAL_NOTHING_TO_CANCEL
    assert err.remedy and "payment method" in err.remedy
    assert app.read(ga, subscriptions.get, trial.id).status == "trial"


def test_r15_cancel_online_with_25_assigned(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=30)
    people = world.people(org, 25)
    app.run(ga, licensing.assign, org.id, "BUS-STD", people[:20])
    app.run(ga, licensing.assign, org.id, "BUS-STD", people[20:])
    done = app.run(ga, cancellation.cancel, sub.id)
    assert (done.outcome, done.prorated_return, done.subscription.status) == (
        "now",
        True,
        "disabled",
    )


def test_r15_more_than_25_assigned_is_refused_and_a_callback_can_be_requested(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=30)
    people = world.people(org, 26)
    app.run(app.operator, licensing.assign, org.id, "BUS-STD", people[:20])
    app.run(app.operator, licensing.assign, org.id, "BUS-STD", people[20:])
    err = refused(app.run, ba, cancellation.cancel, sub.id)
    assert err.code is Code.OVER_ONLINE_CANCEL_LIMIT
    assert err.context == {"assigned": 26, "limit": 25}
    assert app.read(ba, subscriptions.get, sub.id).status == "active"
    callback = app.run(
        ba, cancellation.request_callback, sub.id, phone="+47 22 00 00 00", note="Please cancel"
    )
    queue = app.read(app.operator, cancellation.list_callbacks)
    assert [c.id for c in queue] == [callback.id]
    assert queue[0].subscription_id == sub.id
    # organizations can't read the vendor's queue
    assert refused(app.read, ba, cancellation.list_callbacks).code is Code.PERMISSION_DENIED
    app.run(app.operator, cancellation.close_callback, callback.id)
    assert app.read(app.operator, cancellation.list_callbacks) == []
    # removing one user brings it under the limit
    app.run(app.operator, licensing.unassign, org.id, "BUS-STD", people[:1])
    assert app.run(ba, cancellation.cancel, sub.id).outcome == "now"


def test_r8_windowed_offer_cancels_now_inside_the_window_and_at_term_end_after(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    early = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=5)
    late = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=5)
    app.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
    inside = app.run(ga, cancellation.cancel, early.id)
    assert (inside.outcome, inside.subscription.status, inside.prorated_return) == (
        "now",
        "disabled",
        True,
    )
    app.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]  # day 7: window closed
    after = app.run(ga, cancellation.cancel, late.id)
    assert (after.outcome, after.ends_on, after.prorated_return) == (
        "at_term_end",
        late.term_end,
        False,
    )
    assert after.subscription.status == "active" and not after.subscription.recurring_billing
    assert refused(app.run, ga, cancellation.cancel, late.id).code is Code.ALREADY_ENDING


def test_r10_reseller_and_volume_cancellations_are_refused_with_their_remedy(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    reseller = app.run(
        app.operator,
        subscriptions.buy,
        org.id,
        "std-monthly",
        quantity=3,
        channel="reseller",
        partner_name="Partner AS",
    )
    volume = app.run(
        app.operator,
        subscriptions.buy,
        org.id,
        "std-monthly",
        quantity=3,
        channel="volume",
        agreement_number="VL-9",
    )
    err = refused(app.run, ga, cancellation.cancel, reseller.id)
    assert err.code is Code.MANAGED_BY_RESELLER and "partner" in (err.remedy or "")
    err = refused(app.run, ga, cancellation.cancel, volume.id)
    assert err.code is Code.MANAGED_BY_VOLUME_LICENSING and "Volume Licensing" in (err.remedy or "")
    assert (
        refused(app.run, ga, subscriptions.set_recurring_billing, volume.id, False).code
        is Code.MANAGED_BY_VOLUME_LICENSING
    )


def test_recurring_billing_off_and_on_and_reactivation(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=4)
    assert not app.run(ba, subscriptions.set_recurring_billing, sub.id, False).recurring_billing
    assert app.run(ba, subscriptions.set_recurring_billing, sub.id, True).recurring_billing
    cancelled = app.run(ba, cancellation.cancel, sub.id).subscription
    assert cancelled.status == "disabled"
    assert (
        refused(app.run, ba, subscriptions.set_quantity, sub.id, 5).code
        is Code.SUBSCRIPTION_NOT_ACTIVE
    )
    back = app.run(ba, subscriptions.reactivate, sub.id)
    assert back.status == "active" and back.recurring_billing
    assert refused(app.run, ba, subscriptions.reactivate, sub.id).code is Code.CANNOT_REACTIVATE


def test_disabled_subscription_licenses_cannot_be_assigned(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=4)
    app.run(ga, cancellation.cancel, sub.id)
    err = refused(app.run, ga, licensing.assign, org.id, "BUS-BASIC", world.people(org, 1))
    assert err.code is Code.ASSIGNMENT_NOT_ALLOWED


def test_trial_extends_once_within_its_last_15_days(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    trial = app.run(ga, subscriptions.buy, org.id, "std-monthly", trial=True)
    assert (
        refused(app.run, ga, subscriptions.extend_trial, trial.id).code
        is Code.TRIAL_EXTENSION_UNAVAILABLE
    )
    app.clock.advance(timedelta(days=16))  # type: ignore[attr-defined]
    extended = app.run(ga, subscriptions.extend_trial, trial.id)
    assert extended.term_end == trial.term_end + timedelta(days=30)
    app.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    assert (
        refused(app.run, ga, subscriptions.extend_trial, trial.id).code
        is Code.TRIAL_EXTENSION_UNAVAILABLE
    )
