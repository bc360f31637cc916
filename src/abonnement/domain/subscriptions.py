"""Subscription states, their allowed transitions, and the facts policies decide on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from abonnement.domain.catalog import PurchaseChannel


class Status(StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    EXPIRED = "expired"  # ended; everyone keeps access for a while (30 days by default)
    DISABLED = "disabled"  # admins only, no license assignment (90 days by default)
    DELETED = "deleted"  # gone for good


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    # a trial converts to paid, or expires by itself
    Status.TRIAL: frozenset({Status.ACTIVE, Status.EXPIRED, Status.DISABLED}),
    # term ends without renewal -> expired; cancelled now or payment failed -> disabled
    Status.ACTIVE: frozenset({Status.EXPIRED, Status.DISABLED}),
    # reactivated, or moved on after the expired days
    Status.EXPIRED: frozenset({Status.ACTIVE, Status.DISABLED}),
    Status.DISABLED: frozenset({Status.ACTIVE, Status.DELETED}),
    Status.DELETED: frozenset(),
}


class IllegalTransitionError(ValueError):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"a subscription cannot go from {current} to {target}")
        self.current = current
        self.target = target


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def transition(current: Status, target: Status) -> Status:
    """The new status, or IllegalTransitionError when the state machine has no such edge."""
    if not can_transition(current, target):
        raise IllegalTransitionError(current, target)
    return target


@dataclass(frozen=True, slots=True)
class SubscriptionFacts:
    """What the policies need to know about one subscription, as of a calendar day."""

    status: Status
    channel: PurchaseChannel
    quantity: int
    assigned: int
    prepaid_quantity: int = 0
    recurring_billing: bool = True
    credit_check_pending: bool = False
    term_start: date | None = None
    term_end: date | None = None
    last_increase_on: date | None = None
    quantity_before_last_increase: int | None = None
    pending_quantity: int | None = None
    pending_effective: date | None = None
    trial_extended: bool = False

    @property
    def unassigned(self) -> int:
        return max(self.quantity - self.assigned, 0)
