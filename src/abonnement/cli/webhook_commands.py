"""`abonnement webhook` (endpoints and their delivery log) and `abonnement webhooks deliver`
(the delivery worker).

    abonnement webhook add https://example.com/hooks [--org 3] [--event 'subscription.*']
    abonnement webhook list [--org 3]
    abonnement webhook rotate 1
    abonnement webhook deliveries 1 [--status failed]
    abonnement webhook redeliver 17
    abonnement webhook remove 1
    abonnement webhooks deliver [--once]

The signing secret is printed once, by `add` and `rotate`.
"""

from __future__ import annotations

import logging
import threading

import typer

from abonnement.app import Abonnement
from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.config import Settings
from abonnement.domain.errors import N_
from abonnement.services import webhooks
from abonnement.services.webhooks import (
    DeliveryTally,
    DeliveryView,
    EndpointSecretView,
    EndpointView,
)

webhook = typer.Typer(
    help=N_("Webhook endpoints: add (secret shown once), list, rotate, remove, deliveries."),
    no_args_is_help=True,
)
worker = typer.Typer(help=N_("The webhook delivery worker."), no_args_is_help=True)

log = logging.getLogger("abonnement.webhooks")

ENDPOINT = typer.Argument(..., metavar="ENDPOINT", help=N_("Webhook endpoint ID."))


def _endpoints_table(views: list[EndpointView]) -> object:
    return o.table(
        _("Webhook endpoints"),
        [_("ID"), _("URL"), _("Organization"), _("Events"), _("Enabled")],
        [
            (
                v.id,
                v.url,
                v.organization_id or _("all"),
                ", ".join(v.event_types),
                o.yes_no(v.enabled),
            )
            for v in views
        ],
    )


def _show_secret(view: EndpointSecretView) -> None:
    o.show(_endpoints_table([view]))
    o.say(_("Signing secret (shown only now): {secret}", secret=view.secret), style="bold")


@webhook.command("add", help=N_("Register a webhook endpoint; prints its signing secret once."))
def add(
    url: str = typer.Argument(..., metavar="URL", help=N_("http:// or https:// address.")),
    org: int | None = typer.Option(
        None, "--org", help=N_("Only this organization's events (default: every organization).")
    ),
    event: list[str] = typer.Option(
        [], "--event", metavar="TYPE", help=N_("Event type to send (repeat it; default: *).")
    ),
    description: str = typer.Option("", "--description", help=N_("A note for people.")),
    disabled: bool = typer.Option(False, "--disabled", help=N_("Register it turned off.")),
) -> None:
    view = current().run(
        webhooks.create_endpoint,
        url,
        event_types=event or None,
        organization_id=org,
        description=description,
        enabled=not disabled,
    )
    o.emit(view, lambda: _show_secret(view))


@webhook.command("list", help=N_("List webhook endpoints."))
def list_(
    org: int | None = typer.Option(None, "--org", help=N_("Only this organization's.")),
) -> None:
    views = current().read(webhooks.list_endpoints, org)
    o.emit(views, lambda: o.show(_endpoints_table(views)))


@webhook.command("remove", help=N_("Remove a webhook endpoint and its delivery log."))
def remove(endpoint: int = ENDPOINT) -> None:
    view = current().run(webhooks.delete_endpoint, endpoint)
    o.emit(view, lambda: o.say(_("Webhook endpoint {id} removed.", id=view.id)))


@webhook.command("rotate", help=N_("Give an endpoint a new signing secret (printed once)."))
def rotate(endpoint: int = ENDPOINT) -> None:
    view = current().run(webhooks.rotate_secret, endpoint)
    o.emit(view, lambda: _show_secret(view))


def _deliveries_table(views: list[DeliveryView]) -> object:
    return o.table(
        _("Deliveries"),
        [
            _("ID"),
            _("Event"),
            _("Type"),
            _("Status"),
            _("Attempts"),
            _("Last answer"),
            _("Next attempt"),
        ],
        [
            (
                v.id,
                v.event_id,
                v.event_type,
                v.status,
                v.attempts,
                v.last_status_code or (v.last_error or "-")[:40],
                o.moment(v.next_attempt_at) if v.next_attempt_at else "-",
            )
            for v in views
        ],
    )


@webhook.command("deliveries", help=N_("An endpoint's deliveries, newest first."))
def deliveries(
    endpoint: int = ENDPOINT,
    status: str | None = typer.Option(
        None, "--status", help=N_("Only pending, succeeded or failed ones.")
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=100, help=N_("How many.")),
) -> None:
    views, _more = current().read(webhooks.list_deliveries, endpoint, status=status, limit=limit)
    o.emit(views, lambda: o.show(_deliveries_table(views)))


@webhook.command("redeliver", help=N_("Send a delivery again, with a new round of retries."))
def redeliver(
    delivery: int = typer.Argument(..., metavar="DELIVERY", help=N_("Delivery ID.")),
) -> None:
    view = current().run(webhooks.redeliver, delivery)
    o.emit(view, lambda: o.say(_("Delivery {id} will be sent again.", id=view.id)))


def _summary(tally: DeliveryTally) -> str:
    return _(
        "{events} events dispatched, {attempts} attempts: {succeeded} delivered, "
        "{retrying} to retry, {failed} failed.",
        events=tally.events,
        attempts=tally.attempts,
        succeeded=tally.succeeded,
        retrying=tally.retrying,
        failed=tally.failed,
    )


@worker.command(
    "deliver",
    help=N_(
        "Send the outbox's events to the webhook endpoints, in a loop (Ctrl-C stops it). "
        "Run as many as you like, on as many machines."
    ),
)
def deliver(
    once: bool = typer.Option(False, "--once", help=N_("Send what is due now, then stop.")),
) -> None:
    session = current()
    settings = session.settings()
    app = session.app()

    def report(tally: DeliveryTally) -> None:
        if not once and not session.json:
            o.say(_summary(tally), style="")

    try:
        total = webhooks.run_worker(
            app,
            once=once,
            poll_seconds=settings.webhook_poll_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            on_pass=report,
        )
    except KeyboardInterrupt:
        return
    if once:
        o.emit(total.__dict__, lambda: o.say(_summary(total)))


def start_background(settings: Settings) -> threading.Event:
    """The delivery worker in a daemon thread of this process (`abonnement serve` with
    ABONNEMENT_WEBHOOKS_DELIVER=true). Setting the returned event stops it."""
    stop = threading.Event()
    app = Abonnement(settings)

    def work() -> None:
        try:
            webhooks.run_worker(
                app,
                poll_seconds=settings.webhook_poll_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
                concurrency=settings.webhook_concurrency,
                stop=stop,
            )
        finally:
            app.close()

    threading.Thread(target=work, name="abonnement-webhooks", daemon=True).start()
    return stop
