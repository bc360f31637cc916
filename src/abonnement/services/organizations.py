"""Organizations, their users and admin roles, and their payment methods."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError

from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action, Role
from abonnement.payments import get_processor
from abonnement.payments.base import PaymentInputError, UnknownProcessorError, invoice_method
from abonnement.services import billing
from abonnement.services import validation as v
from abonnement.services.context import Actor, ActorKind, Context
from abonnement.services.schemas import OrganizationView, PaymentMethodView, UserView
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

PAYMENT_METHOD_KINDS = ("card", "bank_account", "invoice")


def create_organization(
    ctx: Context,
    *,
    name: str,
    country: str,
    currency: str,
    time_zone: str = "UTC",
    locale: str = "en",
) -> OrganizationView:
    ctx.require_operator("create_organization")
    org = m.Organization(
        name=v.text("name", name),
        country=v.country(country),
        currency=v.currency_code(currency),
        time_zone=v.time_zone(time_zone),
        locale=v.locale(locale),
        created_at=ctx.now(),
    )
    ctx.uow.organizations.add(org)
    ctx.uow.organizations.flush()
    billing.open_account(ctx, org)
    view = OrganizationView.of(org)
    ctx.audit(
        "organization.create",
        "organization",
        org.id,
        organization_id=org.id,
        after=view.model_dump(mode="json"),
    )
    return view


def list_organizations(ctx: Context) -> list[OrganizationView]:
    if ctx.actor.is_operator:
        return [OrganizationView.of(o) for o in ctx.uow.organizations.list()]
    assert ctx.actor.organization_id is not None
    return [OrganizationView.of(ctx.organization(ctx.actor.organization_id))]


def get_organization(ctx: Context, organization_id: int) -> OrganizationView:
    return OrganizationView.of(ctx.organization(organization_id))


def _parse_roles(roles: Iterable[str]) -> list[Role]:
    try:
        return sorted({Role(r) for r in roles})
    except ValueError:
        raise v.bad("roles", "use " + ", ".join(r.value for r in Role)) from None


def _licenses_of(ctx: Context, user: m.User) -> list[str]:
    skus = []
    for assignment in ctx.uow.assignments.for_user(user.id):
        product = ctx.uow.catalog.product(assignment.product_id)
        if product is not None:
            skus.append(product.sku)
    return skus


def add_user(
    ctx: Context,
    organization_id: int,
    *,
    email: str,
    display_name: str,
    roles: Iterable[str] = (),
    locale: str | None = None,
) -> UserView:
    """Global admins add anyone with any role; user admins add users without admin roles."""
    org = ctx.organization(organization_id)
    wanted = _parse_roles(roles)
    ctx.authorize(org.id, Action.MANAGE_ADMIN_ROLES if wanted else Action.MANAGE_USERS)
    address = v.email(email)
    if ctx.uow.users.by_email(address) is not None:
        raise error(Code.EMAIL_TAKEN, email=address)
    user = m.User(
        organization_id=org.id,
        email=address,
        display_name=v.text("display_name", display_name),
        locale=v.locale(locale) if locale else None,
        created_at=ctx.now(),
        roles=[m.UserRole(role=r) for r in wanted],
    )
    ctx.uow.users.add(user)
    try:
        ctx.uow.users.flush()
    except IntegrityError:
        raise error(Code.EMAIL_TAKEN, email=address) from None
    view = UserView.of(user)
    ctx.audit(
        "user.create", "user", user.id, organization_id=org.id, after=view.model_dump(mode="json")
    )
    return view


def list_users(ctx: Context, organization_id: int) -> list[UserView]:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_USERS)
    return [UserView.of(u, _licenses_of(ctx, u)) for u in ctx.uow.users.in_organization(org.id)]


def get_user(ctx: Context, user_id: int) -> UserView:
    user = ctx.user(user_id)
    ctx.authorize(user.organization_id, Action.READ_USERS)
    return UserView.of(user, _licenses_of(ctx, user))


def delete_user(ctx: Context, user_id: int) -> UserView:
    """Deleting a person frees their licenses at once. Admins are deleted by global admins."""
    user = ctx.user(user_id)
    holds_roles = bool(user.roles)
    ctx.authorize(
        user.organization_id, Action.MANAGE_ADMIN_ROLES if holds_roles else Action.MANAGE_USERS
    )
    if any(r.role is Role.GLOBAL_ADMIN for r in user.roles) and (
        ctx.uow.users.count_with_role(user.organization_id, Role.GLOBAL_ADMIN.value) <= 1
    ):
        raise error(Code.LAST_GLOBAL_ADMIN)
    licenses = _licenses_of(ctx, user)
    # Lock the subscriptions whose seats this frees, so counts stay exact under concurrency.
    for assignment in ctx.uow.assignments.for_user(user.id):
        ctx.uow.subscriptions.get(assignment.subscription_id, lock=True)
        ctx.uow.assignments.delete(assignment)
    view = UserView.of(user, licenses)
    ctx.uow.users.delete(user)
    ctx.uow.users.flush()
    ctx.audit(
        "user.delete",
        "user",
        user_id,
        organization_id=view.organization_id,
        before=view.model_dump(mode="json"),
    )
    return view


def set_roles(
    ctx: Context, user_id: int, *, grant: Iterable[str] = (), revoke: Iterable[str] = ()
) -> UserView:
    """Only global admins grant and revoke admin roles; the last global admin stays."""
    user = ctx.user(user_id)
    ctx.authorize(user.organization_id, Action.MANAGE_ADMIN_ROLES)
    to_grant, to_revoke = set(_parse_roles(grant)), set(_parse_roles(revoke))
    if to_grant & to_revoke:
        raise v.bad("roles", "a role can't be granted and revoked at once")
    before = sorted(r.role.value for r in user.roles)
    held = {r.role for r in user.roles}
    if (
        Role.GLOBAL_ADMIN in to_revoke
        and Role.GLOBAL_ADMIN in held
        and ctx.uow.users.count_with_role(user.organization_id, Role.GLOBAL_ADMIN.value) <= 1
    ):
        raise error(Code.LAST_GLOBAL_ADMIN)
    user.roles = [r for r in user.roles if r.role not in to_revoke] + [
        m.UserRole(role=role) for role in sorted(to_grant - held)
    ]
    ctx.uow.users.flush()
    after = sorted(r.role.value for r in user.roles)
    if before != after:
        ctx.audit(
            "user.roles",
            "user",
            user.id,
            organization_id=user.organization_id,
            before={"roles": before},
            after={"roles": after},
        )
    return UserView.of(user, _licenses_of(ctx, user))


def add_payment_method(
    ctx: Context,
    organization_id: int,
    *,
    kind: str,
    label: str | None = None,
    card_number: str | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
    cvc: str | None = None,
    iban: str | None = None,
    holder: str | None = None,
    make_default: bool = True,
    processor: str = "sandbox",
) -> PaymentMethodView:
    """Add a card, a bank account or "pay by invoice". Card and account details go to the
    payment processor, which returns a token; only the token and the last digits are kept."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.MANAGE_PURCHASES)
    if kind not in PAYMENT_METHOD_KINDS:
        raise v.bad("kind", "use card, bank_account or invoice")
    try:
        gateway = get_processor(processor)
        if kind == "card":
            if not card_number or exp_month is None or exp_year is None or not cvc:
                raise v.bad("card_number", "give the card number, expiry month and year, and CVC")
            tokenized = gateway.tokenize_card(
                card_number, exp_month, exp_year, cvc, today=ctx.today(org)
            )
        elif kind == "bank_account":
            if not iban or not holder:
                raise v.bad("iban", "give the IBAN and the account holder's name")
            tokenized = gateway.tokenize_bank_account(iban, holder)
        else:
            tokenized = invoice_method(label or "Invoice")
    except PaymentInputError as exc:
        raise v.bad(exc.field.value, exc.problem.value.replace("_", " ")) from None
    except UnknownProcessorError:
        raise v.bad("processor", "no such payment processor") from None
    existing = ctx.uow.payment_methods.active(org.id)
    default = make_default or not existing
    if default:
        for method in existing:
            method.is_default = False
    method = m.PaymentMethod(
        organization_id=org.id,
        kind=kind,
        label=v.text("label", label or tokenized.label, max_length=100),
        is_default=default,
        is_backup=not default,
        processor=gateway.name if kind != "invoice" else None,
        processor_token=tokenized.token if kind != "invoice" else None,
        brand=tokenized.brand,
        last4=tokenized.last4,
        exp_month=tokenized.exp_month,
        exp_year=tokenized.exp_year,
        created_at=ctx.now(),
    )
    ctx.uow.payment_methods.add(method)
    ctx.uow.payment_methods.flush()
    view = PaymentMethodView.of(method)
    ctx.audit(
        "payment_method.add",
        "payment_method",
        method.id,
        organization_id=org.id,
        after=view.model_dump(mode="json"),
    )
    return view


def remove_payment_method(ctx: Context, method_id: int) -> PaymentMethodView:
    method = ctx.uow.payment_methods.get(method_id)
    if method is None or method.removed_at is not None or not ctx.visible(method.organization_id):
        raise error(Code.NOT_FOUND, entity="payment_method", id=method_id)
    ctx.authorize(method.organization_id, Action.MANAGE_PURCHASES)
    method.removed_at = ctx.now()
    was_default = method.is_default
    method.is_default = False
    ctx.uow.payment_methods.flush()
    if was_default:
        remaining = ctx.uow.payment_methods.active(method.organization_id)
        if remaining:
            remaining[0].is_default = True
    view = PaymentMethodView.of(method)
    ctx.audit(
        "payment_method.remove",
        "payment_method",
        method.id,
        organization_id=method.organization_id,
        before=view.model_dump(mode="json"),
    )
    return view


def _active_method(ctx: Context, method_id: int) -> m.PaymentMethod:
    method = ctx.uow.payment_methods.get(method_id)
    if method is None or method.removed_at is not None or not ctx.visible(method.organization_id):
        raise error(Code.NOT_FOUND, entity="payment_method", id=method_id)
    ctx.authorize(method.organization_id, Action.MANAGE_PURCHASES)
    return method


def _record_roles(
    ctx: Context, action: str, method: m.PaymentMethod, before: dict[str, object]
) -> PaymentMethodView:
    ctx.uow.payment_methods.flush()
    view = PaymentMethodView.of(method)
    ctx.audit(
        action,
        "payment_method",
        method.id,
        organization_id=method.organization_id,
        before=before,
        after={"is_default": view.is_default, "is_backup": view.is_backup},
    )
    return view


def set_default_payment_method(ctx: Context, method_id: int) -> PaymentMethodView:
    """Charges go to this payment method from now on. The one it replaces becomes the backup
    when there is none."""
    method = _active_method(ctx, method_id)
    before: dict[str, object] = {"is_default": method.is_default, "is_backup": method.is_backup}
    others = [
        pm for pm in ctx.uow.payment_methods.active(method.organization_id) if pm is not method
    ]
    has_backup = any(pm.is_backup and not pm.is_default for pm in others)
    for pm in others:
        if pm.is_default:
            pm.is_default = False
            pm.is_backup = not has_backup
    method.is_default = True
    method.is_backup = False
    return _record_roles(ctx, "payment_method.set_default", method, before)


def set_backup_payment_method(ctx: Context, method_id: int) -> PaymentMethodView:
    """Renewals that the default payment method declines are tried on the backup first."""
    method = _active_method(ctx, method_id)
    if method.is_default:
        raise v.bad("payment_method", "the default payment method can't also be the backup")
    before: dict[str, object] = {"is_default": method.is_default, "is_backup": method.is_backup}
    for pm in ctx.uow.payment_methods.active(method.organization_id):
        pm.is_backup = pm is method
    return _record_roles(ctx, "payment_method.set_backup", method, before)


def list_payment_methods(ctx: Context, organization_id: int) -> list[PaymentMethodView]:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.MANAGE_PURCHASES)
    return [PaymentMethodView.of(pm) for pm in ctx.uow.payment_methods.active(org.id)]


def actor_for_user(uow: UnitOfWork, email: str) -> Actor:
    """The actor for an organization user, with the roles they hold right now."""
    user = uow.users.by_email(email)
    if user is None:
        raise error(Code.NOT_FOUND, entity="user", id=email)
    return Actor(
        ActorKind.USER,
        label=user.email,
        organization_id=user.organization_id,
        user_id=user.id,
        roles=frozenset(r.role for r in user.roles),
    )
