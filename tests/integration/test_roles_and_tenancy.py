"""R1: who may do what, enforced by the services; and no caller ever crosses organizations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from abonnement.domain.errors import AbonnementError, Code
from abonnement.domain.productkeys import generate as generate_key
from abonnement.domain.roles import Role
from abonnement.services import (
    audit,
    cancellation,
    licensing,
    organizations,
    productkeys,
    subscriptions,
)
from abonnement.services.context import Actor

from .conftest import Org, World, card

Operation = Callable[[World, Org, Actor], object]


def _setup(world: World, org: Org) -> tuple[int, int]:
    sub = world.app.run(world.op, subscriptions.buy, org.id, "std-monthly", quantity=30)
    [person] = world.people(org, 1)
    return sub.id, person


def op_buy_licenses(w: World, org: Org, actor: Actor) -> object:
    sub, _ = _setup(w, org)
    return w.app.run(actor, subscriptions.set_quantity, sub, 31)


def op_remove_licenses(w: World, org: Org, actor: Actor) -> object:
    sub, _ = _setup(w, org)
    return w.app.run(actor, subscriptions.set_quantity, sub, 29)


def op_cancel(w: World, org: Org, actor: Actor) -> object:
    sub, _ = _setup(w, org)
    return w.app.run(actor, cancellation.cancel, sub)


def op_switch_plan(w: World, org: Org, actor: Actor) -> object:
    sub, _ = _setup(w, org)
    return w.app.run(actor, cancellation.switch_plan, sub, "prem-monthly")


def op_recurring_billing(w: World, org: Org, actor: Actor) -> object:
    sub, _ = _setup(w, org)
    return w.app.run(actor, subscriptions.set_recurring_billing, sub, False)


def op_payment_method(w: World, org: Org, actor: Actor) -> object:
    return w.app.run(
        actor, organizations.add_payment_method, org.id, kind="card", **card("5555555555554444")
    )


def op_redeem_key(w: World, org: Org, actor: Actor) -> object:
    keys = w.app.run(w.op, productkeys.generate, "std-monthly", count=1, licenses=5).keys
    return w.app.run(actor, productkeys.redeem, org.id, keys)


def op_assign(w: World, org: Org, actor: Actor) -> object:
    _, person = _setup(w, org)
    return w.app.run(actor, licensing.assign, org.id, "BUS-STD", [person])


def op_add_user(w: World, org: Org, actor: Actor) -> object:
    return w.app.run(
        actor, organizations.add_user, org.id, email="plain@example.net", display_name="Plain"
    )


def op_delete_user(w: World, org: Org, actor: Actor) -> object:
    [person] = w.people(org, 1)
    return w.app.run(actor, organizations.delete_user, person)


def op_grant_admin_role(w: World, org: Org, actor: Actor) -> object:
    [person] = w.people(org, 1)
    return w.app.run(actor, organizations.set_roles, person, grant=["billing_admin"])


def op_read_subscriptions(w: World, org: Org, actor: Actor) -> object:
    _setup(w, org)
    return w.app.read(actor, subscriptions.list_for, org.id)


def op_read_licenses(w: World, org: Org, actor: Actor) -> object:
    _setup(w, org)
    return w.app.read(actor, licensing.licenses, org.id)


def op_read_users(w: World, org: Org, actor: Actor) -> object:
    return w.app.read(actor, organizations.list_users, org.id)


VALID_KEY = generate_key(lambda n: 0)

G, B, L, U, R = (r.value for r in Role)
# The R1 matrix of DESIGN.md, as operations: which roles may run each.
MATRIX: dict[Operation, set[str]] = {
    op_buy_licenses: {G, B},
    op_remove_licenses: {G, B},
    op_cancel: {G, B},
    op_switch_plan: {G, B},
    op_recurring_billing: {G, B},
    op_payment_method: {G, B},
    op_redeem_key: {G, B},
    op_assign: {G, L, U},
    op_add_user: {G, U},
    op_delete_user: {G, U},
    op_grant_admin_role: {G},
    op_read_subscriptions: {G, B, R},
    op_read_licenses: {G, B, L, U, R},
    op_read_users: {G, U, R},
}


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_r1_role_matrix(world: World, role: str) -> None:
    mismatches = []
    for operation, permitted in MATRIX.items():
        org = world.org(f"Org{operation.__name__.replace('_', '')}{role.replace('_', '')}")
        actor = org.admins[role]
        try:
            operation(world, org, actor)
            outcome = True
        except AbonnementError as exc:
            assert exc.code is Code.PERMISSION_DENIED, (operation.__name__, exc.code)
            outcome = False
        if outcome != (role in permitted):
            mismatches.append((operation.__name__, "allowed" if outcome else "refused"))
    assert mismatches == []


def test_r1_user_admin_cannot_delete_an_admin_or_grant_roles(world: World) -> None:
    org = world.org()
    ua = org.admins["user_admin"]
    billing_admin = org.admins["billing_admin"]
    assert billing_admin.user_id is not None
    with pytest.raises(AbonnementError) as info:
        world.app.run(ua, organizations.delete_user, billing_admin.user_id)
    assert info.value.code is Code.PERMISSION_DENIED
    with pytest.raises(AbonnementError) as info:
        world.app.run(
            ua,
            organizations.add_user,
            org.id,
            email="boss@x.example",
            display_name="Boss",
            roles=["global_admin"],
        )
    assert info.value.code is Code.PERMISSION_DENIED


def test_the_last_global_admin_stays(world: World) -> None:
    org = world.org()
    ga = org.admins["global_admin"]
    assert ga.user_id is not None
    with pytest.raises(AbonnementError) as info:
        world.app.run(ga, organizations.set_roles, ga.user_id, revoke=["global_admin"])
    assert info.value.code is Code.LAST_GLOBAL_ADMIN


CROSS_TENANT: list[Callable[[World, Actor, Org, int, int], object]] = [
    lambda w, a, o, s, u: w.app.read(a, subscriptions.get, s),
    lambda w, a, o, s, u: w.app.read(a, subscriptions.list_for, o.id),
    lambda w, a, o, s, u: w.app.run(a, subscriptions.set_quantity, s, 31),
    lambda w, a, o, s, u: w.app.run(a, cancellation.cancel, s),
    lambda w, a, o, s, u: w.app.run(a, cancellation.switch_plan, s, "prem-monthly"),
    lambda w, a, o, s, u: w.app.run(a, cancellation.request_callback, s, phone="123"),
    lambda w, a, o, s, u: w.app.run(a, subscriptions.set_recurring_billing, s, False),
    lambda w, a, o, s, u: w.app.run(a, subscriptions.reactivate, s),
    lambda w, a, o, s, u: w.app.run(a, licensing.assign, o.id, "BUS-STD", [u]),
    lambda w, a, o, s, u: w.app.read(a, licensing.licenses, o.id),
    lambda w, a, o, s, u: w.app.read(a, organizations.list_users, o.id),
    lambda w, a, o, s, u: w.app.read(a, organizations.get_user, u),
    lambda w, a, o, s, u: w.app.run(a, organizations.delete_user, u),
    lambda w, a, o, s, u: w.app.run(a, organizations.set_roles, u, grant=["global_reader"]),
    lambda w, a, o, s, u: w.app.run(
        a, organizations.add_user, o.id, email="x@y.example", display_name="X"
    ),
    lambda w, a, o, s, u: w.app.run(
        a, organizations.add_payment_method, o.id, kind="card", **card()
    ),
    lambda w, a, o, s, u: w.app.read(a, audit.list_records, o.id),
    lambda w, a, o, s, u: w.app.run(a, productkeys.redeem, o.id, [VALID_KEY]),
]


def test_a_global_admin_of_another_organization_finds_nothing(world: World) -> None:
    victim = world.org("Victim")
    intruder = world.org("Intruder").admins["global_admin"]
    sub, person = _setup(world, victim)
    for index, call in enumerate(CROSS_TENANT):
        with pytest.raises(AbonnementError) as info:
            call(world, intruder, victim, sub, person)
        assert info.value.code is Code.NOT_FOUND, index
        assert info.value.status == 404
    # and nothing changed
    view = world.app.read(world.op, subscriptions.get, sub)
    assert (view.quantity, view.status, view.recurring_billing) == (30, "active", True)
    assert [u.id for u in world.app.read(world.op, organizations.list_users, victim.id)][
        -1
    ] == person
