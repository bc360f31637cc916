"""What time does to a subscription: the decisions of the billing run, as pure functions.

On each day the run visits, it takes these steps, in this order (`Step`):

1. credit checks complete two business days after they started (R5, `businessdays`);
2. declined renewal charges are retried on the dunning schedule (+1, +3, +7, +14, +30 days after
   the decline), and after the last failed retry the subscription is disabled;
3. trials end: converted to paid when a payment method is on file, otherwise expired (R14);
4. terms end: recurring-on subscriptions renew (a reduction scheduled for renewal takes effect),
   recurring-off ones expire;
5. ended subscriptions move on: Expired for the offer's `expired_days` (30), then Disabled for its
   `disabled_days` (90), then Deleted;
6. a 90-day grace for more assigned licenses than the quantity ends, and is reported;
7. the statement of every billing date: the new period charged, changes restated (R7), credit
   refunded (R13).

Every transition goes through `subscriptions.transition` (the state machine's edges) and leaves
an event (`EventType`), the future webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from abonnement.domain.periods import Frequency, Period, add_months, period_containing
from abonnement.domain.subscriptions import Status, transition

#: Days after a declined renewal charge on which it is tried again; after the last, the
#: subscription is disabled.
DUNNING_SCHEDULE: tuple[int, ...] = (1, 3, 7, 14, 30)
#: Days an organization keeps every assigned license after a reduction left too few.
EXCESS_GRACE_DAYS = 90
#: At most this many days after a credit arises it is refunded, if no billing date comes first
#: (R11: "at most 30 days"; R13: "within the next billing cycle").
CREDIT_REFUND_DAYS = 30


class Step(StrEnum):
    """The billing run's steps, in the order it takes them on one day."""

    CREDIT_CHECK = "credit_check"
    DUNNING = "dunning"
    TRIAL_END = "trial_end"
    TERM_END = "term_end"
    LIFECYCLE = "lifecycle"
    GRACE_END = "grace_end"
    STATEMENT = "statement"


class EventType(StrEnum):
    """What the billing run tells the outside world (the webhook outbox)."""

    RENEWED = "subscription.renewed"
    REDUCED = "subscription.reduced"
    EXPIRED = "subscription.expired"
    DISABLED = "subscription.disabled"
    DELETED = "subscription.deleted"
    TRIAL_CONVERTED = "subscription.trial_converted"
    TRIAL_EXPIRED = "subscription.trial_expired"
    CREDIT_CHECK_COMPLETED = "subscription.credit_check_completed"
    OVER_ASSIGNED = "subscription.over_assigned"
    GRACE_ENDED = "subscription.grace_ended"
    INVOICE_ISSUED = "invoice.issued"
    PAYMENT_FAILED = "invoice.payment_failed"
    PAYMENT_RETRY_FAILED = "invoice.payment_retry_failed"
    PAYMENT_RECOVERED = "invoice.payment_recovered"
    CREDIT_REFUNDED = "credit.refunded"


# terms ------------------------------------------------------------------------------------------
class TermEnd(StrEnum):
    RENEW = "renew"
    EXPIRE = "expire"


def term_end_outcome(recurring_billing: bool) -> TermEnd:
    """Recurring billing on renews; off is not a cancel, and the subscription expires."""
    return TermEnd.RENEW if recurring_billing else TermEnd.EXPIRE


def next_term(anchor: date, term: Frequency, current: Period) -> Period:
    """The term after `current`: from its end to the next anniversary of `anchor`, clamped at
    month ends like billing periods (an anchor of 31 January gives 28 February, then 31 March).
    An anchor the current term does not line up with gives way to the current term's start."""
    for candidate in (anchor, current.start):
        following = period_containing(candidate, term, current.end)
        if following.start == current.end:
            return following
    return Period(current.end, add_months(current.end, term.months))


@dataclass(frozen=True, slots=True)
class Renewal:
    term: Period
    quantity: int
    reduced_from: int | None  # the quantity before a reduction scheduled for renewal


def renew(
    anchor: date,
    term: Frequency,
    current: Period,
    quantity: int,
    pending_quantity: int | None,
    pending_effective: date | None,
) -> Renewal:
    """A new term; a reduction scheduled for this renewal (or earlier) takes effect with it."""
    new_term = next_term(anchor, term, current)
    if (
        pending_quantity is not None
        and pending_quantity != quantity
        and (pending_effective is None or pending_effective <= new_term.start)
    ):
        return Renewal(new_term, pending_quantity, quantity)
    return Renewal(new_term, quantity, None)


# trials -----------------------------------------------------------------------------------------
class TrialEnd(StrEnum):
    CONVERT = "convert"
    EXPIRE = "expire"


def trial_end_outcome(has_payment_method: bool) -> TrialEnd:
    """R14: a trial expires by itself unless a payment method is given, which converts it."""
    return TrialEnd.CONVERT if has_payment_method else TrialEnd.EXPIRE


# after the end ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatusChange:
    on: date
    status: Status


def ended_step(
    status: Status, status_changed_on: date, expired_days: int, disabled_days: int
) -> StatusChange | None:
    """Expired → Disabled after the offer's expired days; Disabled → Deleted after its disabled
    days; None for a status that time does not move on."""
    if status is Status.EXPIRED:
        target, days = Status.DISABLED, expired_days
    elif status is Status.DISABLED:
        target, days = Status.DELETED, disabled_days
    else:
        return None
    return StatusChange(status_changed_on + timedelta(days=days), transition(status, target))


# dunning ----------------------------------------------------------------------------------------
def dunning_attempt_on(declined_on: date, retries_done: int) -> date | None:
    """The day of the next retry of a charge declined on `declined_on`, or None when every
    retry of the schedule has been made."""
    if retries_done < 0:
        raise ValueError("retries cannot be negative")
    if retries_done >= len(DUNNING_SCHEDULE):
        return None
    return declined_on + timedelta(days=DUNNING_SCHEDULE[retries_done])


def dunning_exhausted(retries_done: int) -> bool:
    return retries_done >= len(DUNNING_SCHEDULE)


# licenses over the quantity ---------------------------------------------------------------------
def excess(quantity: int, assigned: int) -> int:
    """Licenses assigned beyond the quantity (after a reduction took effect at renewal)."""
    return max(assigned - quantity, 0)


def grace_until(started_on: date) -> date:
    """The last day of grace is the day before this one: nobody loses access meanwhile."""
    return started_on + timedelta(days=EXCESS_GRACE_DAYS)


# credit -----------------------------------------------------------------------------------------
def credit_refund_due(arose_on: date, next_billing_date: date | None) -> date:
    """R11/R13: credit goes back on the next billing date, at most 30 days after it arose."""
    latest = arose_on + timedelta(days=CREDIT_REFUND_DAYS)
    return latest if next_billing_date is None else min(next_billing_date, latest)
