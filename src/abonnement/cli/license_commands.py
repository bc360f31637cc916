"""`abonnement license`, `key` and `callback`: assigning licenses, product keys, and the
"let us call you" queue."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import typer

from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.services import cancellation, licensing, productkeys
from abonnement.services.schemas import CallbackView, LicenseCountsView, RedemptionView

license_app = typer.Typer(help=N_("Assign licenses to users."), no_args_is_help=True)
key = typer.Typer(help=N_("Product keys for prepaid subscriptions."), no_args_is_help=True)
callback = typer.Typer(
    help=N_("Support callbacks requested instead of cancelling online."), no_args_is_help=True
)

ORG = typer.Argument(..., metavar="ORG", help=N_("Organization ID."))


class CallbackStatus(StrEnum):
    open = "open"
    done = "done"
    all = "all"


def licenses_table(views: Sequence[LicenseCountsView]) -> object:
    """The Licenses page: one row per product, its subscriptions together."""
    return o.table(
        _("Licenses"),
        [
            _("Product"),
            _("Total licenses"),
            _("Assigned"),
            _("Available"),
            _("Subscriptions"),
        ],
        [
            (
                f"{v.product_name} ({v.product_sku})",
                v.total,
                v.assigned,
                v.available,
                ", ".join(f"#{i}" for i in v.subscription_ids) or "-",
            )
            for v in views
        ],
    )


def callbacks_table(views: list[CallbackView]) -> object:
    return o.table(
        _("Callback requests"),
        [
            _("ID"),
            _("Organization"),
            _("Subscription"),
            _("Phone"),
            _("Note"),
            _("Status"),
            _("Requested"),
        ],
        [
            (
                c.id,
                c.organization_id,
                f"#{c.subscription_id}",
                c.phone,
                c.note or "-",
                o.callback_status(c.status),
                o.moment(c.created_at),
            )
            for c in views
        ],
    )


# -- licenses ------------------------------------------------------------------------------------
@license_app.command("assign", help=N_("Assign licenses of a product to up to 20 users."))
def assign(
    organization_id: int = ORG,
    sku: str = typer.Argument(..., help=N_("Product SKU.")),
    user_ids: list[int] = typer.Argument(..., metavar="USER_ID...", help=N_("Users' IDs.")),
) -> None:
    result = current().run(licensing.assign, organization_id, sku, user_ids)

    def show() -> None:
        o.say(
            _(
                "Users given a license of {product}: {count}.",
                product=result.license.product_name,
                count=len(result.user_ids),
            )
        )
        o.show(licenses_table([result.license]))

    o.emit(result, show)


@license_app.command("unassign", help=N_("Take licenses of a product back from up to 20 users."))
def unassign(
    organization_id: int = ORG,
    sku: str = typer.Argument(..., help=N_("Product SKU.")),
    user_ids: list[int] = typer.Argument(..., metavar="USER_ID...", help=N_("Users' IDs.")),
) -> None:
    result = current().run(licensing.unassign, organization_id, sku, user_ids)

    def show() -> None:
        o.say(
            _(
                "Licenses of {product} taken back: {count}.",
                product=result.license.product_name,
                count=len(result.user_ids),
            )
        )
        o.show(licenses_table([result.license]))

    o.emit(result, show)


@license_app.command("list", help=N_("Show the Licenses view: each product's licenses together."))
def list_licenses(organization_id: int = ORG) -> None:
    views = current().read(licensing.licenses, organization_id)
    o.emit(views, lambda: o.show(licenses_table(views)))


def redemption_message(result: RedemptionView) -> str:
    return _(
        "Product keys redeemed: {keys}. Licenses added: {licenses}. The prepaid subscription "
        "#{id} now has {quantity} licenses.",
        keys=result.keys,
        licenses=result.licenses_added,
        id=result.subscription.id,
        quantity=result.subscription.quantity,
    )


# -- product keys --------------------------------------------------------------------------------
@key.command("generate", help=N_("Generate product keys for an offer; they are shown only once."))
def generate(
    offer: str = typer.Argument(..., help=N_("Offer code.")),
    count: int = typer.Option(1, "--count", help=N_("How many keys.")),
    licenses: int = typer.Option(..., "--licenses", help=N_("Licenses each key adds.")),
) -> None:
    result = current().run(productkeys.generate, offer, count=count, licenses=licenses)

    def show() -> None:
        o.say(
            _(
                "Product keys for {offer}: {count}, each for {licenses} licenses. They are "
                "shown only this once:",
                count=len(result.keys),
                offer=result.offer,
                licenses=result.licenses_per_key,
            )
        )
        for value in result.keys:
            o.out().print(value, markup=False)

    o.emit(result, show)


@key.command("redeem", help=N_("Redeem one or more product keys for an organization."))
def redeem(
    organization_id: int = ORG,
    keys: list[str] = typer.Argument(..., metavar="KEY...", help=N_("Product keys.")),
) -> None:
    result = current().run(productkeys.redeem, organization_id, keys)
    o.emit(result, lambda: o.say(redemption_message(result)))


# -- callbacks (R15) -----------------------------------------------------------------------------
@callback.command("request", help=N_("Ask the vendor to call about cancelling a subscription."))
def request(
    subscription_id: int = typer.Argument(..., metavar="SUB_ID", help=N_("Subscription ID.")),
    phone: str = typer.Option(..., "--phone", help=N_("Phone number to call.")),
    note: str = typer.Option("", "--note", help=N_("What the call is about.")),
) -> None:
    view = current().run(cancellation.request_callback, subscription_id, phone=phone, note=note)
    o.emit(
        view,
        lambda: o.say(
            _(
                "We will call you at {phone}. Callback request #{id} is open.",
                phone=view.phone,
                id=view.id,
            )
        ),
    )


@callback.command("list", help=N_("The vendor's queue of callback requests."))
def list_callbacks(
    status: CallbackStatus = typer.Option(CallbackStatus.open, "--status", help=N_("Which ones.")),
) -> None:
    views = current().read(
        cancellation.list_callbacks, None if status is CallbackStatus.all else status.value
    )
    o.emit(views, lambda: o.show(callbacks_table(views)))


@callback.command("close", help=N_("Mark a callback request as done."))
def close(callback_id: int = typer.Argument(..., metavar="ID")) -> None:
    view = current().run(cancellation.close_callback, callback_id)
    o.emit(view, lambda: o.say(_("Callback request #{id} is done.", id=view.id)))
