"""Assigning licenses, adding a user with a license (R2), the Licenses view, deleting users."""

from __future__ import annotations

from abonnement.domain.errors import Code
from abonnement.services import licensing, organizations, subscriptions

from .conftest import World, refused


def test_assign_twenty_users_in_one_call_and_not_twenty_one(world: World) -> None:
    app = world.app
    org = world.org()
    la = org.admins["license_admin"]
    app.run(org.admins["global_admin"], subscriptions.buy, org.id, "std-monthly", quantity=25)
    people = world.people(org, 21)
    err = refused(app.run, la, licensing.assign, org.id, "BUS-STD", people)
    assert err.code is Code.TOO_MANY_USERS and err.context == {"maximum": 20, "requested": 21}
    result = app.run(la, licensing.assign, org.id, "BUS-STD", people[:20])
    assert (result.license.assigned, result.license.available) == (20, 5)
    back = app.run(la, licensing.unassign, org.id, "BUS-STD", people[:20])
    assert back.license.assigned == 0


def test_assignment_is_all_or_nothing_when_licenses_do_not_reach(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=3)
    err = refused(app.run, ga, licensing.assign, org.id, "BUS-STD", world.people(org, 4))
    assert err.code is Code.NO_LICENSES_AVAILABLE
    assert err.context["available"] == 3 and err.context["requested"] == 4
    assert app.read(ga, licensing.licenses, org.id)[0].assigned == 0


def test_licenses_view_aggregates_subscriptions_of_one_product(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    a = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=2)
    b = app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=3)
    app.run(ga, licensing.assign, org.id, "BUS-STD", world.people(org, 5))  # spans both
    [view] = app.read(ga, licensing.licenses, org.id)
    assert (view.product_sku, view.total, view.assigned, view.available) == ("BUS-STD", 5, 5, 0)
    assert sorted(view.subscription_ids) == sorted([a.id, b.id])
    assert app.read(ga, subscriptions.get, a.id).assigned == 2
    assert app.read(ga, subscriptions.get, b.id).assigned == 3


def test_assignment_answers_agree_with_the_licenses_view_across_subscriptions(
    world: World,
) -> None:
    """R4: the counts an assignment answers with (read without listing every holder) are the
    Licenses view's, over several subscriptions of the product, after assigns and unassigns;
    a requested user who already holds a license is found among many holders."""
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=4)
    app.run(ga, subscriptions.buy, org.id, "std-annual", quantity=6)
    people = world.people(org, 10)
    for batch in (people[:3], people[3:7], people[7:9]):
        answer = app.run(ga, licensing.assign, org.id, "BUS-STD", batch)
        [view] = app.read(ga, licensing.licenses, org.id)
        counts = answer.license.model_dump()
        assert counts == view.model_dump(exclude={"user_ids"})
        assert sorted(batch) == answer.user_ids and set(batch) <= set(view.user_ids)
    assert (view.total, view.assigned, view.available) == (10, 9, 1)
    err = refused(app.run, ga, licensing.assign, org.id, "BUS-STD", [people[9], people[5]])
    assert err.code is Code.USER_ALREADY_LICENSED
    back = app.run(ga, licensing.unassign, org.id, "BUS-STD", [people[0], people[8]])
    [view] = app.read(ga, licensing.licenses, org.id)
    assert back.license.model_dump() == view.model_dump(exclude={"user_ids"})
    assert (back.license.assigned, back.license.available) == (7, 3)
    assert "user_ids" not in back.license.model_dump()


def test_a_person_holds_one_license_per_product(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=5)
    [person] = world.people(org, 1)
    app.run(ga, licensing.assign, org.id, "BUS-STD", [person])
    assert (
        refused(app.run, ga, licensing.assign, org.id, "BUS-STD", [person]).code
        is Code.USER_ALREADY_LICENSED
    )
    other = world.people(org, 1)
    assert (
        refused(app.run, ga, licensing.unassign, org.id, "BUS-STD", other).code
        is Code.LICENSE_NOT_ASSIGNED
    )


def test_r2_add_a_user_and_assign_a_license_in_one_step(world: World) -> None:
    app = world.app
    org = world.org()
    ua = org.admins["user_admin"]
    app.run(org.admins["global_admin"], subscriptions.buy, org.id, "std-monthly", quantity=1)
    user = app.run(
        ua,
        licensing.add_user_with_license,
        org.id,
        email="new@contoso.example",
        display_name="Nora New",
        product_skus=["BUS-STD"],
    )
    assert user.licenses == ["BUS-STD"]
    # all or nothing: no license left, so the user isn't added either
    err = refused(
        app.run,
        ua,
        licensing.add_user_with_license,
        org.id,
        email="late@contoso.example",
        display_name="Late",
        product_skus=["BUS-STD"],
    )
    assert err.code is Code.NO_LICENSES_AVAILABLE
    emails = [u.email for u in app.read(ua, organizations.list_users, org.id)]
    assert "new@contoso.example" in emails and "late@contoso.example" not in emails


def test_deleting_a_user_frees_their_licenses_at_once(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=1)
    [person] = world.people(org, 1)
    app.run(ga, licensing.assign, org.id, "BUS-STD", [person])
    assert app.read(ga, subscriptions.get, sub.id).available == 0
    deleted = app.run(org.admins["user_admin"], organizations.delete_user, person)
    assert deleted.licenses == ["BUS-STD"]
    assert app.read(ga, subscriptions.get, sub.id).available == 1
