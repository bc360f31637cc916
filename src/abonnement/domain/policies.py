"""Policies: what may be done to a subscription, and why not. Facts in, typed decisions out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from abonnement.domain.catalog import CancellationModel, Offer, PurchaseChannel
from abonnement.domain.errors import Code, Refusal
from abonnement.domain.subscriptions import Status, SubscriptionFacts


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether Buy licenses and Remove licenses are offered, each with its reasons (R5)."""

    can_buy: bool
    can_remove: bool
    buy_reasons: tuple[Refusal, ...]
    remove_reasons: tuple[Refusal, ...]


def _channel_refusals(facts: SubscriptionFacts) -> list[Refusal]:
    """Refusals shared by every commerce action: trial, status, partner, agreement."""
    if facts.status is Status.TRIAL:
        return [Refusal(Code.TRIAL_BUY_FIRST)]
    if facts.status is not Status.ACTIVE:
        return [Refusal(Code.SUBSCRIPTION_NOT_ACTIVE, {"status": facts.status.value})]
    if facts.channel is PurchaseChannel.RESELLER:
        return [Refusal(Code.MANAGED_BY_RESELLER)]
    if facts.channel is PurchaseChannel.VOLUME:
        return [Refusal(Code.MANAGED_BY_VOLUME_LICENSING)]
    return []


def availability(
    facts: SubscriptionFacts, offer: Offer, *, has_payment_method: bool
) -> Availability:
    """R5: Buy/Remove are unavailable during a credit check, for prepaid (key) subscriptions,
    through a reseller and for trials; buying also stops at the end of sale. Computed, never
    guessed by a screen."""
    common = _channel_refusals(facts)
    buy: list[Refusal] = list(common)
    remove: list[Refusal] = list(common)
    if not common:
        if facts.credit_check_pending:
            buy.append(Refusal(Code.CREDIT_CHECK_PENDING))
            remove.append(Refusal(Code.CREDIT_CHECK_PENDING))
        if facts.channel is PurchaseChannel.PREPAID:
            if not has_payment_method:
                buy.append(Refusal(Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD))
            if facts.quantity <= facts.prepaid_quantity:
                remove.append(
                    Refusal(
                        Code.PREPAID_LICENSES_CANNOT_BE_REMOVED,
                        {"prepaid": facts.prepaid_quantity},
                    )
                )
        elif not has_payment_method:
            buy.append(Refusal(Code.PAYMENT_METHOD_REQUIRED))
        if offer.end_of_sale:
            buy.append(Refusal(Code.OFFER_END_OF_SALE, {"offer": offer.name}))
        if facts.quantity >= offer.max_quantity:
            buy.append(
                Refusal(
                    Code.QUANTITY_OUT_OF_RANGE,
                    {"minimum": offer.min_quantity, "maximum": offer.max_quantity},
                )
            )
        if not any(r.code is Code.PREPAID_LICENSES_CANNOT_BE_REMOVED for r in remove):
            if facts.quantity <= offer.min_quantity:
                remove.append(Refusal(Code.QUANTITY_AT_MINIMUM, {"minimum": offer.min_quantity}))
            elif facts.assigned >= facts.quantity:
                remove.append(Refusal(Code.ALL_LICENSES_ASSIGNED, {"assigned": facts.assigned}))
    return Availability(not buy, not remove, tuple(buy), tuple(remove))


class QuantityChangeKind(StrEnum):
    UNCHANGED = "unchanged"
    BUY = "buy"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class QuantityDecision:
    """What setting a new total does: licenses bought now, removed now, and removed at renewal.

    `now_quantity` takes effect today; `scheduled_quantity` (windowed offers, outside the window)
    takes effect on `scheduled_on`, the renewal date.
    """

    kind: QuantityChangeKind
    previous: int
    now_quantity: int
    scheduled_quantity: int | None = None
    scheduled_on: date | None = None

    @property
    def delta(self) -> int:
        return (self.scheduled_quantity or self.now_quantity) - self.previous


def in_window(start: date | None, today: date, window_days: int) -> bool:
    """Whether `today` is inside the window that opened on `start` (the start day counts)."""
    return start is not None and start <= today < start + timedelta(days=window_days)


def removable_now_floor(facts: SubscriptionFacts, offer: Offer, today: date) -> int:
    """The lowest quantity a reduction may reach today, before R4 and prepaid limits.

    Classic offers reduce at any time. Windowed offers reduce freely within the window after
    purchase or renewal; within the window after adding licenses, only those added licenses.
    """
    if offer.cancellation_model is CancellationModel.CLASSIC:
        return offer.min_quantity
    if in_window(facts.term_start, today, offer.cancellation_window_days):
        return offer.min_quantity
    if facts.quantity_before_last_increase is not None and in_window(
        facts.last_increase_on, today, offer.cancellation_window_days
    ):
        return max(facts.quantity_before_last_increase, offer.min_quantity)
    return facts.quantity


def decide_quantity(
    facts: SubscriptionFacts,
    offer: Offer,
    new_total: int,
    today: date,
    *,
    has_payment_method: bool,
) -> QuantityDecision | Refusal:
    """R3: the admin states the new total. R4: never below the assigned licenses. R5: the
    availability reasons. Windowed offers schedule what can't be removed today for renewal."""
    if not offer.min_quantity <= new_total <= offer.max_quantity:
        return Refusal(
            Code.QUANTITY_OUT_OF_RANGE,
            {"minimum": offer.min_quantity, "maximum": offer.max_quantity},
        )
    if new_total == facts.quantity:
        return QuantityDecision(QuantityChangeKind.UNCHANGED, facts.quantity, facts.quantity)
    avail = availability(facts, offer, has_payment_method=has_payment_method)
    if new_total > facts.quantity:
        if avail.buy_reasons:
            return avail.buy_reasons[0]
        return QuantityDecision(QuantityChangeKind.BUY, facts.quantity, new_total)
    # Why removal is unavailable at all comes first; then the floor of the assigned licenses.
    not_about_counts = (Code.QUANTITY_AT_MINIMUM, Code.ALL_LICENSES_ASSIGNED)
    blocking = [r for r in avail.remove_reasons if r.code not in not_about_counts]
    if blocking:
        return blocking[0]
    if new_total < facts.assigned:
        return Refusal(
            Code.QUANTITY_BELOW_ASSIGNED, {"assigned": facts.assigned, "requested": new_total}
        )
    if new_total < facts.prepaid_quantity:
        return Refusal(Code.PREPAID_LICENSES_CANNOT_BE_REMOVED, {"prepaid": facts.prepaid_quantity})
    floor = removable_now_floor(facts, offer, today)
    if new_total >= floor:
        return QuantityDecision(QuantityChangeKind.REMOVE, facts.quantity, new_total)
    # Windowed: remove what the window still allows today, schedule the rest for renewal.
    return QuantityDecision(
        QuantityChangeKind.REMOVE,
        facts.quantity,
        now_quantity=max(floor, new_total) if floor < facts.quantity else facts.quantity,
        scheduled_quantity=new_total,
        scheduled_on=facts.term_end,
    )


class CancelOutcome(StrEnum):
    NOW = "now"  # ends today; unused time comes back as credit or refund
    AT_TERM_END = "at_term_end"  # recurring billing off; ends when the term does


@dataclass(frozen=True, slots=True)
class CancelDecision:
    outcome: CancelOutcome
    new_status: Status | None  # the status now, or None when it changes only at term end
    prorated_return: bool  # whether the unused time is credited or refunded
    ends_on: date | None


def decide_cancellation(
    facts: SubscriptionFacts, offer: Offer, today: date
) -> CancelDecision | Refusal:
    """R14: a trial has nothing to cancel. R10: partners and agreements cancel their own.
    R15: online only with at most the offer's limit of assigned licenses. R8: windowed offers
    cancel now only inside the window after purchase or renewal, otherwise at term end."""
    if facts.status is Status.TRIAL:
        return Refusal(Code.TRIAL_NOTHING_TO_CANCEL)
    if facts.channel is PurchaseChannel.RESELLER:
        return Refusal(Code.MANAGED_BY_RESELLER)
    if facts.channel is PurchaseChannel.VOLUME:
        return Refusal(Code.MANAGED_BY_VOLUME_LICENSING)
    if facts.status is not Status.ACTIVE:
        return Refusal(Code.SUBSCRIPTION_NOT_ACTIVE, {"status": facts.status.value})
    if facts.assigned > offer.online_cancel_limit:
        return Refusal(
            Code.OVER_ONLINE_CANCEL_LIMIT,
            {"assigned": facts.assigned, "limit": offer.online_cancel_limit},
        )
    if facts.channel is PurchaseChannel.PREPAID or (
        offer.cancellation_model is CancellationModel.WINDOWED
        and not in_window(facts.term_start, today, offer.cancellation_window_days)
    ):
        if not facts.recurring_billing:
            return Refusal(Code.ALREADY_ENDING, {"ends_on": _iso(facts.term_end)})
        return CancelDecision(CancelOutcome.AT_TERM_END, None, False, facts.term_end)
    return CancelDecision(CancelOutcome.NOW, Status.DISABLED, True, today)


def check_recurring_billing(facts: SubscriptionFacts) -> Refusal | None:
    """Recurring billing is the customer's to turn off and on, except for partner, agreement
    and trial subscriptions, and only while the subscription runs."""
    if facts.status is Status.TRIAL:
        return Refusal(Code.TRIAL_BUY_FIRST)
    if facts.channel is PurchaseChannel.RESELLER:
        return Refusal(Code.MANAGED_BY_RESELLER)
    if facts.channel is PurchaseChannel.VOLUME:
        return Refusal(Code.MANAGED_BY_VOLUME_LICENSING)
    if facts.status is not Status.ACTIVE:
        return Refusal(Code.SUBSCRIPTION_NOT_ACTIVE, {"status": facts.status.value})
    return None


def check_reactivate(facts: SubscriptionFacts) -> Refusal | None:
    if facts.status not in (Status.EXPIRED, Status.DISABLED):
        return Refusal(Code.CANNOT_REACTIVATE, {"status": facts.status.value})
    if facts.channel is PurchaseChannel.RESELLER:
        return Refusal(Code.MANAGED_BY_RESELLER)
    if facts.channel is PurchaseChannel.VOLUME:
        return Refusal(Code.MANAGED_BY_VOLUME_LICENSING)
    return None


def check_switch(
    facts: SubscriptionFacts,
    source: Offer,
    target: Offer,
    target_quantity: int,
    currency_code: str,
) -> Refusal | None:
    """R9 preconditions for switching plan: a running, self-managed subscription with no
    pending change or credit check, a target that is on sale in the currency, and enough
    licenses on the target for everyone assigned."""
    refusals = _channel_refusals(facts)
    if refusals:
        return refusals[0]
    if facts.channel is PurchaseChannel.PREPAID:
        return Refusal(Code.PREPAID_CANNOT_SWITCH)
    if facts.credit_check_pending:
        return Refusal(Code.CREDIT_CHECK_PENDING)
    if facts.pending_quantity is not None:
        return Refusal(Code.CHANGE_PENDING, {"effective": _iso(facts.pending_effective)})
    if target.code == source.code:
        return Refusal(Code.SAME_OFFER, {"offer": source.name})
    if target.end_of_sale:
        return Refusal(Code.OFFER_END_OF_SALE, {"offer": target.name})
    if not target.allows(PurchaseChannel.ONLINE):
        return Refusal(Code.CHANNEL_NOT_ALLOWED, {"offer": target.name, "channel": "online"})
    if target.price(currency_code) is None:
        return Refusal(Code.CURRENCY_NOT_OFFERED, {"offer": target.name, "currency": currency_code})
    if not target.min_quantity <= target_quantity <= target.max_quantity:
        return Refusal(
            Code.QUANTITY_OUT_OF_RANGE,
            {"minimum": target.min_quantity, "maximum": target.max_quantity},
        )
    if target_quantity < facts.assigned:
        return Refusal(
            Code.SWITCH_TOO_FEW_LICENSES,
            {"assigned": facts.assigned, "requested": target_quantity},
        )
    return None


def check_trial_extension(facts: SubscriptionFacts, offer: Offer, today: date) -> Refusal | None:
    """A trial extends once, and only within its last days (15 by default)."""
    terms = offer.trial
    within = terms.extend_within_days if terms else 0
    if (
        facts.status is not Status.TRIAL
        or terms is None
        or facts.trial_extended
        or facts.term_end is None
        or not facts.term_end - timedelta(days=within) <= today < facts.term_end
    ):
        return Refusal(Code.TRIAL_EXTENSION_UNAVAILABLE, {"within": within})
    return None


def check_assignable(status: Status) -> Refusal | None:
    """Licenses are assigned from running (trial or active) subscriptions only."""
    if status in (Status.TRIAL, Status.ACTIVE):
        return None
    return Refusal(Code.ASSIGNMENT_NOT_ALLOWED, {"status": status.value})


def _iso(day: date | None) -> str:
    return day.isoformat() if day else "-"
