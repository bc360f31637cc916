"""Billing > Invoices: every invoice and credit note with its status, one invoice's lines
(reversals and credits, tax, totals) in the reader's language, its PDF, the payments and
refunds, and the balance (R11, R12, R13). Readable by Global and Billing admins and Global
readers (R1: the services refuse anyone else).

Nothing here computes money: the lines and totals are the issued invoice's, put into words by
`abonnement.rendering` (the same words as the PDF); the status of each invoice is read from
the ledger's balance.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Response

from abonnement.rendering import Vendor, render_pdf
from abonnement.rendering.document import build, period_text, reason
from abonnement.services import invoices
from abonnement.services.context import Context
from abonnement.services.schemas import BalanceView, InvoiceView, PaymentView
from abonnement.web.core import PREFIX, PageDep, WebRoute

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/billing/invoices"

PAID, OPEN, CREDIT_NOTE = "paid", "open", "credit_note"


@dataclass(frozen=True)
class InvoiceRow:
    invoice: InvoiceView
    status: str  # paid, open, credit_note
    open_amount: int  # what is still owed on it (0 when paid)


@dataclass(frozen=True)
class Billing:
    rows: list[InvoiceRow]  # newest first
    payments: list[PaymentView]  # newest first
    balance: BalanceView


def statuses(invoice_list: list[InvoiceView], receivable: int) -> list[InvoiceRow]:
    """Which invoices are still open: what the organization owes (`receivable`, from the
    ledger) is the newest invoices' amounts, oldest paid first. Credit notes have nothing to
    pay; a credit balance means every invoice is paid."""
    owed = max(receivable, 0)
    rows: list[InvoiceRow] = []
    for inv in sorted(invoice_list, key=lambda i: i.id, reverse=True):
        if inv.kind == "credit_note" or inv.total < 0:
            rows.append(InvoiceRow(inv, CREDIT_NOTE, 0))
            continue
        share = min(owed, inv.total)
        owed -= share
        rows.append(InvoiceRow(inv, OPEN if share > 0 else PAID, share))
    return rows


def overview(ctx: Context, organization_id: int) -> Billing:
    """The invoices with their status, the payments and refunds, and the balance."""
    balance = invoices.balance(ctx, organization_id)
    rows = statuses(invoices.list_invoices(ctx, organization_id), balance.receivable)
    payments = sorted(invoices.list_payments(ctx, organization_id), key=lambda p: -p.id)
    return Billing(rows, payments, balance)


@router.get(BASE)
def invoice_list(page: PageDep) -> Response:
    billing = page.read(overview, page.organization_id)
    numbers = {row.invoice.id: row.invoice.number for row in billing.rows}
    return page.render(
        "invoices.html",
        title=page._("Invoices"),
        billing=billing,
        numbers=numbers,
        reason=lambda value: reason(value, page.locale),
        period=lambda start, end: period_text(start, end, page.locale),
    )


@router.get(BASE + "/{number}.pdf")
def invoice_pdf(page: PageDep, number: str) -> Response:
    view = page.read(invoices.get_invoice, number)
    pdf = render_pdf(view, page.locale, Vendor())
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{view.number}.pdf"',
            "Content-Language": page.locale,
        },
    )


@router.get(BASE + "/{number}")
def invoice_detail(page: PageDep, number: str) -> Response:
    view = page.read(invoices.get_invoice, number)
    billing = page.read(overview, view.organization_id)
    row = next((r for r in billing.rows if r.invoice.id == view.id), InvoiceRow(view, OPEN, 0))
    doc = build(view, page.locale, Vendor())
    payments = [p for p in billing.payments if p.invoice_id == view.id]
    return page.render(
        "invoice.html",
        title=doc.heading,
        row=row,
        invoice=view,
        doc=doc,
        payments=payments,
    )
