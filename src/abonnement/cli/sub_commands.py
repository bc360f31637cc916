"""`abonnement sub`: buying subscriptions and everything done to them afterwards."""

from __future__ import annotations

from enum import StrEnum

import typer

from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.services import cancellation, subscriptions
from abonnement.services.schemas import (
    CancellationView,
    QuantityChangeView,
    SubscriptionView,
    SwitchView,
)

app = typer.Typer(help=N_("Subscriptions: buy, change, cancel, switch plan."), no_args_is_help=True)

SUB_ID = typer.Argument(..., metavar="ID", help=N_("Subscription ID."))


class BuyChannel(StrEnum):
    online = "online"
    reseller = "reseller"
    volume = "volume"


class Status(StrEnum):
    trial = "trial"
    active = "active"
    expired = "expired"
    disabled = "disabled"
    deleted = "deleted"


class OnOff(StrEnum):
    on = "on"
    off = "off"


def show_subscription(sub: SubscriptionView) -> None:
    """A subscription and why Buy licenses or Remove licenses is unavailable (R5)."""
    o.show(o.subscription_details(sub), o.availability_table(sub.availability))


# -- R3, R4, R5 ---------------------------------------------------------------------------------
def quantity_message(change: QuantityChangeView) -> str:
    """What entering a new total did (R3): licenses bought, removed, or scheduled."""
    if change.kind == "buy":
        text = _(
            "Licenses bought: {count}. Total licenses: {previous} → {quantity}.",
            count=change.quantity - change.previous,
            previous=change.previous,
            quantity=change.quantity,
        )
    elif change.kind == "remove":
        text = _(
            "Licenses removed: {count}. Total licenses: {previous} → {quantity}.",
            count=change.previous - change.quantity,
            previous=change.previous,
            quantity=change.quantity,
        )
    else:
        text = _(
            "The total is already {quantity} licenses; nothing changed.", quantity=change.quantity
        )
    if change.scheduled_quantity is not None and change.scheduled_on is not None:
        text += " " + _(
            "The total becomes {quantity} licenses at renewal on {effective}.",
            quantity=change.scheduled_quantity,
            effective=change.scheduled_on,
        )
    return text


def cancel_message(result: CancellationView) -> str:
    sub = result.subscription
    if result.outcome == "now":
        return _(
            "Subscription #{id} is cancelled and {status} now; the unused time comes back as "
            "credit on the next bill.",
            id=sub.id,
            status=sub.status,
        )
    return _(
        "Recurring billing is off: subscription #{id} ends at the end of its term, on {ends_on}.",
        id=sub.id,
        ends_on=result.ends_on,
    )


def switch_message(result: SwitchView) -> str:
    return _(
        "Switched plan: subscription #{new} ({offer}) has {quantity} licenses and {moved} "
        "users' licenses moved to it; #{old} is cancelled without penalty.",
        new=result.new.id,
        offer=result.new.offer_name,
        quantity=result.new.quantity,
        moved=len(result.moved_user_ids),
        old=result.old.id,
    )


# -- commands ------------------------------------------------------------------------------------
@app.command("buy", help=N_("Buy a subscription (or start a trial)."))
def buy(
    organization_id: int = typer.Argument(..., metavar="ORG", help=N_("Organization ID.")),
    offer: str = typer.Argument(..., help=N_("Offer code.")),
    quantity: int | None = typer.Option(None, "--quantity", help=N_("Number of licenses.")),
    trial: bool = typer.Option(False, "--trial", help=N_("Start a trial instead of paying.")),
    channel: BuyChannel = typer.Option(
        BuyChannel.online, "--channel", help=N_("Purchase channel (reseller and volume: vendor).")
    ),
    partner: str | None = typer.Option(None, "--partner", help=N_("The reseller's name.")),
    agreement: str | None = typer.Option(
        None, "--agreement", help=N_("The Volume Licensing agreement number.")
    ),
) -> None:
    sub = current().run(
        subscriptions.buy,
        organization_id,
        offer,
        quantity=quantity,
        channel=channel.value,
        trial=trial,
        partner_name=partner,
        agreement_number=agreement,
    )

    def show() -> None:
        o.say(_("Subscription #{id} bought.", id=sub.id))
        show_subscription(sub)

    o.emit(sub, show)


@app.command("list", help=N_("List an organization's subscriptions."))
def list_subscriptions(
    organization_id: int = typer.Argument(..., metavar="ORG"),
    status: Status | None = typer.Option(None, "--status", help=N_("Only this status.")),
) -> None:
    subs = current().read(subscriptions.list_for, organization_id, status.value if status else None)
    o.emit(subs, lambda: o.show(o.subscriptions_table(subs, _("Subscriptions"))))


@app.command("show", help=N_("Show a subscription, and why buying or removing is unavailable."))
def show(subscription_id: int = SUB_ID) -> None:
    sub = current().read(subscriptions.get, subscription_id)
    o.emit(sub, lambda: show_subscription(sub))


@app.command("quantity", help=N_("Enter the new total number of licenses (R3)."))
def quantity(
    subscription_id: int = SUB_ID,
    new_total: int = typer.Argument(..., metavar="NEW_TOTAL", help=N_("The new total.")),
) -> None:
    change = current().run(subscriptions.set_quantity, subscription_id, new_total)
    o.emit(change, lambda: o.say(quantity_message(change)))


@app.command("cancel", help=N_("Cancel a subscription."))
def cancel(subscription_id: int = SUB_ID) -> None:
    result = current().run(cancellation.cancel, subscription_id)
    o.emit(result, lambda: o.say(cancel_message(result)))


@app.command("recurring", help=N_("Turn recurring billing on or off."))
def recurring(
    subscription_id: int = SUB_ID,
    state: OnOff = typer.Argument(..., metavar="on|off"),
) -> None:
    sub = current().run(subscriptions.set_recurring_billing, subscription_id, state is OnOff.on)
    message = (
        _("Recurring billing is on for subscription #{id}.", id=sub.id)
        if sub.recurring_billing
        else _(
            "Recurring billing is off: subscription #{id} ends on {ends_on}.",
            id=sub.id,
            ends_on=sub.term_end,
        )
    )
    o.emit(sub, lambda: o.say(message))


@app.command("reactivate", help=N_("Reactivate an expired or disabled subscription."))
def reactivate(subscription_id: int = SUB_ID) -> None:
    sub = current().run(subscriptions.reactivate, subscription_id)
    o.emit(
        sub,
        lambda: o.say(
            _(
                "Subscription #{id} is active again until {ends_on}.",
                id=sub.id,
                ends_on=sub.term_end,
            )
        ),
    )


@app.command("switch", help=N_("Switch to another plan; users' licenses move with it (R9)."))
def switch(
    subscription_id: int = SUB_ID,
    offer: str = typer.Argument(..., help=N_("The offer to switch to.")),
    quantity: int | None = typer.Option(
        None, "--quantity", help=N_("Licenses on the new plan (default: the same).")
    ),
) -> None:
    result = current().run(cancellation.switch_plan, subscription_id, offer, quantity)
    o.emit(result, lambda: o.say(switch_message(result)))


@app.command("convert-trial", help=N_("Buy a trial: it becomes a paid subscription."))
def convert_trial(
    subscription_id: int = SUB_ID,
    quantity: int | None = typer.Option(None, "--quantity", help=N_("Number of licenses.")),
) -> None:
    sub = current().run(subscriptions.convert_trial, subscription_id, quantity)
    o.emit(
        sub,
        lambda: o.say(
            _(
                "Subscription #{id} is paid now, with {quantity} licenses.",
                id=sub.id,
                quantity=sub.quantity,
            )
        ),
    )


@app.command("extend-trial", help=N_("Extend a trial once, near its end."))
def extend_trial(subscription_id: int = SUB_ID) -> None:
    sub = current().run(subscriptions.extend_trial, subscription_id)
    o.emit(sub, lambda: o.say(_("The trial now ends on {ends_on}.", ends_on=sub.term_end)))


@app.command("credit-check", help=N_("Record that a credit check started or completed."))
def credit_check(
    subscription_id: int = SUB_ID,
    complete: bool = typer.Option(..., "--complete/--start", help=N_("Completed, or started.")),
) -> None:
    use_case = subscriptions.complete_credit_check if complete else subscriptions.start_credit_check
    sub = current().run(use_case, subscription_id)

    def show() -> None:
        if complete:
            o.say(_("The credit check of subscription #{id} is complete.", id=sub.id))
        else:
            o.say(_("A credit check of subscription #{id} has started.", id=sub.id))
        o.show(o.availability_table(sub.availability))

    o.emit(sub, show)
