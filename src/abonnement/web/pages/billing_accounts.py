"""Billing > Billing accounts: who is billed (bill-to name and address, kept by Global and
Billing admins), what the vendor set (currency, country, tax rate, payment terms: read-only),
and the payment methods (R1: Global and Billing admins add a card, a bank account or pay by
invoice, choose the default and the backup, and remove them).

A refusal of a form field is shown beside that field, in the reader's language; other
refusals above the form. Card and account details go straight to the payment processor
through the services: the page never keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response

from abonnement.domain.errors import N_, AbonnementError, Code
from abonnement.domain.roles import Action
from abonnement.rendering.document import country, percent
from abonnement.services import invoices, organizations
from abonnement.services.context import Context
from abonnement.services.schemas import BillingAccountView, PaymentMethodView
from abonnement.web.core import PREFIX, Page, PageDep, WebRoute, describe

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/billing/accounts"

#: Shown once after a change (`?saved=<key>`).
SAVED: Mapping[str, str] = {
    "bill_to": N_("The bill-to details are saved. New invoices use them."),
    "card": N_("The card is added."),
    "bank_account": N_("The bank account is added."),
    "invoice": N_("Pay by invoice is added."),
    "default": N_("{label} is now the default payment method."),
    "backup": N_("{label} is now the backup payment method."),
    "removed": N_("The payment method is removed."),
}

#: A refused field in words, by (field, problem); (field, "") for any other problem of it.
FIELD_PROBLEMS: Mapping[tuple[str, str], str] = {
    ("number", "checksum"): N_("This card number is not valid. Check the digits."),
    ("number", ""): N_("Enter the 12 to 19 digits of the card number."),
    ("card_number", ""): N_("Enter the card number, its expiry month and year, and the CVC."),
    ("exp_month", "expired"): N_("This card has expired."),
    ("exp_month", ""): N_("Enter the expiry month, 1 to 12."),
    ("exp_year", "expired"): N_("This card has expired."),
    ("exp_year", ""): N_("Enter the expiry year, for example 2030."),
    ("cvc", ""): N_("Enter the 3 or 4 digits of the security code."),
    ("iban", "checksum"): N_("This IBAN is not valid. Check it against your bank statement."),
    ("iban", ""): N_("Enter the IBAN of the account, for example NL91 ABNA 0417 1643 00."),
    ("holder", ""): N_("Enter the account holder's name."),
    ("bill_to_name", ""): N_("Enter the name invoices are addressed to."),
    ("label", ""): N_("Enter a name of up to 100 characters."),
}

#: Where a field error of the services is shown on the page.
FIELD_OF = {"number": "card_number", "card_number": "card_number"}


@dataclass(frozen=True)
class Accounts:
    account: BillingAccountView
    methods: list[PaymentMethodView] | None  # None: the role may not see them (R1)


def accounts(ctx: Context, organization_id: int, manage: bool) -> Accounts:
    account = invoices.get_billing_account(ctx, organization_id)
    methods = organizations.list_payment_methods(ctx, organization_id) if manage else None
    return Accounts(account, methods)


def field_error(exc: AbonnementError, page: Page) -> tuple[str, str] | None:
    """(the form field, the words) when a refusal names a field the page has."""
    if exc.code is not Code.INVALID_INPUT:
        return None
    name = str(exc.context.get("field", ""))
    problem = str(exc.context.get("problem", "")).replace(" ", "_")
    msgid = FIELD_PROBLEMS.get((name, problem)) or FIELD_PROBLEMS.get((name, ""))
    if msgid is None:
        return None
    return FIELD_OF.get(name, name), page._(msgid)


def _page(
    page: Page,
    *,
    status_code: int = 200,
    form: str | None = None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    error: str | None = None,
    remedy: str | None = None,
) -> Response:
    manage = page.can(Action.MANAGE_PURCHASES)
    data = page.read(accounts, page.organization_id, manage)
    done = page.done_message()
    saved = page.request.query_params.get("saved", "")
    if saved in SAVED:
        # Only a key and a payment method's id travel in the address; the label is read here.
        chosen = page.request.query_params.get("method", "")
        labels = {str(pm.id): pm.label for pm in data.methods or []}
        done = page._(SAVED[saved], label=labels.get(chosen, ""))
    account = data.account
    return page.render(
        "billing_accounts.html",
        status_code=status_code,
        title=page._("Billing accounts"),
        account=account,
        country_name=country(account.country, page.locale),
        tax_rate=percent(account.tax_rate_bp, page.locale),
        methods=data.methods,
        manage=manage,
        form=form,
        values=values or {},
        errors=errors or {},
        error=error,
        remedy=remedy,
        done=done,
    )


@router.get(BASE)
def billing_accounts(page: PageDep) -> Response:
    return _page(page)


def _refused(page: Page, exc: AbonnementError, form: str, values: Mapping[str, str]) -> Response:
    found = field_error(exc, page)
    if found is not None:
        return _page(page, status_code=exc.status, form=form, values=values, errors=dict([found]))
    message, remedy = describe(exc, page.locale)
    return _page(
        page, status_code=exc.status, form=form, values=values, error=message, remedy=remedy
    )


def _saved(page: Page, key: str, method_id: int | None = None) -> Response:
    path = f"{BASE}?saved={key}"
    if method_id is not None:
        path += f"&method={method_id}"
    return page.redirect(path)


@router.post(BASE + "/bill-to")
async def bill_to(page: PageDep) -> Response:
    values = {
        "bill_to_name": await page.field("bill_to_name"),
        # browsers post a textarea's line breaks as CRLF
        "bill_to_address": (await page.field("bill_to_address")).replace("\r\n", "\n"),
    }
    try:
        page.run(
            invoices.update_billing_account,
            page.organization_id,
            bill_to_name=values["bill_to_name"],
            bill_to_address=values["bill_to_address"],
        )
    except AbonnementError as exc:
        return _refused(page, exc, "bill_to", values)
    return _saved(page, "bill_to")


def _whole(text: str) -> int | None:
    """A month or year as typed; None when it is not a number (refused beside its field)."""
    text = text.strip()
    return int(text) if text.isdigit() else None


@router.post(BASE + "/payment-methods")
async def add_payment_method(page: PageDep) -> Response:
    kind = await page.field("kind")
    names = {
        "card": ("card_number", "exp_month", "exp_year", "cvc"),
        "bank_account": ("iban", "holder"),
        "invoice": ("label",),
    }.get(kind, ())
    values = {name: await page.field(name) for name in names}
    details: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if kind == "card":
        for name in ("exp_month", "exp_year"):
            number = _whole(values[name])
            if number is None:
                errors[name] = page._(FIELD_PROBLEMS[(name, "")])
            details[name] = number
        details["card_number"] = values["card_number"]
        details["cvc"] = values["cvc"]
    elif kind == "bank_account":
        details = {"iban": values["iban"], "holder": values["holder"]}
    elif kind == "invoice":
        details = {"label": values["label"] or None}
    values_out = {**values, "kind": kind}
    values_out.pop("card_number", None)  # a refused card number is typed again, never echoed
    values_out.pop("cvc", None)
    if errors:
        return _page(page, status_code=422, form=kind, values=values_out, errors=errors)
    make_default = await page.field("make_default") == "1"
    try:
        added = page.run(
            organizations.add_payment_method,
            page.organization_id,
            kind=kind,
            make_default=make_default,
            **details,
        )
    except AbonnementError as exc:
        return _refused(page, exc, kind, values_out)
    return _saved(page, kind, added.id)


@router.post(BASE + "/payment-methods/{method_id}/{action}")
async def change_payment_method(page: PageDep, method_id: int, action: str) -> Response:
    await page.form()
    use_case = {
        "default": organizations.set_default_payment_method,
        "backup": organizations.set_backup_payment_method,
        "remove": organizations.remove_payment_method,
    }.get(action)
    if use_case is None:
        return Response(status_code=404)
    try:
        view = page.run(use_case, method_id)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _page(page, status_code=exc.status, error=message, remedy=remedy)
    return _saved(page, "removed" if action == "remove" else action, view.id)
