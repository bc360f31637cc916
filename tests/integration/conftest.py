"""Builders for integration tests: a small catalog and an organization with one admin per role."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from abonnement.app import Abonnement
from abonnement.domain.errors import AbonnementError
from abonnement.services import catalog, organizations
from abonnement.services.context import Actor

pytestmark = pytest.mark.integration


# Sandbox test details: 4242… always succeeds; see abonnement.payments.sandbox for the others.
PAYMENT_DETAILS: dict[str, dict[str, object]] = {
    "card": {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    "bank_account": {"iban": "NL91ABNA0417164300", "holder": "Contoso BV"},
}


def card(number: str = "4242424242424242") -> dict[str, object]:
    return {**PAYMENT_DETAILS["card"], "card_number": number}


@dataclass
class Org:
    id: int
    admins: dict[str, Actor] = field(default_factory=dict)  # role -> actor holding only it
    users: list[int] = field(default_factory=list)


class World:
    def __init__(self, app: Abonnement) -> None:
        self.app = app
        self.op = app.operator
        self._n = 0

    def catalog(self) -> None:
        run, op = self.app.run, self.op
        run(
            op,
            catalog.create_product,
            "BUS-STD",
            "Business Standard",
            [("EXO", "Exchange Online"), ("TEAMS", "Teams")],
        )
        run(op, catalog.create_product, "BUS-BASIC", "Business Basic", [("EXO", "Exchange Online")])
        run(
            op,
            catalog.create_product,
            "BUS-PREM",
            "Business Premium",
            [("EXO", "Exchange Online"), ("INTUNE", "Intune")],
        )
        run(
            op,
            catalog.create_offer,
            code="std-monthly",
            product_sku="BUS-STD",
            name="Business Standard (monthly)",
            prices={"EUR": 1250, "NOK": 14000, "DKK": 9300},
            trial_days=30,
            trial_licenses=25,
        )
        run(
            op,
            catalog.create_offer,
            code="std-annual",
            product_sku="BUS-STD",
            name="Business Standard (annual)",
            prices={"EUR": 15000, "NOK": 168000, "DKK": 111600},
            term="annual",
            billing_frequency="annual",
            cancellation_model="windowed",
        )
        run(
            op,
            catalog.create_offer,
            code="basic-monthly",
            product_sku="BUS-BASIC",
            name="Business Basic (monthly)",
            prices={"EUR": 600, "NOK": 6700, "DKK": 4500},
        )
        run(
            op,
            catalog.create_offer,
            code="prem-monthly",
            product_sku="BUS-PREM",
            name="Business Premium (monthly)",
            prices={"EUR": 2200, "NOK": 24600, "DKK": 16400},
        )

    def org(
        self,
        name: str = "Contoso",
        *,
        currency: str = "EUR",
        country: str = "NL",
        payment: str | None = "card",
    ) -> Org:
        self._n += 1
        view = self.app.run(
            self.op,
            organizations.create_organization,
            name=name,
            country=country,
            currency=currency,
            time_zone="Europe/Amsterdam",
        )
        result = Org(view.id)
        for role in (
            "global_admin",
            "billing_admin",
            "license_admin",
            "user_admin",
            "global_reader",
        ):
            email = f"{role}.{self._n}@{name.lower()}.example"
            self.app.run(
                self.op,
                organizations.add_user,
                view.id,
                email=email,
                display_name=role,
                roles=[role],
            )
            result.admins[role] = self.app.actor(email)
        if payment:
            self.app.run(
                self.op,
                organizations.add_payment_method,
                view.id,
                kind=payment,
                **PAYMENT_DETAILS.get(payment, {}),
            )
        return result

    def people(self, org: Org, count: int) -> list[int]:
        ids = []
        for _ in range(count):
            self._n += 1
            user = self.app.run(
                self.op,
                organizations.add_user,
                org.id,
                email=f"person{self._n}@example.org",
                display_name=f"Person {self._n}",
            )
            ids.append(user.id)
        org.users.extend(ids)
        return ids


def refused(call, *args, **kwargs) -> AbonnementError:  # type: ignore[no-untyped-def]
    """Run a call that must be refused, and return the refusal."""
    with pytest.raises(AbonnementError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture
def world(app: Abonnement) -> World:
    w = World(app)
    w.catalog()
    return w
