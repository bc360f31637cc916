"""Product keys: 25 characters, one use each, several at once, typos caught."""

from __future__ import annotations

from abonnement.domain.errors import Code
from abonnement.services import productkeys, subscriptions

from .conftest import World, refused


def test_keys_redeem_once_and_several_at_once_extend_the_same_subscription(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    keys = app.run(app.operator, productkeys.generate, "std-monthly", count=3, licenses=10).keys
    assert all(len(k) == 29 and k.count("-") == 4 for k in keys)
    first = app.run(ga, productkeys.redeem, org.id, [keys[0].lower().replace("-", " ")])
    assert (first.keys, first.licenses_added, first.subscription.quantity) == (1, 10, 10)
    more = app.run(ga, productkeys.redeem, org.id, keys[1:])
    assert more.subscription.id == first.subscription.id
    assert (
        more.licenses_added,
        more.subscription.quantity,
        more.subscription.prepaid_quantity,
    ) == (20, 30, 30)
    err = refused(app.run, ga, productkeys.redeem, org.id, [keys[0]])
    assert err.code is Code.PRODUCT_KEY_ALREADY_REDEEMED
    # another organization can't reuse it either
    other = world.org("Other")
    assert (
        refused(
            app.run, other.admins["billing_admin"], productkeys.redeem, other.id, [keys[1]]
        ).code
        is Code.PRODUCT_KEY_ALREADY_REDEEMED
    )


def test_a_typo_is_caught_by_the_check_character_and_changes_nothing(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    keys = app.run(app.operator, productkeys.generate, "std-monthly", count=2, licenses=5).keys
    good, typo = keys[0], keys[1]
    swapped = (
        typo[:3] + typo[4] + typo[3] + typo[5:]
        if typo[3] != typo[4]
        else typo[:3] + ("B" if typo[3] != "B" else "C") + typo[4:]
    )
    err = refused(app.run, ga, productkeys.redeem, org.id, [good, swapped])
    assert err.code is Code.PRODUCT_KEY_TYPO
    assert (
        refused(app.run, ga, productkeys.redeem, org.id, ["ABCDE"]).code
        is Code.PRODUCT_KEY_MALFORMED
    )
    assert app.read(ga, subscriptions.list_for, org.id) == []  # the good key wasn't spent
    assert app.run(ga, productkeys.redeem, org.id, [good]).licenses_added == 5


def test_keys_of_different_products_are_redeemed_separately(world: World) -> None:
    app = world.app
    org = world.org()
    a = app.run(app.operator, productkeys.generate, "std-monthly", count=1, licenses=5).keys
    b = app.run(app.operator, productkeys.generate, "prem-monthly", count=1, licenses=5).keys
    err = refused(app.run, org.admins["global_admin"], productkeys.redeem, org.id, a + b)
    assert err.code is Code.PRODUCT_KEY_MIXED_OFFERS


def test_only_the_operator_generates_keys(world: World) -> None:
    org = world.org()
    err = refused(
        world.app.run,
        org.admins["global_admin"],
        productkeys.generate,
        "std-monthly",
        count=1,
        licenses=1,
    )
    assert err.code is Code.PERMISSION_DENIED
