"""Request bodies. Their constraints give a 422 that names the field before any use case runs;
the services check everything again (they are also called by the CLI), so these are the API's
first line, not its only one. Responses are the services' own views."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from abonnement.api.pagination import MAX_ID

# No NUL characters anywhere: PostgreSQL can't store them.
_NO_NUL = r"^[^\x00]*$"


def text(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=_NO_NUL)


Name = Annotated[str, text(200)]
CodeStr = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Quantity = Annotated[int, Field(ge=0, le=1_000_000)]
RoleName = Literal["global_admin", "billing_admin", "license_admin", "user_admin", "global_reader"]
Frequency = Literal["monthly", "annual"]
Channel = Literal["online", "prepaid", "reseller", "volume"]
Locale = Annotated[str, StringConstraints(min_length=2, max_length=16, pattern=r"^[A-Za-z_\-]+$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# catalog ----------------------------------------------------------------------------------------
class ServicePlanIn(Body):
    code: CodeStr
    name: Name


class ProductIn(Body):
    sku: CodeStr
    name: Name
    service_plans: list[ServicePlanIn] = Field(default=[], max_length=100)


class OfferIn(Body):
    code: CodeStr
    product_sku: CodeStr
    name: Name
    prices: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")],
        Annotated[int, Field(ge=0, le=10**12)],
    ] = Field(
        min_length=1,
        max_length=50,
        description="Price per license per billing period, in minor units, by currency.",
    )
    term: Frequency = "monthly"
    billing_frequency: Frequency = "monthly"
    trial_days: Annotated[int, Field(ge=1, le=365)] | None = None
    trial_licenses: Annotated[int, Field(ge=1, le=10_000)] | None = None
    cancellation_model: Literal["classic", "windowed"] = "classic"
    cancellation_window_days: Annotated[int, Field(ge=0, le=365)] = 7
    online_cancel_limit: Annotated[int, Field(ge=0, le=1_000_000)] = 25
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=4)
    end_of_sale: bool = False
    min_quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    max_quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 100_000


# organizations and users ------------------------------------------------------------------------
class OrganizationIn(Body):
    name: Name
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
    time_zone: Annotated[str, text(64)] = "UTC"
    locale: Locale = "en"


class UserIn(Body):
    email: Annotated[str, text(254, 3)]
    display_name: Name
    roles: list[RoleName] = Field(default=[], max_length=5)
    locale: Locale | None = None
    licenses: list[CodeStr] = Field(
        default=[],
        max_length=20,
        description="Product SKUs to assign at once (R2): the user is added with the licenses, "
        "or not at all.",
    )


class RolesIn(Body):
    grant: list[RoleName] = Field(default=[], max_length=5)
    revoke: list[RoleName] = Field(default=[], max_length=5)


class PasswordIn(Body):
    password: str = Field(
        max_length=1024, description="The new admin-center password (at least 10 characters)."
    )


# subscriptions ----------------------------------------------------------------------------------
class BuyIn(Body):
    offer: CodeStr
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    channel: Literal["online", "reseller", "volume"] = "online"
    trial: bool = False
    partner_name: Annotated[str, text(200)] | None = None
    agreement_number: Annotated[str, text(64)] | None = None


class QuantityIn(Body):
    quantity: Quantity = Field(description="The new total number of licenses (R3), not a delta.")


class RecurringBillingIn(Body):
    on: bool


class SwitchIn(Body):
    offer: CodeStr
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class PreviewIn(Body):
    """Exactly one change: a new total, a cancellation, or a switch to another offer."""

    quantity: Quantity | None = Field(
        default=None, description="A new total; with switch_to, the new plan's quantity."
    )
    cancel: bool = False
    switch_to: CodeStr | None = None

    @model_validator(mode="after")
    def _one_change(self) -> Self:
        chosen = [self.switch_to is not None, self.cancel, self.quantity is not None]
        if self.switch_to is not None:
            chosen[2] = False  # a switch may name the new plan's quantity
        if sum(chosen) != 1:
            raise ValueError("give exactly one of quantity, cancel or switch_to")
        return self


class CallbackIn(Body):
    phone: Annotated[str, text(40)]
    note: Annotated[str, text(2000, 0)] = ""


# licenses and product keys ----------------------------------------------------------------------
class UsersIn(Body):
    user_ids: list[Id] = Field(min_length=1, max_length=20)


class ProductKeysIn(Body):
    offer: CodeStr
    count: Annotated[int, Field(ge=1, le=1000)]
    licenses: Annotated[int, Field(ge=1, le=1_000_000)]


class RedeemIn(Body):
    keys: list[Annotated[str, text(64)]] = Field(min_length=1, max_length=20)


# billing ----------------------------------------------------------------------------------------
class BillingAccountIn(Body):
    bill_to_name: Name | None = None
    bill_to_address: Annotated[str, text(1000, 0)] | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    tax_rate_bp: Annotated[int, Field(ge=0, le=9999)] | None = None


class PaymentMethodIn(Body):
    kind: Literal["card", "bank_account", "invoice"]
    label: Annotated[str, text(100)] | None = None
    card_number: Annotated[str, text(32)] | None = None
    exp_month: Annotated[int, Field(ge=1, le=12)] | None = None
    exp_year: Annotated[int, Field(ge=2000, le=2200)] | None = None
    cvc: Annotated[str, text(8)] | None = None
    iban: Annotated[str, text(42)] | None = None
    holder: Annotated[str, text(200)] | None = None
    make_default: bool = True


class StatementIn(Body):
    as_of: date | None = Field(default=None, description="Bill up to this day (default: today).")


# api keys ---------------------------------------------------------------------------------------
class ApiKeyIn(Body):
    label: Annotated[str, text(100)]
    operator: bool = Field(default=False, description="An operator key (operator only).")
    user_id: Id | None = Field(
        default=None,
        description="The user the key acts as (default: the caller). Keys for other users are "
        "made by global admins.",
    )
