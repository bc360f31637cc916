"""`abonnement org`, `user` and `payment`: customer organizations, their people and admin roles,
and how they pay."""

from __future__ import annotations

from enum import StrEnum

import typer

from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.services import licensing, organizations
from abonnement.services.context import Context
from abonnement.services.schemas import OrganizationView, UserView

org = typer.Typer(help=N_("Customer organizations."), no_args_is_help=True)
user = typer.Typer(help=N_("An organization's users and their admin roles."), no_args_is_help=True)
payment = typer.Typer(help=N_("An organization's payment methods."), no_args_is_help=True)


class Role(StrEnum):
    global_admin = "global_admin"
    billing_admin = "billing_admin"
    license_admin = "license_admin"
    user_admin = "user_admin"
    global_reader = "global_reader"


class PaymentKind(StrEnum):
    card = "card"
    bank_account = "bank_account"
    invoice = "invoice"


# -- organizations -------------------------------------------------------------------------------
def organizations_table(orgs: list[OrganizationView]) -> object:
    return o.table(
        _("Organizations"),
        [_("ID"), _("Name"), _("Country"), _("Currency"), _("Time zone"), _("Language")],
        [(x.id, x.name, x.country, x.currency, x.time_zone, x.locale) for x in orgs],
    )


def organization_details(view: OrganizationView) -> object:
    return o.details(
        _("Organization #{id}", id=view.id),
        [
            (_("Name"), view.name),
            (_("Country"), view.country),
            (_("Currency"), view.currency),
            (_("Time zone"), view.time_zone),
            (_("Language"), view.locale),
            (_("Created"), o.moment(view.created_at)),
        ],
    )


@org.command("create", help=N_("Create a customer organization."))
def org_create(
    name: str = typer.Argument(..., help=N_("The organization's name.")),
    country: str = typer.Option(..., "--country", help=N_("ISO country code, e.g. NO.")),
    currency: str = typer.Option(..., "--currency", help=N_("ISO currency code, e.g. NOK.")),
    time_zone: str = typer.Option("UTC", "--time-zone", help=N_("IANA time zone.")),
    locale: str = typer.Option("en", "--locale", help=N_("Language: en, nb, nl or da.")),
) -> None:
    view = current().run(
        organizations.create_organization,
        name=name,
        country=country,
        currency=currency,
        time_zone=time_zone,
        locale=locale,
    )

    def show() -> None:
        o.say(_("Organization #{id} {name} created.", id=view.id, name=view.name))
        o.show(organization_details(view))

    o.emit(view, show)


@org.command("list", help=N_("List the organizations."))
def org_list() -> None:
    views = current().read(organizations.list_organizations)
    o.emit(views, lambda: o.show(organizations_table(views)))


@org.command("show", help=N_("Show one organization."))
def org_show(organization_id: int = typer.Argument(..., metavar="ID")) -> None:
    view = current().read(organizations.get_organization, organization_id)
    o.emit(view, lambda: o.show(organization_details(view)))


# -- users ---------------------------------------------------------------------------------------
def users_table(users: list[UserView]) -> object:
    return o.table(
        _("Users"),
        [_("ID"), _("Email"), _("Name"), _("Admin roles"), _("Licenses")],
        [
            (
                u.id,
                u.email,
                u.display_name,
                ", ".join(o.role(r) for r in u.roles) or "-",
                ", ".join(u.licenses) or "-",
            )
            for u in users
        ],
    )


def _add_user(
    ctx: Context,
    organization_id: int,
    email: str,
    display_name: str,
    roles: list[str],
    licenses: list[str],
) -> UserView:
    """Add a person, with licenses in the same step (R2) and roles, in one transaction."""
    if not licenses:
        return organizations.add_user(
            ctx, organization_id, email=email, display_name=display_name, roles=roles
        )
    view = licensing.add_user_with_license(
        ctx, organization_id, email=email, display_name=display_name, product_skus=licenses
    )
    if roles:
        view = organizations.set_roles(ctx, view.id, grant=roles)
    return view


@user.command("add", help=N_("Add a user, optionally with admin roles and licenses (R2)."))
def user_add(
    organization_id: int = typer.Argument(..., metavar="ORG", help=N_("Organization ID.")),
    email: str = typer.Argument(..., help=N_("The user's email address.")),
    name: str = typer.Argument(..., help=N_("The user's display name.")),
    roles: list[Role] = typer.Option([], "--role", help=N_("An admin role to give the user.")),
    licenses: list[str] = typer.Option(
        [], "--license", metavar="SKU", help=N_("Assign a license of this product at once.")
    ),
) -> None:
    view = current().run(
        _add_user, organization_id, email, name, [r.value for r in roles], licenses
    )

    def show() -> None:
        o.say(_("User #{id} {email} added.", id=view.id, email=view.email))
        o.show(users_table([view]))

    o.emit(view, show)


@user.command("list", help=N_("List an organization's users."))
def user_list(organization_id: int = typer.Argument(..., metavar="ORG")) -> None:
    views = current().read(organizations.list_users, organization_id)
    o.emit(views, lambda: o.show(users_table(views)))


@user.command("delete", help=N_("Delete a user; their licenses become available at once."))
def user_delete(user_id: int = typer.Argument(..., metavar="USER_ID")) -> None:
    view = current().run(organizations.delete_user, user_id)
    o.emit(
        view,
        lambda: o.say(
            _(
                "User #{id} {email} deleted; their licenses are available again.",
                id=view.id,
                email=view.email,
            )
        ),
    )


@user.command("roles", help=N_("Grant or revoke a user's admin roles."))
def user_roles(
    user_id: int = typer.Argument(..., metavar="USER_ID"),
    grant: list[Role] = typer.Option([], "--grant", help=N_("A role to grant.")),
    revoke: list[Role] = typer.Option([], "--revoke", help=N_("A role to revoke.")),
) -> None:
    view = current().run(
        organizations.set_roles,
        user_id,
        grant=[r.value for r in grant],
        revoke=[r.value for r in revoke],
    )
    roles = ", ".join(o.role(r) for r in view.roles) or "-"
    o.emit(view, lambda: o.say(_("Admin roles of {email}: {roles}", email=view.email, roles=roles)))


# -- payment methods -----------------------------------------------------------------------------
@payment.command("add", help=N_("Add a payment method; it becomes the default."))
def payment_add(
    organization_id: int = typer.Argument(..., metavar="ORG"),
    kind: PaymentKind = typer.Option(..., "--kind", help=N_("Kind of payment method.")),
    label: str | None = typer.Option(
        None, "--label", help=N_('How it is shown, e.g. "Visa 4242".')
    ),
    card_number: str | None = typer.Option(None, "--card-number", help=N_("Card number.")),
    expiry: str | None = typer.Option(None, "--expiry", help=N_("Card expiry as MM/YYYY.")),
    cvc: str | None = typer.Option(None, "--cvc", help=N_("Card security code.")),
    iban: str | None = typer.Option(None, "--iban", help=N_("Bank account number (IBAN).")),
    holder: str | None = typer.Option(None, "--holder", help=N_("Account holder's name.")),
) -> None:
    exp_month = exp_year = None
    if expiry:
        month, _sep, year = expiry.partition("/")
        if not (month.isdigit() and year.isdigit()):
            raise typer.BadParameter(_("Use MM/YYYY."), param_hint="--expiry")
        exp_month, exp_year = int(month), int(year)
    view = current().run(
        organizations.add_payment_method,
        organization_id,
        kind=kind.value,
        label=label,
        card_number=card_number,
        exp_month=exp_month,
        exp_year=exp_year,
        cvc=cvc,
        iban=iban,
        holder=holder,
    )
    o.emit(
        view,
        lambda: o.say(
            _(
                "Payment method #{id} added: {label} ({kind}).",
                id=view.id,
                label=view.label,
                kind=o.payment_kind(view.kind),
            )
        ),
    )


@payment.command("list", help=N_("List an organization's payment methods."))
def payment_list(organization_id: int = typer.Argument(..., metavar="ORG")) -> None:
    views = current().read(organizations.list_payment_methods, organization_id)
    o.emit(
        views,
        lambda: o.show(
            o.table(
                _("Payment methods"),
                [_("ID"), _("Kind"), _("Label"), _("Default")],
                [(p.id, o.payment_kind(p.kind), p.label, o.yes_no(p.is_default)) for p in views],
            )
        ),
    )
