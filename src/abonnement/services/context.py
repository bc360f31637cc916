"""Who is calling, what they may touch, and the helpers every use case shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from abonnement.clock import Clock, FixedClock, local_date
from abonnement.domain import catalog as dc
from abonnement.domain.errors import Code, Refusal, error, from_refusal
from abonnement.domain.money import Money
from abonnement.domain.roles import Action, Role, allowed
from abonnement.domain.subscriptions import SubscriptionFacts
from abonnement.services import events
from abonnement.store import models as m
from abonnement.store.repository import Change
from abonnement.store.uow import UnitOfWork


class ActorKind(StrEnum):
    OPERATOR = "operator"  # the vendor: catalog, organizations, everything
    USER = "user"  # an organization's admin, acting within their roles


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    label: str
    organization_id: int | None = None
    user_id: int | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)

    @classmethod
    def operator(cls, label: str = "operator") -> Actor:
        return cls(ActorKind.OPERATOR, label)

    @property
    def is_operator(self) -> bool:
        return self.kind is ActorKind.OPERATOR


#: Before the caller is known (signing in, authenticating a key): an actor that can see and do
#: nothing.
ANONYMOUS = Actor(ActorKind.USER, "anonymous")


@dataclass
class Context:
    """What a use case runs with: the unit of work, the clock and the caller."""

    uow: UnitOfWork
    clock: Clock
    actor: Actor
    #: A preview: the same code runs, nothing is charged or refunded, and the caller rolls back.
    dry_run: bool = False
    # -- test clocks (services/clocks.py) --------------------------------------------------------
    #: Once a use case has loaded its organization (organization(), subscription(), user()), now()
    #: and today() read that organization's test clock, if one is attached. `clock_pinned` skips
    #: the lookup: the billing run brings the clock of the day it is doing.
    clock_pinned: bool = False
    #: What this run's charges are known by at the processor (`app.ChargeScope`); None outside
    #: `Abonnement.run`, where a charge goes by its invoice's number.
    charge_scope: str | None = None
    _charges: int = field(default=0, init=False, repr=False)
    _organization_id: int | None = field(default=None, init=False, repr=False)
    _test_clocks: dict[int, Clock | None] = field(default_factory=dict, init=False, repr=False)

    def charge_reference(self) -> str | None:
        """The reference of this run's next charge (`{scope}-{n}`): the same charge gets the same
        reference when the run is done again, after a deadlock or as a retried request."""
        if self.charge_scope is None:
            return None
        self._charges += 1
        return f"{self.charge_scope}-{self._charges}"

    def _clock_of(self, organization_id: int | None) -> Clock:
        if self.clock_pinned or organization_id is None:
            return self.clock
        if organization_id not in self._test_clocks:
            read = self.uow.organizations_read
            at = (
                read[organization_id]
                if organization_id in read
                else self.uow.session.scalar(
                    select(m.TestClock.now).where(m.TestClock.organization_id == organization_id)
                )
            )
            self._test_clocks[organization_id] = FixedClock(at) if at is not None else None
        return self._test_clocks[organization_id] or self.clock

    def _loaded(self, organization_id: int) -> None:
        if self._organization_id is None:
            self._organization_id = organization_id

    def now(self) -> datetime:
        return self._clock_of(self._organization_id).now()

    def today(self, organization: m.Organization) -> date:
        return local_date(self._clock_of(organization.id).now(), organization.time_zone)

    # authorization ------------------------------------------------------------------------
    def require_operator(self, action: str) -> None:
        if not self.actor.is_operator:
            raise error(Code.PERMISSION_DENIED, action=action)

    def authorize(self, organization_id: int, action: Action) -> None:
        """R1 and tenancy: the caller must belong to the organization and hold a role that may
        take the action. Another organization's data is reported as not found."""
        if self.actor.is_operator:
            return
        if self.actor.organization_id != organization_id:
            raise error(Code.NOT_FOUND, entity="organization", id=organization_id)
        if not allowed(self.actor.roles, action):
            raise error(Code.PERMISSION_DENIED, action=action.value)

    def visible(self, organization_id: int) -> bool:
        return self.actor.is_operator or self.actor.organization_id == organization_id

    # loading with tenancy -----------------------------------------------------------------
    def organization(self, organization_id: int) -> m.Organization:
        if self.clock_pinned or organization_id in self._test_clocks:
            org = self.uow.organizations.get(organization_id)
        else:  # the organization and its test clock in one read
            found = self.uow.organizations.with_test_clock(organization_id)
            org = found[0] if found else None
            if found is not None:
                at = found[1]
                self._test_clocks[organization_id] = FixedClock(at) if at is not None else None
        if org is None or not self.visible(org.id):
            raise error(Code.NOT_FOUND, entity="organization", id=organization_id)
        self._loaded(org.id)
        return org

    def organization_ref(self, organization_id: int) -> int:
        """`organization()` for a use case that needs only the organization's id (and its test
        clock): the same checks, without loading the organization."""
        orgs = self.uow.organizations
        read = self.uow.organizations_read
        if organization_id in read:  # read in this transaction, with its clock (authentication)
            found = True
            if not self.clock_pinned and organization_id not in self._test_clocks:
                at = read[organization_id]
                self._test_clocks[organization_id] = FixedClock(at) if at is not None else None
        elif self.clock_pinned or organization_id in self._test_clocks:
            found = orgs.exists(organization_id)
        else:
            ref = orgs.ref_with_test_clock(organization_id)
            found = ref is not None
            if ref is not None:
                at = ref[1]
                self._test_clocks[organization_id] = FixedClock(at) if at is not None else None
        if not found or not self.visible(organization_id):
            raise error(Code.NOT_FOUND, entity="organization", id=organization_id)
        self._loaded(organization_id)
        return organization_id

    def subscription(self, subscription_id: int, *, lock: bool = False) -> m.Subscription:
        sub = self.uow.subscriptions.get(subscription_id, lock=lock)
        if sub is None or not self.visible(sub.organization_id):
            raise error(Code.NOT_FOUND, entity="subscription", id=subscription_id)
        self._loaded(sub.organization_id)
        return sub

    def user(self, user_id: int) -> m.User:
        user = self.uow.users.get(user_id)
        if user is None or not self.visible(user.organization_id):
            raise error(Code.NOT_FOUND, entity="user", id=user_id)
        self._loaded(user.organization_id)
        return user

    def offer(self, code: str) -> m.Offer:
        offer = self.uow.catalog.offer_by_code(code)
        if offer is None:
            raise error(Code.NOT_FOUND, entity="offer", id=code)
        return offer

    # audit --------------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        entity: str,
        entity_id: object,
        *,
        organization_id: int | None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        change: Change | None = None,
    ) -> None:
        """Every change leaves a record: who, what, when, before and after; and the changes a
        webhook receiver cares about leave an event beside it (services/events.py). `change`,
        the statement that makes the change, if it is not written yet, runs first: on
        PostgreSQL in the record's own statement (one round trip for both)."""
        record: dict[str, Any] = {
            "organization_id": organization_id,
            "actor": self.actor.label,
            "actor_user_id": self.actor.user_id,
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "before": dict(before) if before is not None else None,
            "after": dict(after) if after is not None else None,
            "at": self.now(),
        }
        self.uow.session.flush()  # what the record speaks of is written first
        self.uow.audit.insert(record, events.for_audit(self, record), change)


def record_change(ctx: Context, action: str, sub: m.Subscription, before: dict[str, Any]) -> None:
    """Flush a subscription change and audit it with its before and after."""
    ctx.uow.subscriptions.flush()
    ctx.audit(
        action,
        "subscription",
        sub.id,
        organization_id=sub.organization_id,
        before=before,
        after=snapshot(sub),
    )


def refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise from_refusal(refusal)


def invalid(field_name: str, problem: str) -> Exception:
    return error(Code.INVALID_INPUT, field=field_name, problem=problem)


# ORM -> domain ------------------------------------------------------------------------------
def offer_to_domain(offer: m.Offer) -> dc.Offer:
    trial = (
        dc.TrialTerms(days=offer.trial_days, licenses=offer.trial_licenses)
        if offer.trial_days and offer.trial_licenses
        else None
    )
    return dc.Offer(
        code=offer.code,
        product_sku=offer.product.sku,
        name=offer.name,
        prices={p.currency: Money.of(p.amount_minor, p.currency) for p in offer.prices},
        term=offer.term,
        billing_frequency=offer.billing_frequency,
        trial=trial,
        cancellation_model=offer.cancellation_model,
        cancellation_window_days=offer.cancellation_window_days,
        online_cancel_limit=offer.online_cancel_limit,
        channels=frozenset(dc.PurchaseChannel(c) for c in offer.channels.split(",") if c),
        end_of_sale=offer.end_of_sale,
        min_quantity=offer.min_quantity,
        max_quantity=offer.max_quantity,
        expired_days=offer.expired_days,
        disabled_days=offer.disabled_days,
    )


def facts(sub: m.Subscription, assigned: int) -> SubscriptionFacts:
    return SubscriptionFacts(
        status=sub.status,
        channel=sub.channel,
        quantity=sub.quantity,
        assigned=assigned,
        prepaid_quantity=sub.prepaid_quantity,
        recurring_billing=sub.recurring_billing,
        credit_check_pending=sub.credit_check_pending,
        term_start=sub.term_start,
        term_end=sub.term_end,
        last_increase_on=sub.last_increase_on,
        quantity_before_last_increase=sub.quantity_before_last_increase,
        pending_quantity=sub.pending_quantity,
        pending_effective=sub.pending_effective,
        trial_extended=sub.trial_extended,
    )


def snapshot(sub: m.Subscription) -> dict[str, Any]:
    """The audit view of a subscription."""
    return {
        "status": sub.status.value,
        "channel": sub.channel.value,
        "offer": sub.offer.code if sub.offer else None,
        "quantity": sub.quantity,
        "prepaid_quantity": sub.prepaid_quantity,
        "recurring_billing": sub.recurring_billing,
        "credit_check_pending": sub.credit_check_pending,
        "term_start": sub.term_start.isoformat(),
        "term_end": sub.term_end.isoformat(),
        "pending_quantity": sub.pending_quantity,
        "pending_effective": sub.pending_effective.isoformat() if sub.pending_effective else None,
    }
