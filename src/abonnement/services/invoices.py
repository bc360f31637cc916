"""Reading invoices, payments and balances; running a statement; previewing a change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import func, select

from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action
from abonnement.services import billing
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import (
    BalanceView,
    BillingAccountView,
    InvoiceView,
    LedgerEntryView,
    PaymentView,
    View,
)
from abonnement.store import models as m

P = ParamSpec("P")
T = TypeVar("T")


def list_invoices(ctx: Context, organization_id: int) -> list[InvoiceView]:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    rows = ctx.uow.session.scalars(
        select(m.Invoice).where(m.Invoice.organization_id == org.id).order_by(m.Invoice.id)
    )
    return [InvoiceView.of(row) for row in rows]


def get_invoice(ctx: Context, number: str) -> InvoiceView:
    row = ctx.uow.session.scalars(select(m.Invoice).where(m.Invoice.number == number)).one_or_none()
    if row is None or not ctx.visible(row.organization_id):
        raise error(Code.NOT_FOUND, entity="invoice", id=number)
    ctx.authorize(row.organization_id, Action.READ_INVOICES)
    return InvoiceView.of(row)


def list_payments(ctx: Context, organization_id: int) -> list[PaymentView]:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    account = billing.open_account(ctx, org)
    rows = ctx.uow.session.scalars(
        select(m.Payment).where(m.Payment.billing_account_id == account.id).order_by(m.Payment.id)
    )
    return [PaymentView.of(row) for row in rows]


def list_ledger(ctx: Context, organization_id: int) -> list[LedgerEntryView]:
    """Every posting of the organization's billing account, oldest first (append-only)."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    account = billing.open_account(ctx, org)
    rows = ctx.uow.session.scalars(
        select(m.LedgerEntry)
        .where(m.LedgerEntry.billing_account_id == account.id)
        .order_by(m.LedgerEntry.id)
    )
    return [LedgerEntryView.of(row) for row in rows]


def balance(ctx: Context, organization_id: int) -> BalanceView:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    account = billing.open_account(ctx, org)
    rows = ctx.uow.session.execute(
        select(m.LedgerEntry.account, func.sum(m.LedgerEntry.amount_minor))
        .where(m.LedgerEntry.billing_account_id == account.id)
        .group_by(m.LedgerEntry.account)
    ).all()
    accounts = {name: int(total) for name, total in rows}
    return BalanceView(
        organization_id=org.id,
        currency=account.currency,
        receivable=accounts.get("receivable", 0),
        accounts=accounts,
    )


def run_statement(
    ctx: Context, organization_id: int, as_of: date | None = None
) -> InvoiceView | None:
    """Bill an organization up to a day: the operator's (and later the billing run's) job."""
    ctx.require_operator("run_statement")
    org = ctx.organization(organization_id)
    invoice = billing.statement(ctx, org, as_of or ctx.today(org))
    return InvoiceView.of(invoice) if invoice is not None else None


class PreviewView(View):
    """What a change would do to the money, computed by the code that bills and rolled back:
    the invoices it issues now, and the statement of the next billing date after it."""

    now: list[InvoiceView]
    next_invoice: InvoiceView | None
    next_billing_date: date | None
    currency: str
    charged_now: int  # the total of the invoices issued now (below zero: credited)


def next_billing_date(ctx: Context, org: m.Organization) -> date | None:
    """The first period end after today among the organization's billed subscriptions."""
    today = ctx.today(org)
    ends: list[date] = []
    for sub in ctx.uow.subscriptions.in_organization(org.id):
        plan = billing.plan(ctx, sub)
        if plan.segments:
            ends.extend(p.end for p in plan.periods_through(today) if p.end > today)
    return min(ends) if ends else None


def preview(
    ctx: Context,
    organization_id: int,
    use_case: Callable[Concatenate[Context, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> PreviewView:
    """Run a change with nothing charged or refunded, collect what it issues now and what the
    next statement would hold, and roll everything back."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    session = ctx.uow.session
    savepoint = session.begin_nested()
    first_new = (session.scalar(select(func.coalesce(func.max(m.Invoice.id), 0))) or 0) + 1
    dry = Context(ctx.uow, ctx.clock, ctx.actor, dry_run=True)
    try:
        use_case(dry, *args, **kwargs)
        now = [
            InvoiceView.of(row)
            for row in session.scalars(
                select(m.Invoice).where(m.Invoice.id >= first_new).order_by(m.Invoice.id)
            )
        ]
        upcoming = next_billing_date(dry, org)
        statement = billing.statement(dry, org, upcoming) if upcoming else None
        next_view = InvoiceView.of(statement) if statement is not None else None
        currency = billing.open_account(dry, org).currency
    finally:
        savepoint.rollback()
    # A preview takes no number, so it never waits for the counter every invoice locks, nor
    # holds it: it shows the numbers its invoices would get if they were issued now.
    shown = [*now, *([next_view] if next_view is not None else [])]
    numbered = [
        view.model_copy(update={"number": number})
        for view, number in zip(shown, billing.preview_numbers(ctx, len(shown)), strict=True)
    ]
    now, next_view = numbered[: len(now)], (numbered[-1] if next_view is not None else None)
    return PreviewView(
        now=now,
        next_invoice=next_view,
        next_billing_date=upcoming,
        currency=currency,
        charged_now=sum(v.total for v in now),
    )


def get_billing_account(ctx: Context, organization_id: int) -> BillingAccountView:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_INVOICES)
    return BillingAccountView.of(billing.open_account(ctx, org))


def update_billing_account(
    ctx: Context,
    organization_id: int,
    *,
    bill_to_name: str | None = None,
    bill_to_address: str | None = None,
    payment_terms_days: int | None = None,
    tax_rate_bp: int | None = None,
) -> BillingAccountView:
    """Billing admins keep the bill-to details; the vendor sets tax and payment terms. Issued
    invoices keep what they were issued with."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.MANAGE_PURCHASES)
    account = billing.open_account(ctx, org)
    before = BillingAccountView.of(account).model_dump(mode="json")
    if bill_to_name is not None:
        account.bill_to_name = v.text("bill_to_name", bill_to_name)
    if bill_to_address is not None:
        account.bill_to_address = bill_to_address.strip()[:1000]
    if payment_terms_days is not None or tax_rate_bp is not None:
        ctx.require_operator("set_tax_and_terms")
        if payment_terms_days is not None:
            account.payment_terms_days = v.non_negative(
                "payment_terms_days", payment_terms_days, maximum=365
            )
        if tax_rate_bp is not None:
            account.tax_rate_bp = v.non_negative("tax_rate_bp", tax_rate_bp, maximum=9999)
    ctx.uow.session.flush()
    view = BillingAccountView.of(account)
    ctx.audit(
        "billing_account.update",
        "billing_account",
        account.id,
        organization_id=org.id,
        before=before,
        after=view.model_dump(mode="json"),
    )
    return view
