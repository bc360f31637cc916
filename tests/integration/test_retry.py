"""A deadlock or busy lock reported by the database runs the whole use case again."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from abonnement.app import Abonnement, is_transient
from abonnement.services import organizations
from abonnement.services.context import Context


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlocked_attempt_is_rolled_back_and_run_again(app: Abonnement) -> None:
    calls: list[int] = []

    def flaky(ctx: Context) -> int:
        org = organizations.create_organization(ctx, name="Retry AS", country="NO", currency="NOK")
        calls.append(org.id)
        if len(calls) == 1:
            raise OperationalError("UPDATE ...", {}, _Deadlock("deadlock detected"))
        return org.id

    org_id = app.run(app.operator, flaky)
    assert len(calls) == 2
    names = [o.name for o in app.read(app.operator, organizations.list_organizations)]
    assert names == ["Retry AS"]  # the first attempt left nothing behind
    assert org_id == app.read(app.operator, organizations.list_organizations)[0].id


def test_other_database_errors_are_not_retried(app: Abonnement) -> None:
    calls: list[int] = []

    def broken(ctx: Context) -> None:
        calls.append(1)
        raise OperationalError("SELECT", {}, Exception("no such table"))

    with pytest.raises(OperationalError):
        app.run(app.operator, broken)
    assert calls == [1]
    assert not is_transient(ValueError("x"))
