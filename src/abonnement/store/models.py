"""SQLAlchemy 2 models. Portable types only: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from abonnement.domain.catalog import CancellationModel, PurchaseChannel
from abonnement.domain.periods import Frequency
from abonnement.domain.roles import Role
from abonnement.domain.subscriptions import Status

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys that autoincrement on both databases.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _enum(enum_cls: type, name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    service_plans: Mapped[list[ServicePlan]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ServicePlan.code"
    )


class ServicePlan(Base):
    __tablename__ = "service_plans"
    __table_args__ = (UniqueConstraint("product_id", "code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class Offer(Base):
    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    term: Mapped[Frequency] = mapped_column(_enum(Frequency, "term"))
    billing_frequency: Mapped[Frequency] = mapped_column(_enum(Frequency, "billing_frequency"))
    trial_days: Mapped[int | None] = mapped_column(Integer)
    trial_licenses: Mapped[int | None] = mapped_column(Integer)
    cancellation_model: Mapped[CancellationModel] = mapped_column(
        _enum(CancellationModel, "cancellation_model")
    )
    cancellation_window_days: Mapped[int] = mapped_column(Integer, default=7)
    online_cancel_limit: Mapped[int] = mapped_column(Integer, default=25)
    channels: Mapped[str] = mapped_column(String(64))  # comma-separated PurchaseChannel values
    end_of_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    max_quantity: Mapped[int] = mapped_column(Integer, default=100_000)
    expired_days: Mapped[int] = mapped_column(Integer, default=30)
    disabled_days: Mapped[int] = mapped_column(Integer, default=90)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    product: Mapped[Product] = relationship(lazy="joined")
    prices: Mapped[list[OfferPrice]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="OfferPrice.currency"
    )


class OfferPrice(Base):
    __tablename__ = "offer_prices"

    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # card, bank_account, invoice
    label: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_backup: Mapped[bool] = mapped_column(Boolean, default=False)
    processor: Mapped[str | None] = mapped_column(String(32))
    processor_token: Mapped[str | None] = mapped_column(String(200))
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_org_product", "organization_id", "product_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    status: Mapped[Status] = mapped_column(_enum(Status, "status"))
    channel: Mapped[PurchaseChannel] = mapped_column(_enum(PurchaseChannel, "channel"))
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    prepaid_quantity: Mapped[int] = mapped_column(Integer, default=0)
    recurring_billing: Mapped[bool] = mapped_column(Boolean, default=True)
    credit_check_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    last_increase_on: Mapped[date | None] = mapped_column(Date)
    quantity_before_last_increase: Mapped[int | None] = mapped_column(Integer)
    pending_quantity: Mapped[int | None] = mapped_column(Integer)
    pending_effective: Mapped[date | None] = mapped_column(Date)
    trial_extended: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the running credit check started (R5: done two business days later).
    credit_check_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    partner_name: Mapped[str | None] = mapped_column(String(200))
    agreement_number: Mapped[str | None] = mapped_column(String(64))
    switched_to_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    offer: Mapped[Offer] = relationship(lazy="joined")


class LicenseAssignment(Base):
    __tablename__ = "license_assignments"
    # A person holds at most one license of a product, whichever subscription it comes from.
    __table_args__ = (UniqueConstraint("user_id", "product_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProductKey(Base):
    __tablename__ = "product_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the normal form
    hint: Mapped[str] = mapped_column(String(5))  # last group, to recognise a key
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    licenses: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redeemed_by_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    phone: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    actor: Mapped[str] = mapped_column(String(254))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# Money -------------------------------------------------------------------------------------------
class BillingAccount(Base):
    """Who pays for an organization's subscriptions: currency, country, tax and terms."""

    __tablename__ = "billing_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    tax_rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 2500 is 25 %
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    bill_to_name: Mapped[str] = mapped_column(String(200))
    bill_to_address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillingSegment(Base):
    """A run of days at one charged quantity and unit price: the billing facts of a
    subscription, from which its invoice lines are computed."""

    __tablename__ = "billing_segments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)


class InvoiceCounter(Base):
    """The vendor's invoice number sequence; one row, locked while numbering (gap-free)."""

    __tablename__ = "invoice_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # invoice, credit_note
    billing_account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))  # purchase, change, statement, cancellation
    sold_to: Mapped[dict[str, Any]] = mapped_column(JSON)
    bill_to: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    lines: Mapped[list[InvoiceLine]] = relationship(
        lazy="selectin", order_by="InvoiceLine.id", cascade="all"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # charge, reversal
    description: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_lines.id"), unique=True)


class Payment(Base):
    """A charge or a refund through the payment processor, with its outcome."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    billing_account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    # Indexed: an invoice's charges (dunning's next attempt, the invoice's view) and a charge's
    # refunds (what is left to refund) are looked up by these.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_method_id: Mapped[int | None] = mapped_column(ForeignKey("payment_methods.id"))
    kind: Mapped[str] = mapped_column(String(16))  # charge, refund
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # succeeded, declined, pending
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    processor: Mapped[str] = mapped_column(String(32))
    processor_ref: Mapped[str | None] = mapped_column(String(64))
    decline_code: Mapped[str | None] = mapped_column(String(32))
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    """One posting of a balanced transaction. Append-only: never updated, never deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "billing_account_id", "account"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    billing_account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id"))
    #: The postings of one movement share it; nothing looks them up by it (migration 0009).
    transaction: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # invoice, payment, refund
    account: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # debit > 0, credit < 0
    currency: Mapped[str] = mapped_column(String(3))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# Access ------------------------------------------------------------------------------------------
class ApiKey(Base):
    """An API key: operator (vendor scope) or bound to an organization user and their roles.

    The secret is never stored: only HMAC-SHA256(server secret, secret). `key_id` is the public
    part that finds the row; the whole key is shown once, when it is made."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # operator, user
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Time: test clocks, the billing run, dunning, grace, events ---------------------------------------
class TestClock(Base):
    """A clock an operator attaches to one organization and moves forward (like Stripe's test
    clocks): while attached, every use case for the organization reads its time."""

    __tablename__ = "test_clocks"
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    now: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillingCursor(Base):
    """The last day the billing run has done for an organization; moved in the same
    transaction as that day's work, so a day is done exactly once."""

    __tablename__ = "billing_cursors"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    processed_through: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DunningCase(Base):
    """A declined renewal charge and its retries (+1, +3, +7, +14, +30 days)."""

    __tablename__ = "dunning_cases"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), unique=True)
    declined_on: Mapped[date] = mapped_column(Date)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, recovered, failed
    closed_on: Mapped[date | None] = mapped_column(Date)


class LicenseGrace(Base):
    """More licenses assigned than a subscription has (after a reduction at renewal): 90 days
    in which nobody loses access; at the end, reported if still unresolved."""

    __tablename__ = "license_graces"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    started_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    assigned: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, resolved, ended
    closed_on: Mapped[date | None] = mapped_column(Date)


class Event(Base):
    """Something that happened to an organization's subscriptions, invoices or payments, written
    in the transaction that made it happen: the outbox webhooks will be sent from. `key` makes a
    repeated step fail loudly instead of telling the world twice."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(160), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the webhook worker fanned the event out to the endpoints (migration 0006).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


# --- Idempotency keys and rate limits (migration 0005) ---
class IdempotencyKey(Base):
    """An Idempotency-Key an API key sent with a request that changes something, and the answer
    it got. The row is inserted (`in_progress`) in its own transaction before the use case runs,
    so the unique (scope, key) lets one request at a time hold it, across processes and
    machines; once answered it is `done` and the answer is replayed byte for byte."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))  # the key id of the API key that sent it
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16))  # in_progress, done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# --- Webhooks: endpoints and deliveries (migration 0006) ---
class WebhookEndpoint(Base):
    """A URL events are POSTed to, signed with the endpoint's secret (Standard Webhooks). The
    vendor's endpoints (`organization_id` empty) hear every organization; an organization's
    only its own. `event_types` is a list of types (`*` or `subscription.*` match several).
    Events older than the endpoint (`after_event_id`) are never sent to it."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(100))
    #: After a rotation the old secret also signs, until it expires, so receivers can switch.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    after_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one endpoint: pending until the receiver answers 2xx (succeeded) or the
    retries run out (failed). `next_attempt_at` is also the lease of the worker sending it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # succeeded, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Attempts before the current round of retries (a manual redelivery starts a new round).
    round_start: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Admin center: passwords, sessions, sign-in attempts (migration 0007) ---
class SignInAccount(Base):
    """Who may sign in to the admin center with a password: an organization user (`user_id`),
    or the vendor's operator (`login`). Only an argon2 hash is kept. Failed attempts count per
    account; too many lock it until `locked_until`."""

    __tablename__ = "sign_in_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # user, operator
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    login: Mapped[str | None] = mapped_column(String(254), unique=True)  # operators only
    password_hash: Mapped[str] = mapped_column(String(255))
    password_set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so
    every server process finds the session and a copy of the table gives no one a way in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("sign_in_accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
