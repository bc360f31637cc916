"""The outbox: what happened, as events that webhooks carry to the outside world.

Events are written in the transaction of the change they announce, in two places only:

- **the audit record** (`Context.audit`): every use case that changes something already leaves
  one, so `for_audit` turns the actions a receiver cares about (a subscription created, its
  quantity changed, cancelled, switched, reactivated, recurring billing changed, licenses
  assigned or unassigned, an invoice issued) into an event beside it. The billing run writes
  its own, richer events (`services.lifecycle.Day.emit`, keyed by day), so inside the run
  (a context with the day's clock pinned) nothing is derived from its audit records.
- **the payment row**: every charge and refund, whoever made it (a purchase, a renewal, a
  dunning retry, a refund of credit), announces itself as `payment.succeeded`,
  `payment.failed` or `payment.refunded` when it is inserted (a mapper event on `Payment`,
  in the same flush), or, when it pays an invoice whose number is taken only after its money
  has moved (`services.billing.number_invoices`), right after that invoice's own event. A
  declined purchase is refused as a whole, so it leaves no event.

Each event has a unique key, so the same change can never be announced twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, insert, or_, select
from sqlalchemy.orm import Mapper, Session, object_session
from sqlalchemy.sql.elements import ColumnElement

from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action
from abonnement.services.schemas import View
from abonnement.store import models as m

if TYPE_CHECKING:
    from abonnement.services.context import Context


class EventType:
    """The event types use cases announce (the billing run's are `domain.lifecycle.EventType`)."""

    SUBSCRIPTION_CREATED = "subscription.created"
    QUANTITY_CHANGED = "subscription.quantity_changed"
    CANCELLED = "subscription.cancelled"
    SWITCHED = "subscription.switched"
    REACTIVATED = "subscription.reactivated"
    RECURRING_BILLING_CHANGED = "subscription.recurring_billing_changed"
    TRIAL_CONVERTED = "subscription.trial_converted"
    TRIAL_EXTENDED = "subscription.trial_extended"
    CREDIT_CHECK_STARTED = "subscription.credit_check_started"
    CREDIT_CHECK_COMPLETED = "subscription.credit_check_completed"
    LICENSES_ASSIGNED = "license.assigned"
    LICENSES_UNASSIGNED = "license.unassigned"
    INVOICE_ISSUED = "invoice.issued"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REFUNDED = "payment.refunded"


def _type_for(action: str, before: Mapping[str, Any] | None) -> str | None:
    """The event an audited action announces, if any."""
    exact = {
        "subscription.buy": EventType.SUBSCRIPTION_CREATED,
        "subscription.switch": EventType.SWITCHED,
        "subscription.reactivate": EventType.REACTIVATED,
        "subscription.recurring_billing.on": EventType.RECURRING_BILLING_CHANGED,
        "subscription.recurring_billing.off": EventType.RECURRING_BILLING_CHANGED,
        "subscription.trial.convert": EventType.TRIAL_CONVERTED,
        "subscription.trial.extend": EventType.TRIAL_EXTENDED,
        "subscription.credit_check.start": EventType.CREDIT_CHECK_STARTED,
        "subscription.credit_check.complete": EventType.CREDIT_CHECK_COMPLETED,
        "license.assign": EventType.LICENSES_ASSIGNED,
        "license.unassign": EventType.LICENSES_UNASSIGNED,
        "invoice.issue": EventType.INVOICE_ISSUED,
        "credit_note.issue": EventType.INVOICE_ISSUED,
    }
    if action in exact:
        return exact[action]
    if action.startswith("subscription.quantity."):
        return EventType.QUANTITY_CHANGED
    if action.startswith("subscription.cancel."):
        return EventType.CANCELLED
    if action == "product_keys.redeem":
        return EventType.SUBSCRIPTION_CREATED if not before else EventType.QUANTITY_CHANGED
    return None


def for_audit(ctx: Context, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event beside an audit record (see the module's docstring), if the record's action
    announces one: the columns of its row, but for its key's end, the record's id
    (`Audit.insert` writes both, in the record's transaction)."""
    organization_id = record["organization_id"]
    if ctx.clock_pinned or ctx.dry_run or organization_id is None:
        return None
    kind = _type_for(record["action"], record["before"])
    if kind is None:
        return None
    data: dict[str, Any] = {
        "action": record["action"],
        "object": record["entity"],
        "id": record["entity_id"],
        "actor": "operator" if record["actor_user_id"] is None else "user",
        "actor_user_id": record["actor_user_id"],
    }
    if record["before"] is not None:
        data["previous"] = record["before"]
    data.update(record["after"] or {})
    return {
        "organization_id": organization_id,
        "type": kind,
        "subject_id": record["entity_id"],
        "key": f"{kind}:{record['entity_id']}:audit-",  # + the record's id
        "payload": data,
        "created_at": record["at"],
        "dispatched_at": None,
    }


#: The session's invoices without their number yet (`services.billing.issue`): the events of
#: payments against them wait until the number is taken (`release_payment_events`).
_HELD_FOR_NUMBERS = "abonnement_unnumbered_invoices"
_HELD = "abonnement_held_payment_events"


def hold_payment_events(session: Session, invoice_id: int) -> None:
    """The events of payments against this invoice wait for its number."""
    session.info.setdefault(_HELD_FOR_NUMBERS, set()).add(invoice_id)


def release_payment_events(session: Session) -> None:
    """Write the events held for invoices that now have their numbers, in payment order."""
    session.info.pop(_HELD_FOR_NUMBERS, None)
    held: list[m.Payment] = session.info.pop(_HELD, [])
    if held:
        connection = session.connection()
        for payment in held:
            _announce(connection, payment)


@event.listens_for(m.Payment, "after_insert")
def _payment_inserted(_mapper: Mapper[Any], connection: Connection, payment: m.Payment) -> None:
    """A charge or refund announces itself in the flush that inserts it (or, when it pays an
    invoice not numbered yet, once that invoice has its number: the event names it)."""
    session = object_session(payment)
    if session is not None and payment.invoice_id in session.info.get(_HELD_FOR_NUMBERS, ()):
        session.info.setdefault(_HELD, []).append(payment)
        return
    _announce(connection, payment)


def _announce(connection: Connection, payment: m.Payment) -> None:
    if payment.kind == "refund":
        if payment.status != "succeeded":
            return
        kind = EventType.PAYMENT_REFUNDED
    elif payment.status == "succeeded":
        kind = EventType.PAYMENT_SUCCEEDED
    elif payment.status in ("declined", "failed"):
        kind = EventType.PAYMENT_FAILED
    else:  # pending: a transfer against an invoice, or a preview
        return
    organization_id = connection.scalar(
        select(m.BillingAccount.organization_id).where(
            m.BillingAccount.id == payment.billing_account_id
        )
    )
    invoice = (
        connection.scalar(select(m.Invoice.number).where(m.Invoice.id == payment.invoice_id))
        if payment.invoice_id
        else None
    )
    connection.execute(
        insert(m.Event).values(
            organization_id=organization_id,
            type=kind,
            subject_id=str(payment.id),
            key=f"{kind}:{payment.id}",
            payload={
                "object": "payment",
                "id": payment.id,
                "kind": payment.kind,
                "purpose": payment.purpose,
                "status": payment.status,
                "amount": payment.amount_minor,
                "currency": payment.currency,
                "invoice": invoice,
                "decline_code": payment.decline_code,
                "refund_of": payment.refund_of_id,
            },
            created_at=payment.created_at,
        )
    )


# reading -----------------------------------------------------------------------------------------
class EventView(View):
    id: int
    type: str
    organization_id: int
    subject_id: str
    created_at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, row: m.Event) -> EventView:
        return cls(
            id=row.id,
            type=row.type,
            organization_id=row.organization_id,
            subject_id=row.subject_id,
            created_at=row.created_at,
            data=row.payload,
        )


def list_events(
    ctx: Context,
    organization_id: int | None = None,
    *,
    types: list[str] | None = None,
    limit: int = 20,
    starting_after: int | None = None,
) -> tuple[list[EventView], bool]:
    """Events newest first, a page at a time (`starting_after` an event id): every
    organization's for the operator, one organization's for its admins who may read its
    subscriptions. `types` keeps those types (`subscription.*` keeps a family)."""
    if organization_id is None:
        ctx.require_operator("list_events")
    else:
        org = ctx.organization(organization_id)
        ctx.authorize(org.id, Action.READ_SUBSCRIPTIONS)
    if not 1 <= limit <= 100:
        raise error(Code.INVALID_INPUT, field="limit", problem="use 1-100")
    query = select(m.Event).order_by(m.Event.id.desc()).limit(limit + 1)
    if organization_id is not None:
        query = query.where(m.Event.organization_id == organization_id)
    if starting_after is not None:
        query = query.where(m.Event.id < starting_after)
    if types:
        exact = [t for t in types if not t.endswith("*")]
        families = [t[:-1] for t in types if t.endswith("*")]
        conditions: list[ColumnElement[bool]] = [m.Event.type.in_(exact)] if exact else []
        conditions += [m.Event.type.startswith(prefix, autoescape=True) for prefix in families]
        query = query.where(or_(*conditions))
    rows = list(ctx.uow.session.scalars(query))
    return [EventView.of(r) for r in rows[:limit]], len(rows) > limit


def matches(patterns: list[str], kind: str) -> bool:
    """Whether an event type is among an endpoint's: exact, `*`, or a family `subscription.*`."""
    for pattern in patterns:
        if pattern == "*" or pattern == kind:
            return True
        if pattern.endswith(".*") and kind.startswith(pattern[:-1]):
            return True
    return False
