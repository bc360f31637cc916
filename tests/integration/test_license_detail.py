"""The reads behind the admin center's Licenses pages: one product's holders and the people who
could get a license (R1: only for those who may assign), and the over-assignment with its
90-day grace after a reduction at renewal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from abonnement.domain.errors import Code
from abonnement.services import billing_run, licensing, subscriptions

from .conftest import World, refused


def test_license_detail_lists_holders_and_candidates_of_one_product(world: World) -> None:
    app = world.app
    org = world.org()
    la = org.admins["license_admin"]
    app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=4)
    people = world.people(org, 3)
    app.run(la, licensing.assign, org.id, "BUS-STD", people[:2])
    detail = app.read(la, licensing.license_detail, org.id, "BUS-STD")
    assert (detail.license.total, detail.license.assigned, detail.license.available) == (4, 2, 2)
    assert sorted(p.id for p in detail.holders) == sorted(people[:2])
    candidates = {p.id for p in detail.candidates}
    assert people[2] in candidates and not candidates & set(people[:2])
    assert detail.excess is None


def test_r1_only_those_who_may_assign_are_offered_candidates(world: World) -> None:
    app = world.app
    org = world.org()
    app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=4)
    world.people(org, 2)
    for role in ("global_reader", "billing_admin"):
        detail = app.read(org.admins[role], licensing.license_detail, org.id, "BUS-STD")
        assert detail.candidates == []
    for role in ("global_admin", "license_admin", "user_admin"):
        detail = app.read(org.admins[role], licensing.license_detail, org.id, "BUS-STD")
        assert len(detail.candidates) >= 2


def test_license_detail_keeps_tenancy_and_names_an_unknown_product(world: World) -> None:
    app = world.app
    org, other = world.org(), world.org("Fabrikam")
    app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=1)
    err = refused(
        app.read, other.admins["global_admin"], licensing.license_detail, org.id, "BUS-STD"
    )
    assert err.code is Code.NOT_FOUND
    err = refused(
        app.read, org.admins["global_admin"], licensing.license_detail, org.id, "BUS-PREM"
    )
    assert err.code is Code.NOT_FOUND and err.context["id"] == "BUS-PREM"


def test_over_assignment_after_a_reduction_at_renewal_shows_its_grace(world: World) -> None:
    app = world.app
    org = world.org()
    ba, la = org.admins["billing_admin"], org.admins["license_admin"]
    sub_id = app.run(ba, subscriptions.buy, org.id, "std-annual", quantity=10).id
    app.run(la, licensing.assign, org.id, "BUS-STD", world.people(org, 5))
    app.clock.set(datetime(2026, 4, 1, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    app.run(ba, subscriptions.set_quantity, sub_id, 5)  # outside the window: at renewal
    app.run(la, licensing.assign, org.id, "BUS-STD", world.people(org, 3))  # 10 until then
    assert app.read(la, licensing.excesses, org.id) == []
    app.clock.set(datetime(2027, 3, 2, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    app.run(app.operator, billing_run.run)
    [excess] = app.read(la, licensing.excesses, org.id)
    assert (excess.product_sku, excess.over, excess.grace_until) == (
        "BUS-STD",
        3,
        date(2027, 5, 31),
    )
    detail = app.read(la, licensing.license_detail, org.id, "BUS-STD")
    assert detail.excess == excess
    assert (detail.license.total, detail.license.assigned, detail.license.available) == (5, 8, 0)
