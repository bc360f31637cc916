"""Bought the wrong plan (seeds 000, 001): switch plan, atomically (R9)."""

from __future__ import annotations

from abonnement.domain.errors import Code
from abonnement.services import audit, cancellation, licensing, subscriptions

from .conftest import World, refused


def test_r9_switch_buys_the_right_plan_moves_licenses_and_cancels_the_wrong_one(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    wrong = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=10)
    people = world.people(org, 8)
    app.run(ga, licensing.assign, org.id, "BUS-BASIC", people)
    result = app.run(ga, cancellation.switch_plan, wrong.id, "prem-monthly")
    assert result.old.status == "disabled" and result.old.switched_to_id == result.new.id
    assert (result.new.offer, result.new.quantity, result.new.assigned) == ("prem-monthly", 10, 8)
    assert sorted(result.moved_user_ids) == sorted(people)
    views = {v.product_sku: v for v in app.read(ga, licensing.licenses, org.id)}
    assert views["BUS-PREM"].assigned == 8 and sorted(views["BUS-PREM"].user_ids) == sorted(people)
    assert views["BUS-BASIC"].assigned == 0
    actions = [r.action for r in app.read(ga, audit.list_records, org.id, 5)]
    assert "subscription.switch" in actions


def test_r9_switch_refused_when_the_new_plan_has_fewer_licenses_than_users(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    wrong = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=10)
    app.run(ga, licensing.assign, org.id, "BUS-BASIC", world.people(org, 8))
    err = refused(app.run, ga, cancellation.switch_plan, wrong.id, "prem-monthly", 5)
    assert err.code is Code.SWITCH_TOO_FEW_LICENSES and err.context == {
        "assigned": 8,
        "requested": 5,
    }
    # atomic: nothing was bought, nothing moved, the old plan still runs
    subs = app.read(ga, subscriptions.list_for, org.id)
    assert [(s.offer, s.status, s.assigned) for s in subs] == [("basic-monthly", "active", 8)]


def test_r9_switch_refused_during_credit_check_and_for_the_same_offer(world: World) -> None:
    app = world.app
    org = world.org(payment="invoice")
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=2)
    assert (
        refused(app.run, ga, cancellation.switch_plan, sub.id, "prem-monthly").code
        is Code.CREDIT_CHECK_PENDING
    )
    app.run(app.operator, subscriptions.complete_credit_check, sub.id)
    assert (
        refused(app.run, ga, cancellation.switch_plan, sub.id, "basic-monthly").code
        is Code.SAME_OFFER
    )


def test_r9_user_already_holding_the_new_product_keeps_one_license(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    basic = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=3)
    app.run(ga, subscriptions.buy, org.id, "prem-monthly", quantity=1)
    people = world.people(org, 3)
    app.run(ga, licensing.assign, org.id, "BUS-BASIC", people)
    app.run(ga, licensing.assign, org.id, "BUS-PREM", people[:1])
    result = app.run(ga, cancellation.switch_plan, basic.id, "prem-monthly")
    assert sorted(result.moved_user_ids) == sorted(people[1:])
    prem = next(v for v in app.read(ga, licensing.licenses, org.id) if v.product_sku == "BUS-PREM")
    assert (prem.total, prem.assigned) == (4, 3)
