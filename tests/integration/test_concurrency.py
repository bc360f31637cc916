"""Seat counts hold under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from abonnement.domain.errors import AbonnementError, Code
from abonnement.services import licensing, subscriptions

from .conftest import World

THREADS = 50


def test_r4_fifty_threads_racing_for_the_last_ten_licenses_assign_exactly_ten(world: World) -> None:
    app = world.app
    org = world.org()
    admin = org.admins["license_admin"]
    sub = app.run(org.admins["global_admin"], subscriptions.buy, org.id, "std-monthly", quantity=40)
    first = world.people(org, 30)
    for chunk in (first[:20], first[20:]):
        app.run(admin, licensing.assign, org.id, "BUS-STD", chunk)
    racers = world.people(org, THREADS)
    barrier = threading.Barrier(THREADS)

    def race(user_id: int) -> str:
        barrier.wait()
        try:
            app.run(admin, licensing.assign, org.id, "BUS-STD", [user_id])
            return "assigned"
        except AbonnementError as exc:
            return exc.code.value

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(race, racers))

    assert outcomes.count("assigned") == 10
    assert set(outcomes) <= {"assigned", Code.NO_LICENSES_AVAILABLE.value}
    view = app.read(admin, licensing.licenses, org.id)[0]
    assert (view.total, view.assigned, view.available) == (40, 40, 0)
    assert app.read(org.admins["global_admin"], subscriptions.get, sub.id).assigned == 40


def test_r4_removal_racing_with_assignments_never_goes_below_assigned(world: World) -> None:
    """Reducing the quantity while people are being assigned: the floor holds either way."""
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=20)
    people = world.people(org, 20)
    barrier = threading.Barrier(21)

    def assign(user_id: int) -> None:
        barrier.wait()
        with contextlib.suppress(AbonnementError):
            app.run(ga, licensing.assign, org.id, "BUS-STD", [user_id])

    def reduce() -> None:
        barrier.wait()
        try:
            app.run(ga, subscriptions.set_quantity, sub.id, 10)
        except AbonnementError as exc:
            assert exc.code is Code.QUANTITY_BELOW_ASSIGNED

    with ThreadPoolExecutor(21) as pool:
        futures = [pool.submit(assign, u) for u in people] + [pool.submit(reduce)]
        for future in futures:
            future.result()
    final = app.read(ga, subscriptions.get, sub.id)
    assert final.assigned <= final.quantity
    assert final.quantity in (10, 20)
