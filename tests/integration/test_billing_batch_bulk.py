"""The billing batch's set-based updates write what one UPDATE per row, in order, would."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from abonnement.domain.subscriptions import Status
from abonnement.services import subscriptions
from abonnement.services.billing_batch_bulk import Bulk
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .conftest import World


def _terms(world: World) -> dict[int, tuple[date, date, str]]:
    with UnitOfWork(world.app.engine) as uow:
        rows = uow.session.execute(
            select(
                m.Subscription.id,
                m.Subscription.term_start,
                m.Subscription.term_end,
                m.Subscription.status,
            )
        )
        return {row.id: (row.term_start, row.term_end, str(row.status)) for row in rows}


def test_rows_that_set_the_same_values_share_a_statement_and_a_key_twice_keeps_its_order(
    world: World,
) -> None:
    """Renewals setting a few distinct terms are grouped into one UPDATE … IN (…) each, rows
    setting different columns stay apart, and a key that comes twice is written in order (the
    last row wins), as row-by-row updates would leave them."""
    org = world.org("Bulk")
    ba = org.admins["billing_admin"]
    ids = [
        world.app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=3).id for _ in range(5)
    ]
    before = _terms(world)
    start = date(2030, 1, 1)
    a = {"term_start": start, "term_end": start + timedelta(days=31)}
    b = {"term_start": start, "term_end": start + timedelta(days=365)}
    rows = [
        {"id": ids[0], **a},
        {"id": ids[1], **b},
        {"id": ids[2], **a},
        {"id": ids[3], "status": Status.EXPIRED, **b},
    ]
    with UnitOfWork(world.app.engine) as uow:
        Bulk(uow.session).update(m.Subscription, "id", rows)
        uow.commit()
    after = _terms(world)
    assert after[ids[0]] == (a["term_start"], a["term_end"], before[ids[0]][2])
    assert after[ids[1]] == (b["term_start"], b["term_end"], before[ids[1]][2])
    assert after[ids[2]] == (a["term_start"], a["term_end"], before[ids[2]][2])
    assert after[ids[3]] == (b["term_start"], b["term_end"], "expired")
    assert after[ids[4]] == before[ids[4]]  # untouched
    twice = [{"id": ids[4], **a}, {"id": ids[0], **b}, {"id": ids[4], **b}]
    with UnitOfWork(world.app.engine) as uow:
        Bulk(uow.session).update(m.Subscription, "id", twice)
        uow.commit()
    after = _terms(world)
    assert after[ids[4]][:2] == (b["term_start"], b["term_end"])
    assert after[ids[0]][:2] == (b["term_start"], b["term_end"])
