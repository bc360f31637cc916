"""What use cases return: plain, serializable views (never ORM rows). Reasons carry codes and
context; adapters turn them into words in the caller's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from abonnement.domain.errors import Refusal
from abonnement.domain.policies import Availability
from abonnement.store import models as m


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReasonView(View):
    code: str
    context: dict[str, Any] = {}

    @classmethod
    def of(cls, refusal: Refusal) -> ReasonView:
        return cls(code=refusal.code.value, context=dict(refusal.context))


class AvailabilityView(View):
    can_buy: bool
    can_remove: bool
    buy_reasons: list[ReasonView]
    remove_reasons: list[ReasonView]

    @classmethod
    def of(cls, availability: Availability) -> AvailabilityView:
        return cls(
            can_buy=availability.can_buy,
            can_remove=availability.can_remove,
            buy_reasons=[ReasonView.of(r) for r in availability.buy_reasons],
            remove_reasons=[ReasonView.of(r) for r in availability.remove_reasons],
        )


class OrganizationView(View):
    id: int
    name: str
    country: str
    currency: str
    time_zone: str
    locale: str
    created_at: datetime

    @classmethod
    def of(cls, org: m.Organization) -> OrganizationView:
        return cls(
            id=org.id,
            name=org.name,
            country=org.country,
            currency=org.currency,
            time_zone=org.time_zone,
            locale=org.locale,
            created_at=org.created_at,
        )


class UserView(View):
    id: int
    organization_id: int
    email: str
    display_name: str
    locale: str | None
    roles: list[str]
    licenses: list[str] = []

    @classmethod
    def of(cls, user: m.User, licenses: list[str] | None = None) -> UserView:
        return cls(
            id=user.id,
            organization_id=user.organization_id,
            email=user.email,
            display_name=user.display_name,
            locale=user.locale,
            roles=[r.role.value for r in user.roles],
            licenses=licenses or [],
        )


class ServicePlanView(View):
    code: str
    name: str


class ProductView(View):
    id: int
    sku: str
    name: str
    service_plans: list[ServicePlanView]

    @classmethod
    def of(cls, product: m.Product) -> ProductView:
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            service_plans=[
                ServicePlanView(code=p.code, name=p.name) for p in product.service_plans
            ],
        )


class OfferView(View):
    id: int
    code: str
    product_sku: str
    name: str
    prices: dict[str, int]  # currency -> minor units per license per billing period
    term: str
    billing_frequency: str
    trial_days: int | None
    trial_licenses: int | None
    cancellation_model: str
    cancellation_window_days: int
    online_cancel_limit: int
    channels: list[str]
    end_of_sale: bool
    min_quantity: int
    max_quantity: int

    @classmethod
    def of(cls, offer: m.Offer) -> OfferView:
        return cls(
            id=offer.id,
            code=offer.code,
            product_sku=offer.product.sku,
            name=offer.name,
            prices={p.currency: p.amount_minor for p in offer.prices},
            term=offer.term.value,
            billing_frequency=offer.billing_frequency.value,
            trial_days=offer.trial_days,
            trial_licenses=offer.trial_licenses,
            cancellation_model=offer.cancellation_model.value,
            cancellation_window_days=offer.cancellation_window_days,
            online_cancel_limit=offer.online_cancel_limit,
            channels=[c for c in offer.channels.split(",") if c],
            end_of_sale=offer.end_of_sale,
            min_quantity=offer.min_quantity,
            max_quantity=offer.max_quantity,
        )


class PaymentMethodView(View):
    id: int
    organization_id: int
    kind: str
    label: str
    is_default: bool
    is_backup: bool = False  # tried right after the default one when a renewal is declined

    @classmethod
    def of(cls, method: m.PaymentMethod) -> PaymentMethodView:
        return cls(
            id=method.id,
            organization_id=method.organization_id,
            kind=method.kind,
            label=method.label,
            is_default=method.is_default,
            is_backup=method.is_backup and not method.is_default,
        )


class SubscriptionView(View):
    id: int
    organization_id: int
    offer: str
    offer_name: str
    product_sku: str
    status: str
    channel: str
    currency: str
    quantity: int
    assigned: int
    available: int
    prepaid_quantity: int
    recurring_billing: bool
    credit_check_pending: bool
    term_start: date
    term_end: date
    pending_quantity: int | None
    pending_effective: date | None
    partner_name: str | None
    agreement_number: str | None
    switched_to_id: int | None
    availability: AvailabilityView

    @classmethod
    def of(cls, sub: m.Subscription, assigned: int, availability: Availability) -> SubscriptionView:
        return cls(
            id=sub.id,
            organization_id=sub.organization_id,
            offer=sub.offer.code,
            offer_name=sub.offer.name,
            product_sku=sub.offer.product.sku,
            status=sub.status.value,
            channel=sub.channel.value,
            currency=sub.currency,
            quantity=sub.quantity,
            assigned=assigned,
            available=max(sub.quantity - assigned, 0),
            prepaid_quantity=sub.prepaid_quantity,
            recurring_billing=sub.recurring_billing,
            credit_check_pending=sub.credit_check_pending,
            term_start=sub.term_start,
            term_end=sub.term_end,
            pending_quantity=sub.pending_quantity,
            pending_effective=sub.pending_effective,
            partner_name=sub.partner_name,
            agreement_number=sub.agreement_number,
            switched_to_id=sub.switched_to_id,
            availability=AvailabilityView.of(availability),
        )


class QuantityChangeView(View):
    kind: str  # unchanged, buy, remove
    previous: int
    quantity: int  # in effect now
    scheduled_quantity: int | None
    scheduled_on: date | None
    subscription: SubscriptionView


class CancellationView(View):
    outcome: str  # now, at_term_end
    ends_on: date | None
    prorated_return: bool
    subscription: SubscriptionView


class SwitchView(View):
    old: SubscriptionView
    new: SubscriptionView
    moved_user_ids: list[int]


class LicenseCountsView(View):
    """One product's licenses, all its subscriptions together: how many, assigned, available."""

    product_sku: str
    product_name: str
    total: int
    assigned: int
    available: int
    subscription_ids: list[int]


class LicenseView(LicenseCountsView):
    """The Licenses page: one product, all its subscriptions together, and who holds them."""

    user_ids: list[int]


class AssignmentResultView(View):
    """What an assignment did: the users it was for, and the product's counts after it."""

    product_sku: str
    user_ids: list[int]
    license: LicenseCountsView


class RedemptionView(View):
    keys: int
    licenses_added: int
    subscription: SubscriptionView


class GeneratedKeysView(View):
    offer: str
    licenses_per_key: int
    keys: list[str]


class CallbackView(View):
    id: int
    organization_id: int
    subscription_id: int
    requested_by_user_id: int | None
    phone: str
    note: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, row: m.CallbackRequest) -> CallbackView:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            subscription_id=row.subscription_id,
            requested_by_user_id=row.requested_by_user_id,
            phone=row.phone,
            note=row.note,
            status=row.status,
            created_at=row.created_at,
        )


class AuditView(View):
    id: int
    organization_id: int | None
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime

    @classmethod
    def of(cls, row: m.AuditRecord) -> AuditView:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
            at=row.at,
        )


class InvoiceLineView(View):
    id: int
    subscription_id: int
    kind: str
    description: str
    period_start: date
    period_end: date
    start: date
    end: date
    days: int
    period_days: int
    quantity: int
    unit_price: int
    amount: int
    reverses_id: int | None

    @classmethod
    def of(cls, line: m.InvoiceLine) -> InvoiceLineView:
        return cls(
            id=line.id,
            subscription_id=line.subscription_id,
            kind=line.kind,
            description=line.description,
            period_start=line.period_start,
            period_end=line.period_end,
            start=line.start,
            end=line.end,
            days=(line.end - line.start).days,
            period_days=(line.period_end - line.period_start).days,
            quantity=line.quantity,
            unit_price=line.unit_price_minor,
            amount=line.amount_minor,
            reverses_id=line.reverses_id,
        )


class InvoiceView(View):
    """An issued invoice or credit note. Amounts are in the currency's minor unit."""

    id: int
    number: str
    kind: str
    reason: str
    organization_id: int
    issue_date: date
    due_date: date
    period_start: date
    period_end: date
    currency: str
    subtotal: int
    tax_rate_bp: int
    tax: int
    total: int
    sold_to: dict[str, Any]
    bill_to: dict[str, Any]
    lines: list[InvoiceLineView]

    @classmethod
    def of(cls, invoice: m.Invoice) -> InvoiceView:
        return cls(
            id=invoice.id,
            number=invoice.number,
            kind=invoice.kind,
            reason=invoice.reason,
            organization_id=invoice.organization_id,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            currency=invoice.currency,
            subtotal=invoice.subtotal_minor,
            tax_rate_bp=invoice.tax_rate_bp,
            tax=invoice.tax_minor,
            total=invoice.total_minor,
            sold_to=invoice.sold_to,
            bill_to=invoice.bill_to,
            lines=[InvoiceLineView.of(line) for line in invoice.lines],
        )


class PaymentView(View):
    id: int
    kind: str  # charge, refund
    purpose: str
    status: str
    amount: int
    currency: str
    invoice_id: int | None
    processor_ref: str | None
    decline_code: str | None
    created_at: datetime

    @classmethod
    def of(cls, payment: m.Payment) -> PaymentView:
        return cls(
            id=payment.id,
            kind=payment.kind,
            purpose=payment.purpose,
            status=payment.status,
            amount=payment.amount_minor,
            currency=payment.currency,
            invoice_id=payment.invoice_id,
            processor_ref=payment.processor_ref,
            decline_code=payment.decline_code,
            created_at=payment.created_at,
        )


class LedgerEntryView(View):
    """One posting of the organization's ledger: debit > 0, credit < 0. The postings of one
    transaction always add up to zero."""

    id: int
    transaction: str
    kind: str  # invoice, payment, refund
    account: str  # receivable, revenue, tax, cash, ...
    amount: int
    currency: str
    invoice_id: int | None
    payment_id: int | None
    at: datetime

    @classmethod
    def of(cls, entry: m.LedgerEntry) -> LedgerEntryView:
        return cls(
            id=entry.id,
            transaction=entry.transaction,
            kind=entry.kind,
            account=entry.account,
            amount=entry.amount_minor,
            currency=entry.currency,
            invoice_id=entry.invoice_id,
            payment_id=entry.payment_id,
            at=entry.at,
        )


class BalanceView(View):
    """The organization's balance from its ledger: owed > 0, credit < 0, per account."""

    organization_id: int
    currency: str
    receivable: int
    accounts: dict[str, int]


class BillingAccountView(View):
    id: int
    organization_id: int
    currency: str
    country: str
    tax_rate_bp: int
    payment_terms_days: int
    bill_to_name: str
    bill_to_address: str

    @classmethod
    def of(cls, account: m.BillingAccount) -> BillingAccountView:
        return cls(
            id=account.id,
            organization_id=account.organization_id,
            currency=account.currency,
            country=account.country,
            tax_rate_bp=account.tax_rate_bp,
            payment_terms_days=account.payment_terms_days,
            bill_to_name=account.bill_to_name,
            bill_to_address=account.bill_to_address,
        )
