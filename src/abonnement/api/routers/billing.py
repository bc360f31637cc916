"""Billing accounts, payment methods, invoices (JSON, or PDF by content negotiation),
payments, balances, and the operator's statement run."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES, locale_of
from abonnement.api.pagination import Page, PageDep, paginate
from abonnement.api.params import InvoiceNumber, OrganizationId, PaymentMethodId
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import BillingAccountIn, PaymentMethodIn, StatementIn
from abonnement.rendering import Vendor, render_pdf
from abonnement.services import invoices, organizations
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import (
    BalanceView,
    BillingAccountView,
    InvoiceView,
    LedgerEntryView,
    PaymentMethodView,
    PaymentView,
)

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["billing"], responses=RESPONSES)

PDF = "application/pdf"
JSON = "application/json"
#: A statement bills at most this far ahead of the organization's today.
STATEMENT_HORIZON = timedelta(days=5 * 366)


class StatementView(BaseModel):
    """The statement issued, or null when there was nothing to bill."""

    invoice: InvoiceView | None


@router.get("/organizations/{organization_id}/billing-account")
def get_billing_account(organization_id: OrganizationId, caller: CallerDep) -> BillingAccountView:
    return caller.read(invoices.get_billing_account, organization_id)


@router.patch(
    "/organizations/{organization_id}/billing-account",
    summary="Change the bill-to details; tax and payment terms are the operator's",
)
def update_billing_account(
    organization_id: OrganizationId, body: BillingAccountIn, caller: CallerDep
) -> BillingAccountView:
    return caller.run(
        invoices.update_billing_account, organization_id, **body.model_dump(exclude_unset=True)
    )


@router.post(
    "/organizations/{organization_id}/payment-methods",
    status_code=201,
    summary="Add a card, bank account or pay-by-invoice",
    description="Card and account details go to the payment processor, which returns a token; "
    "only the token and the last digits are kept.",
)
def add_payment_method(
    organization_id: OrganizationId, body: PaymentMethodIn, caller: CallerDep
) -> PaymentMethodView:
    return caller.run(organizations.add_payment_method, organization_id, **body.model_dump())


@router.get("/organizations/{organization_id}/payment-methods")
def list_payment_methods(
    organization_id: OrganizationId, caller: CallerDep
) -> list[PaymentMethodView]:
    return caller.read(organizations.list_payment_methods, organization_id)


@router.delete("/payment-methods/{payment_method_id}")
def remove_payment_method(
    payment_method_id: PaymentMethodId, caller: CallerDep
) -> PaymentMethodView:
    return caller.run(organizations.remove_payment_method, payment_method_id)


@router.get("/organizations/{organization_id}/invoices")
def list_invoices(
    organization_id: OrganizationId, caller: CallerDep, page: PageDep
) -> Page[InvoiceView]:
    return paginate(caller.read(invoices.list_invoices, organization_id), page)


def _quality(accept: str, media_type: str) -> float:
    """How much an Accept header wants a media type (its best matching range's q)."""
    best = 0.0
    major = media_type.split("/")[0]
    for entry in accept.split(","):
        kind, _, params = entry.partition(";")
        kind = kind.strip().lower()
        if kind not in (media_type, f"{major}/*", "*/*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # the exact type counts over a wildcard
        bonus = 0.001 if kind == media_type else 0.0
        best = max(best, min(max(quality, 0.0), 1.0) + bonus)
    return best


def wants_pdf(accept: str | None) -> bool:
    """Content negotiation for invoices: PDF when Accept prefers it to JSON."""
    if not accept:
        return False
    return _quality(accept, PDF) > _quality(accept, JSON)


@router.get(
    "/invoices/{number}",
    summary="An invoice or credit note: JSON, or a PDF with `Accept: application/pdf`",
    responses={
        200: {
            "description": "The invoice as JSON, or as an A4 PDF in the Accept-Language.",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def get_invoice(number: InvoiceNumber, request: Request, caller: CallerDep) -> InvoiceView:
    view = caller.read(invoices.get_invoice, number)
    if wants_pdf(request.headers.get("accept")):
        locale = locale_of(request)
        pdf = render_pdf(view, locale, Vendor())
        # FastAPI returns a Response as it is, without validating it against InvoiceView.
        response: InvoiceView = Response(  # type: ignore[assignment]
            pdf,
            media_type=PDF,
            headers={
                "Content-Disposition": f'inline; filename="{view.number}.pdf"',
                "Content-Language": locale,
                "Vary": "Accept, Accept-Language",
            },
        )
        return response
    return view


@router.get("/organizations/{organization_id}/payments", summary="Payments and refunds")
def list_payments(
    organization_id: OrganizationId, caller: CallerDep, page: PageDep
) -> Page[PaymentView]:
    return paginate(caller.read(invoices.list_payments, organization_id), page)


@router.get(
    "/organizations/{organization_id}/ledger",
    summary="The ledger: every posting of the organization's billing account, oldest first",
)
def list_ledger(
    organization_id: OrganizationId, caller: CallerDep, page: PageDep
) -> Page[LedgerEntryView]:
    return paginate(caller.read(invoices.list_ledger, organization_id), page)


@router.get(
    "/organizations/{organization_id}/balance",
    summary="What the organization owes (> 0) or its credit (< 0), from the ledger",
)
def balance(organization_id: OrganizationId, caller: CallerDep) -> BalanceView:
    return caller.read(invoices.balance, organization_id)


def _statement(ctx: Context, organization_id: int, body: StatementIn) -> StatementView:
    org = ctx.organization(organization_id)  # another organization's is not found, as always
    ctx.require_operator("run_statement")
    if body.as_of is not None:
        today = ctx.today(org)
        if body.as_of > today + STATEMENT_HORIZON:
            raise v.bad("as_of", "bill at most five years ahead")
    return StatementView(invoice=invoices.run_statement(ctx, organization_id, body.as_of))


@router.post(
    "/organizations/{organization_id}/statements",
    summary="Bill an organization up to a day (operator)",
)
def run_statement(
    organization_id: OrganizationId, body: StatementIn, caller: CallerDep
) -> StatementView:
    return caller.run(_statement, organization_id, body)
