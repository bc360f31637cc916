"""Signing in to the admin center: passwords (argon2id), sessions kept in the database, and the
lockout after repeated failures.

- A password is stored only as an argon2id hash (`argon2-cffi`), per sign-in account: one per
  organization user who has a password, and the vendor's operator accounts (by login name).
- A session is a random token in an http-only cookie; the database keeps its SHA-256, its CSRF
  token and its times, so any number of server processes share the sessions and a sign-out ends
  the session everywhere at once.
- `policy.max_failures` wrong passwords in a row lock the account for `policy.lockout`; while
  it is locked even the right password is refused, with the minutes left.

Failed attempts must be recorded even though the sign-in fails, so `sign_in` returns its
outcome instead of raising: the caller commits, then reports the refusal.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from abonnement import i18n
from abonnement.config import Settings
from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action, Role
from abonnement.services import validation as v
from abonnement.services.context import Actor, ActorKind, Context
from abonnement.store import models as m

USER, OPERATOR = "user", "operator"
MIN_PASSWORD_LENGTH = 10
#: The last-seen time of a session is written at most this often.
TOUCH_INTERVAL = timedelta(minutes=1)

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Verified when no account matches, so an unknown address takes as long as a wrong
    password. Made on first use, not on import: an argon2id hash takes a fifth of a second and
    64 MiB, which every process that imports this module (the CLI, the billing run's workers)
    would pay. The server makes it as it starts (`web.mount`), before anyone signs in."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Policy:
    """How long sessions last and when failed sign-ins lock an account."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    lifetime: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=2)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            max_failures=max(settings.sign_in_max_failures, 1),
            lockout=timedelta(minutes=settings.sign_in_lockout_minutes),
            lifetime=timedelta(hours=settings.session_hours),
            idle=timedelta(minutes=settings.session_idle_minutes),
        )


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A new session (`token` for the cookie), or the refusal: `code` and its context."""

    token: str | None = None
    code: Code | None = None
    minutes: int = 0

    def raise_refusal(self) -> None:
        if self.code is Code.SIGN_IN_LOCKED:
            raise error(Code.SIGN_IN_LOCKED, minutes=self.minutes)
        if self.code is not None:
            raise error(self.code)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The signed-in browser of one request: who it is now (roles read afresh), its CSRF token,
    and what the pages show in the top bar."""

    session_id: int
    actor: Actor
    csrf_token: str
    display_name: str
    organization_id: int | None
    organization_name: str | None
    locale: str | None  # the user's own language setting, if any
    stale: bool  # last seen more than TOUCH_INTERVAL ago


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _password(value: str) -> str:
    if not isinstance(value, str) or len(value) < MIN_PASSWORD_LENGTH:
        raise error(Code.PASSWORD_TOO_SHORT, minimum=MIN_PASSWORD_LENGTH)
    if len(value) > 1024:
        raise v.bad("password", "it is longer than 1024 characters")
    return value


def _account_of_user(ctx: Context, user_id: int) -> m.SignInAccount | None:
    return ctx.uow.session.scalars(
        select(m.SignInAccount).where(m.SignInAccount.user_id == user_id)
    ).one_or_none()


def _account_of_login(ctx: Context, kind: str, login: str) -> m.SignInAccount | None:
    if kind == OPERATOR:
        return ctx.uow.session.scalars(
            select(m.SignInAccount).where(
                m.SignInAccount.kind == OPERATOR, m.SignInAccount.login == login.strip().lower()
            )
        ).one_or_none()
    user = ctx.uow.users.by_email(login)
    return _account_of_user(ctx, user.id) if user is not None else None


def _end_sessions(ctx: Context, account_id: int) -> None:
    ctx.uow.session.execute(
        update(m.WebSession)
        .where(m.WebSession.account_id == account_id, m.WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )


def _store_password(ctx: Context, account: m.SignInAccount | None, **identity: object) -> int:
    """Set the hash on an account (made if missing); reset its lockout; end its sessions."""
    password = str(identity.pop("password"))
    now = ctx.now()
    if account is None:
        account = m.SignInAccount(**identity, failed_attempts=0)
        ctx.uow.session.add(account)
    account.password_hash = _hasher.hash(password)
    account.password_set_at = now
    account.failed_attempts = 0
    account.locked_until = None
    ctx.uow.session.flush()
    _end_sessions(ctx, account.id)
    return account.id


def set_password(ctx: Context, user_id: int, password: str) -> None:
    """Give an organization user a password for the admin center (a new one ends their open
    sessions and lifts a lockout). The vendor, a global administrator of the user's
    organization, or the user themself may do it."""
    user = ctx.user(user_id)
    if ctx.actor.user_id != user.id:
        ctx.authorize(user.organization_id, Action.MANAGE_ADMIN_ROLES)
    _password(password)
    account = _account_of_user(ctx, user.id)
    _store_password(ctx, account, kind=USER, user_id=user.id, password=password)
    ctx.audit("user.password.set", "user", user.id, organization_id=user.organization_id)


def set_user_password(ctx: Context, email: str, password: str) -> None:
    """`set_password` for the user with this email address."""
    user = ctx.uow.users.by_email(email)
    if user is None:
        raise error(Code.NOT_FOUND, entity="user", id=email)
    set_password(ctx, user.id, password)


def set_operator_password(ctx: Context, login: str, password: str) -> None:
    """The vendor's operator sign-in (for the operator view), set on the server by the CLI."""
    ctx.require_operator("set_operator_password")
    name = v.text("login", login, max_length=254).lower()
    _password(password)
    account = _account_of_login(ctx, OPERATOR, name)
    _store_password(ctx, account, kind=OPERATOR, login=name, password=password)
    ctx.audit("operator.password.set", "sign_in_account", name, organization_id=None)


def sign_in(ctx: Context, kind: str, login: str, password: str, policy: Policy) -> SignInResult:
    """Check a password and open a session. Commit the result whatever it is: failures count."""
    now = ctx.now()
    account = _account_of_login(ctx, kind, login or "")
    if account is None or account.kind != kind:
        _verify(dummy_hash(), password or "")
        return SignInResult(code=Code.SIGN_IN_FAILED)
    if account.locked_until is not None and account.locked_until > now:
        left = (account.locked_until - now).total_seconds() / 60
        return SignInResult(code=Code.SIGN_IN_LOCKED, minutes=max(math.ceil(left), 1))
    if not _verify(account.password_hash, password or ""):
        account.failed_attempts += 1
        if account.failed_attempts >= policy.max_failures:
            account.failed_attempts = 0
            account.locked_until = now + policy.lockout
            ctx.uow.session.flush()
            minutes = max(math.ceil(policy.lockout.total_seconds() / 60), 1)
            return SignInResult(code=Code.SIGN_IN_LOCKED, minutes=minutes)
        ctx.uow.session.flush()
        return SignInResult(code=Code.SIGN_IN_FAILED)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_attempts = 0
    account.locked_until = None
    account.last_sign_in_at = now
    token = secrets.token_urlsafe(32)
    ctx.uow.session.add(
        m.WebSession(
            token_hash=token_hash(token),
            account_id=account.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.lifetime,
        )
    )
    ctx.uow.session.flush()
    return SignInResult(token=token)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _live(ctx: Context, token: str, policy: Policy) -> m.WebSession | None:
    row = ctx.uow.session.scalars(
        select(m.WebSession).where(m.WebSession.token_hash == token_hash(token))
    ).one_or_none()
    now = ctx.now()
    if (
        row is None
        or row.ended_at is not None
        or row.expires_at <= now
        or row.last_seen_at + policy.idle <= now
    ):
        return None
    return row


def resume(ctx: Context, token: str, policy: Policy) -> SignedIn | None:
    """The signed-in browser behind a session cookie, or None (unknown, ended, expired, idle)."""
    row = _live(ctx, token, policy) if token else None
    if row is None:
        return None
    account = ctx.uow.session.get(m.SignInAccount, row.account_id)
    if account is None:
        return None
    stale = ctx.now() - row.last_seen_at >= TOUCH_INTERVAL
    if account.kind == OPERATOR:
        return SignedIn(
            session_id=row.id,
            actor=Actor.operator(f"operator:{account.login}"),
            csrf_token=row.csrf_token,
            display_name=account.login or OPERATOR,
            organization_id=None,
            organization_name=None,
            locale=None,
            stale=stale,
        )
    user = ctx.uow.users.get(account.user_id) if account.user_id is not None else None
    if user is None:
        return None
    org = ctx.uow.organizations.get(user.organization_id)
    actor = Actor(
        ActorKind.USER,
        label=user.email,
        organization_id=user.organization_id,
        user_id=user.id,
        roles=frozenset(Role(r.role) for r in user.roles),
    )
    return SignedIn(
        session_id=row.id,
        actor=actor,
        csrf_token=row.csrf_token,
        display_name=user.display_name,
        organization_id=user.organization_id,
        organization_name=org.name if org is not None else None,
        locale=user.locale,
        stale=stale,
    )


def touch(ctx: Context, session_id: int) -> None:
    """Record that a session was used now (keeps it from going idle)."""
    ctx.uow.session.execute(
        update(m.WebSession).where(m.WebSession.id == session_id).values(last_seen_at=ctx.now())
    )


def sign_out(ctx: Context, token: str) -> None:
    ctx.uow.session.execute(
        update(m.WebSession)
        .where(m.WebSession.token_hash == token_hash(token), m.WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )


def set_my_language(ctx: Context, locale: str) -> None:
    """The signed-in user's own language setting (en, nb, nl or da)."""
    if ctx.actor.user_id is None:
        return
    user = ctx.user(ctx.actor.user_id)
    code = i18n.normalize_locale(v.locale(locale))
    if user.locale != code:
        before = {"locale": user.locale}
        user.locale = code
        ctx.uow.users.flush()
        ctx.audit(
            "user.locale",
            "user",
            user.id,
            organization_id=user.organization_id,
            before=before,
            after={"locale": code},
        )
