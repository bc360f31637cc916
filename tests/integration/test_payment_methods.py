"""Default and backup payment methods (R1: Global and Billing admins manage payment): the order
the billing service tries them in is the default, then the backup, then the others."""

from __future__ import annotations

from abonnement.domain.errors import Code
from abonnement.services import organizations

from .conftest import World, card, refused


def _methods(world: World, org_id: int) -> list[tuple[str, bool, bool]]:
    views = world.app.read(world.op, organizations.list_payment_methods, org_id)
    return [(v.label[-4:], v.is_default, v.is_backup) for v in views]


def test_default_and_backup_order_the_payment_methods(world: World) -> None:
    app = world.app
    org = world.org()  # a card ending 4242, the default
    ba = org.admins["billing_admin"]
    first = app.run(
        ba,
        organizations.add_payment_method,
        org.id,
        kind="card",
        **card("4000000000000002"),
        make_default=False,
    )
    second = app.run(
        ba,
        organizations.add_payment_method,
        org.id,
        kind="card",
        **card("5555555555554444"),
        make_default=False,
    )
    assert _methods(world, org.id) == [
        ("4242", True, False),
        ("4444", False, True),
        ("0002", False, True),
    ]
    backup = app.run(ba, organizations.set_backup_payment_method, first.id)
    assert backup.is_backup and not backup.is_default
    assert _methods(world, org.id) == [
        ("4242", True, False),
        ("0002", False, True),
        ("4444", False, False),
    ]
    # the new default's place: the old default becomes the backup only when there is none
    app.run(org.admins["global_admin"], organizations.set_default_payment_method, second.id)
    assert _methods(world, org.id) == [
        ("4444", True, False),
        ("0002", False, True),
        ("4242", False, False),
    ]
    app.run(ba, organizations.set_default_payment_method, first.id)
    assert _methods(world, org.id) == [
        ("0002", True, False),
        ("4444", False, True),
        ("4242", False, False),
    ]


def test_r1_only_global_and_billing_admins_choose_and_the_default_is_not_a_backup(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    default = app.read(world.op, organizations.list_payment_methods, org.id)[0]
    for role in ("license_admin", "user_admin", "global_reader"):
        err = refused(
            app.run, org.admins[role], organizations.set_default_payment_method, default.id
        )
        assert err.code is Code.PERMISSION_DENIED
    err = refused(
        app.run, org.admins["billing_admin"], organizations.set_backup_payment_method, default.id
    )
    assert err.code is Code.INVALID_INPUT
    other = world.org("Other")
    err = refused(
        app.run, other.admins["global_admin"], organizations.set_default_payment_method, default.id
    )
    assert err.code is Code.NOT_FOUND
    assert _methods(world, org.id) == [("4242", True, False)]
