"""The sign-in service on SQLite and PostgreSQL, without a browser: argon2 hashes, who may set
a password (R1), the lockout and its end, sessions that expire, end on sign-out or on a new
password, and always carry the roles the user holds now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.domain.errors import AbonnementError, Code
from abonnement.services import apikeys, organizations, signin
from abonnement.store import models as m

pytestmark = pytest.mark.integration

POLICY = signin.Policy()  # 5 failures lock for 15 minutes; 12 h sessions, 2 h idle
PASSWORD = "a long enough password"


def _org(app: Abonnement, name: str = "Contoso") -> dict[str, int]:
    op = app.operator
    org = app.run(op, organizations.create_organization, name=name, country="NO", currency="NOK")
    ids = {"org": org.id}
    for role in ("global_admin", "billing_admin", "user_admin"):
        ids[role] = app.run(
            op,
            organizations.add_user,
            org.id,
            email=f"{role}@{name.lower()}.example",
            display_name=role,
            roles=[role],
        ).id
    return ids


def _sign_in(app: Abonnement, email: str, password: str = PASSWORD) -> signin.SignInResult:
    return app.run(apikeys.ANONYMOUS, signin.sign_in, signin.USER, email, password, POLICY)


def _refused(code: Code, call, *args, **kwargs) -> AbonnementError:  # type: ignore[no-untyped-def]
    with pytest.raises(AbonnementError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is code, caught.value
    return caught.value


def test_only_an_argon2id_hash_is_stored(app: Abonnement) -> None:
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["billing_admin"], PASSWORD)
    with app.engine.connect() as conn:
        stored = conn.execute(select(m.SignInAccount.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert _sign_in(app, "billing_admin@contoso.example").token is not None


def test_r1_who_may_set_a_password(app: Abonnement) -> None:
    ids = _org(app)
    other = _org(app, "Fabrikam")
    global_admin = app.actor("global_admin@contoso.example")
    billing_admin = app.actor("billing_admin@contoso.example")
    # a global administrator sets anyone's in their organization; a user sets their own
    app.run(global_admin, signin.set_password, ids["user_admin"], PASSWORD)
    app.run(billing_admin, signin.set_password, ids["billing_admin"], PASSWORD)
    # a billing administrator may not set someone else's
    _refused(
        Code.PERMISSION_DENIED,
        app.run,
        billing_admin,
        signin.set_password,
        ids["user_admin"],
        PASSWORD + "!",
    )
    # another organization's user does not exist for them (tenancy)
    _refused(
        Code.NOT_FOUND, app.run, global_admin, signin.set_password, other["user_admin"], PASSWORD
    )
    error = _refused(
        Code.PASSWORD_TOO_SHORT,
        app.run,
        global_admin,
        signin.set_password,
        ids["user_admin"],
        "short",
    )
    assert error.context == {"minimum": signin.MIN_PASSWORD_LENGTH}
    assert _sign_in(app, "user_admin@contoso.example", PASSWORD + "!").code is Code.SIGN_IN_FAILED


def test_five_failures_lock_the_account_for_15_minutes(app: Abonnement, clock: FixedClock) -> None:
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["global_admin"], PASSWORD)
    email = "global_admin@contoso.example"
    for _ in range(4):
        assert _sign_in(app, email, "wrong password!").code is Code.SIGN_IN_FAILED
    fifth = _sign_in(app, email, "wrong password!")
    assert (fifth.code, fifth.minutes) == (Code.SIGN_IN_LOCKED, 15)
    clock.advance(timedelta(minutes=10))
    locked = _sign_in(app, email)  # the right password, still locked
    assert (locked.code, locked.minutes, locked.token) == (Code.SIGN_IN_LOCKED, 5, None)
    with pytest.raises(AbonnementError) as caught:
        locked.raise_refusal()
    assert caught.value.context == {"minutes": 5}
    clock.advance(timedelta(minutes=5))
    assert _sign_in(app, email).token is not None
    # a success starts the count again
    for _ in range(4):
        assert _sign_in(app, email, "wrong password!").code is Code.SIGN_IN_FAILED
    assert _sign_in(app, email).token is not None


def test_a_new_password_lifts_the_lock_and_ends_the_sessions(app: Abonnement) -> None:
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["global_admin"], PASSWORD)
    email = "global_admin@contoso.example"
    token = _sign_in(app, email).token
    assert token is not None
    for _ in range(5):
        _sign_in(app, email, "wrong password!")
    assert _sign_in(app, email).code is Code.SIGN_IN_LOCKED
    app.run(app.operator, signin.set_password, ids["global_admin"], "a brand new password")
    assert app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY) is None
    assert _sign_in(app, email, "a brand new password").token is not None


def test_sessions_carry_todays_roles_and_expire(app: Abonnement, clock: FixedClock) -> None:
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["user_admin"], PASSWORD)
    token = _sign_in(app, "user_admin@contoso.example").token
    assert token is not None
    found = app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY)
    assert found is not None and found.organization_name == "Contoso"
    assert {r.value for r in found.actor.roles} == {"user_admin"}
    # a role taken away is gone at the next request
    app.run(
        app.operator, organizations.set_roles, ids["user_admin"], grant=[], revoke=["user_admin"]
    )
    found = app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY)
    assert found is not None and found.actor.roles == frozenset()
    # idle for 2 hours: gone; used within the hour: kept, up to 12 hours
    clock.advance(timedelta(minutes=90))
    found = app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY)
    assert found is not None and found.stale
    app.run(apikeys.ANONYMOUS, signin.touch, found.session_id)
    clock.advance(timedelta(minutes=90))
    assert app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY) is not None
    clock.advance(timedelta(hours=2))
    assert app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY) is None


def test_signing_out_ends_the_session(app: Abonnement) -> None:
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["global_admin"], PASSWORD)
    token = _sign_in(app, "global_admin@contoso.example").token
    assert token is not None
    app.run(apikeys.ANONYMOUS, signin.sign_out, token)
    assert app.read(apikeys.ANONYMOUS, signin.resume, token, POLICY) is None
    assert app.read(apikeys.ANONYMOUS, signin.resume, "not-a-token", POLICY) is None


def test_operator_sign_in(app: Abonnement) -> None:
    app.run(app.operator, signin.set_operator_password, "Vendor", PASSWORD)
    result = app.run(apikeys.ANONYMOUS, signin.sign_in, signin.OPERATOR, "vendor", PASSWORD, POLICY)
    assert result.token is not None
    found = app.read(apikeys.ANONYMOUS, signin.resume, result.token, POLICY)
    assert found is not None and found.actor.is_operator and found.organization_id is None
    # an organization user can't make an operator sign-in
    ids = _org(app)
    app.run(app.operator, signin.set_password, ids["global_admin"], PASSWORD)
    admin = app.actor("global_admin@contoso.example")
    _refused(Code.PERMISSION_DENIED, app.run, admin, signin.set_operator_password, "x", PASSWORD)
    # and a user's address is no operator login
    assert (
        app.run(
            apikeys.ANONYMOUS,
            signin.sign_in,
            signin.OPERATOR,
            "global_admin@contoso.example",
            PASSWORD,
            POLICY,
        ).code
        is Code.SIGN_IN_FAILED
    )


def test_the_language_setting_is_the_users_own(app: Abonnement) -> None:
    _org(app)
    admin = app.actor("billing_admin@contoso.example")
    app.run(admin, signin.set_my_language, "nb-NO")
    assert app.read(app.operator, organizations.get_user, admin.user_id).locale == "nb"
    _refused(Code.INVALID_INPUT, app.run, admin, signin.set_my_language, "sv")
