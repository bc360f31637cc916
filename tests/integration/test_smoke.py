from __future__ import annotations

from abonnement.services import licensing, subscriptions

from .conftest import World


def test_buy_assign_and_read_back(world: World) -> None:
    org = world.org()
    ga = org.admins["global_admin"]
    sub = world.app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=10)
    people = world.people(org, 3)
    result = world.app.run(ga, licensing.assign, org.id, "BUS-STD", people)
    assert result.license.assigned == 3
    assert world.app.read(ga, subscriptions.get, sub.id).available == 7
