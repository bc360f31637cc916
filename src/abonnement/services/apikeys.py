"""API keys: made, listed, revoked, and turned back into the actor they stand for.

A key looks like ``abo_op_<key id>_<secret><check>`` (the vendor operator) or
``abo_org_<key id>_<secret><check>`` (an organization user, acting with the roles that user
holds at the time of each request)::

    abo_org_4fQx9TbW2LkP_q8ZC1mR7vN0sYd3Hk6JtE2wLpA9uXc5Bg4Fn1Ke3Zr0

- the key id (12 base62 characters) is public: it names the key in lists and audit records and
  finds its row;
- the secret (32 base62 characters, about 190 bits from `secrets`) is stored only as
  HMAC-SHA256(server secret, secret) and compared in constant time;
- the check (6 base62 characters) is the CRC32 of everything before it, so a mistyped or cut
  key is refused before any database lookup (as GitHub's tokens do).

The whole key is returned once, by the call that makes it.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path

from sqlalchemy import bindparam, or_, select, update

from abonnement.config import Settings
from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action
from abonnement.services import validation as v
from abonnement.services.context import ANONYMOUS as ANONYMOUS  # authentication runs as it
from abonnement.services.context import Actor, ActorKind, Context
from abonnement.services.schemas import View
from abonnement.store import models as m

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_ID_LENGTH = 12
SECRET_LENGTH = 32
CHECK_LENGTH = 6  # 62**6 > 2**32: any CRC32 fits
OPERATOR, USER = "operator", "user"
PREFIXES = {OPERATOR: "abo_op_", USER: "abo_org_"}
_KINDS = {"op": OPERATOR, "org": USER}
_TOKEN = re.compile(
    rf"abo_(op|org)_([0-9A-Za-z]{{{KEY_ID_LENGTH}}})_"
    rf"([0-9A-Za-z]{{{SECRET_LENGTH}}})([0-9A-Za-z]{{{CHECK_LENGTH}}})"
)
#: last_used_at is written at most this often per key, to keep reads from becoming writes.
TOUCH_INTERVAL = timedelta(minutes=1)


# -- the key format -------------------------------------------------------------------------------
def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The 6-character check of a key's body: its CRC32 in base62."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECK_LENGTH)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def compose(kind: str, key_id: str, secret: str) -> str:
    body = f"{PREFIXES[kind]}{key_id}_{secret}"
    return body + checksum(body)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: str
    key_id: str
    secret: str


def parse(token: str) -> ParsedKey | None:
    """The parts of a well-formed key whose check matches; None for anything else (a typo, a
    truncated key, another service's token). Needs no database."""
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        return None
    kind, key_id, secret, check = match.groups()
    if not hmac.compare_digest(checksum(f"abo_{kind}_{key_id}_{secret}"), check):
        return None
    return ParsedKey(_KINDS[kind], key_id, secret)


def secret_hash(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode("ascii"), sha256).hexdigest()


# -- the server secret ----------------------------------------------------------------------------
MIN_SECRET_LENGTH = 32
_PLACEHOLDER_WORDS = (
    "change",
    "placeholder",
    "example",
    "insecure",
    "default",
    "replace",
    "your",
    "todo",
    "secret_key",
    "secret-key",
    "xxxxxxxx",
)


class InsecureSecretError(ValueError):
    """The configured server secret must not be used (production only)."""


def placeholder_problem(value: str) -> str | None:
    """Why a secret is obviously a placeholder or too weak, or None."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    lowered = value.lower()
    for word in _PLACEHOLDER_WORDS:
        if word in lowered:
            return f"it looks like a placeholder (it contains {word!r})"
    if len(set(value)) < 10:
        return "it repeats too few different characters"
    return None


def _generated_secret(path: Path) -> str:
    """The development secret kept in `path` (mode 0600), made on first use. Several processes
    starting at once agree on one: it is written aside and linked into place atomically."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_text(encoding="ascii").strip()


def server_secret(settings: Settings) -> bytes:
    """The secret API keys are HMAC'd with. In production ABONNEMENT_SECRET_KEY must be set to
    something that is not a placeholder; in development an unset one is generated once."""
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    if settings.environment != "development":
        if not configured:
            raise InsecureSecretError("ABONNEMENT_SECRET_KEY is not set")
        problem = placeholder_problem(configured)
        if problem is not None:
            raise InsecureSecretError(f"ABONNEMENT_SECRET_KEY can't be used: {problem}")
    value = configured or _generated_secret(settings.secret_key_file)
    return value.encode("utf-8")


# -- views ----------------------------------------------------------------------------------------
class ApiKeyView(View):
    """A key without its secret. `id` is the public key id."""

    id: str
    prefix: str
    kind: str  # operator, user
    label: str
    organization_id: int | None
    user_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: m.ApiKey) -> ApiKeyView:
        return cls(
            id=row.key_id,
            prefix=PREFIXES[row.kind] + row.key_id,
            kind=row.kind,
            label=row.label,
            organization_id=row.organization_id,
            user_id=row.user_id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreatedView(ApiKeyView):
    """A new key, with the whole key: shown this once, never again."""

    key: str


def _audit_view(row: m.ApiKey) -> dict[str, object]:
    return ApiKeyView.of(row).model_dump(mode="json", exclude={"last_used_at"})


# -- use cases ------------------------------------------------------------------------------------
def _create(
    ctx: Context,
    kind: str,
    label: str,
    pepper: bytes,
    *,
    organization_id: int | None = None,
    user_id: int | None = None,
) -> ApiKeyCreatedView:
    key_id, secret = _random(KEY_ID_LENGTH), _random(SECRET_LENGTH)
    row = m.ApiKey(
        key_id=key_id,
        secret_hash=secret_hash(pepper, secret),
        kind=kind,
        organization_id=organization_id,
        user_id=user_id,
        label=v.text("label", label, max_length=100),
        created_at=ctx.now(),
    )
    ctx.uow.session.add(row)
    ctx.uow.session.flush()
    ctx.audit(
        "api_key.create", "api_key", key_id, organization_id=organization_id, after=_audit_view(row)
    )
    return ApiKeyCreatedView(**ApiKeyView.of(row).model_dump(), key=compose(kind, key_id, secret))


def create_operator_key(ctx: Context, *, label: str, pepper: bytes) -> ApiKeyCreatedView:
    """A key with the vendor operator's powers. Only the operator makes one (the first one with
    `abonnement apikey create --operator`, on the server)."""
    ctx.require_operator("create_operator_key")
    return _create(ctx, OPERATOR, label, pepper)


def create_user_key(ctx: Context, user_id: int, *, label: str, pepper: bytes) -> ApiKeyCreatedView:
    """A key that acts as an organization user, with the roles they hold at each request. Made
    by the organization's global admins or the operator."""
    user = ctx.user(user_id)
    ctx.authorize(user.organization_id, Action.MANAGE_ADMIN_ROLES)
    return _create(ctx, USER, label, pepper, organization_id=user.organization_id, user_id=user.id)


def list_keys(ctx: Context, organization_id: int | None = None) -> list[ApiKeyView]:
    """The operator sees every key (or one organization's); a global admin their organization's.
    Revoked keys are listed with the time they were revoked."""
    query = select(m.ApiKey).order_by(m.ApiKey.id)
    if ctx.actor.is_operator:
        if organization_id is not None:
            ctx.organization(organization_id)
            query = query.where(m.ApiKey.organization_id == organization_id)
    else:
        org = ctx.organization(organization_id or ctx.actor.organization_id or 0)
        ctx.authorize(org.id, Action.MANAGE_ADMIN_ROLES)
        query = query.where(m.ApiKey.organization_id == org.id)
    return [ApiKeyView.of(row) for row in ctx.uow.session.scalars(query)]


def revoke(ctx: Context, key_id: str) -> ApiKeyView:
    """Revoke a key at once; requests with it are refused from now on. Operator keys are revoked
    by the operator, user keys also by their organization's global admins and by their user."""
    row = ctx.uow.session.scalars(select(m.ApiKey).where(m.ApiKey.key_id == key_id)).one_or_none()
    if row is None or (
        not ctx.actor.is_operator
        and (row.organization_id is None or not ctx.visible(row.organization_id))
    ):
        raise error(Code.NOT_FOUND, entity="api_key", id=key_id)
    if row.kind == OPERATOR:
        ctx.require_operator("revoke_operator_key")
    elif row.organization_id is not None and ctx.actor.user_id != row.user_id:
        ctx.authorize(row.organization_id, Action.MANAGE_ADMIN_ROLES)
    if row.revoked_at is None:
        before = _audit_view(row)
        row.revoked_at = ctx.now()
        ctx.uow.session.flush()
        ctx.audit(
            "api_key.revoke",
            "api_key",
            row.key_id,
            organization_id=row.organization_id,
            before=before,
            after=_audit_view(row),
        )
    return ApiKeyView.of(row)


@dataclass(frozen=True, slots=True)
class Authenticated:
    actor: Actor
    key_id: str
    #: last_used_at is older than TOUCH_INTERVAL (or unset): the caller should `touch` the key.
    stale: bool


def _unauthenticated() -> Exception:
    return error(Code.UNAUTHENTICATED)


#: Everything authentication needs, in one round trip: the key, its user, the roles the user
#: holds now (one row per role; one row with no role, or no user, otherwise), and the time of
#: the test clock of the user's organization, if one is attached (so the use case that follows
#: in the same transaction need not read its organization again).
_KEY_WITH_ROLES = (
    select(
        m.ApiKey.secret_hash,
        m.ApiKey.kind,
        m.ApiKey.revoked_at,
        m.ApiKey.last_used_at,
        m.ApiKey.user_id,
        m.User.id.label("user_found"),
        m.User.organization_id,
        m.User.email,
        m.UserRole.role,
        m.TestClock.now.label("clock_now"),
    )
    .select_from(m.ApiKey)
    .outerjoin(m.User, m.User.id == m.ApiKey.user_id)
    .outerjoin(m.UserRole, m.UserRole.user_id == m.User.id)
    .outerjoin(m.TestClock, m.TestClock.organization_id == m.User.organization_id)
    .where(m.ApiKey.key_id == bindparam("key_id"))
)


def authenticate(ctx: Context, token: str, *, pepper: bytes) -> Authenticated:
    """The actor a key stands for: the operator, or its user with the roles they hold now.
    Malformed, mistyped, unknown and revoked keys are all refused alike (UNAUTHENTICATED); a
    mistyped one without a database lookup. Reads only: run it with `Abonnement.read`.

    One query (Core, not the ORM: this runs on every request) reads the key, its user, the
    user's roles and their organization's test clock together."""
    parsed = parse(token)
    if parsed is None:
        raise _unauthenticated()
    rows = ctx.uow.session.connection().execute(_KEY_WITH_ROLES, {"key_id": parsed.key_id}).all()
    row = rows[0] if rows else None
    expected = row.secret_hash if row is not None else "0" * 64
    matches = hmac.compare_digest(expected, secret_hash(pepper, parsed.secret))
    if row is None or not matches or row.kind != parsed.kind or row.revoked_at is not None:
        raise _unauthenticated()
    now = ctx.now()
    stale = row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL
    if row.kind == OPERATOR:
        return Authenticated(Actor.operator(f"operator/{parsed.key_id}"), parsed.key_id, stale)
    if row.user_id is None or row.user_found is None:
        raise _unauthenticated()
    actor = Actor(
        ActorKind.USER,
        label=row.email,
        organization_id=row.organization_id,
        user_id=row.user_id,
        roles=frozenset(r.role for r in rows if r.role is not None),
    )
    ctx.uow.organizations_read[row.organization_id] = row.clock_now
    return Authenticated(actor, parsed.key_id, stale)


def touch(ctx: Context, key_id: str) -> bool:
    """Record that a key was used now, unless that was recorded less than a minute ago (one
    conditional UPDATE, so concurrent requests write it once)."""
    now = ctx.now()
    result = ctx.uow.session.execute(
        update(m.ApiKey)
        .where(
            m.ApiKey.key_id == key_id,
            or_(m.ApiKey.last_used_at.is_(None), m.ApiKey.last_used_at <= now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
