"""The API over real HTTP: uvicorn in a background thread on a free port, against the test's own
database (SQLite, then PostgreSQL), spoken to with httpx.

Setup that is not under test (a catalog, organizations, people, keys) goes straight through the
services; everything a test checks goes over HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from abonnement.api.app import create_app
from abonnement.api.auth import ApiState
from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.services import apikeys, catalog, organizations

pytestmark = pytest.mark.integration

SECRET = "test-only-4pQ9x2Lk7Vb3Nz8Rt6Wm1Hc5Jd0Gf"
ROLES = ("global_admin", "billing_admin", "license_admin", "user_admin", "global_reader")
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 and a port the OS chose, in a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.socket.close()


class Api:
    """An httpx client for the server, speaking as one key (or none)."""

    def __init__(self, base_url: str, key: str | None = None, lang: str | None = None) -> None:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if lang is not None:
            headers["Accept-Language"] = lang
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json={} if json is None else json, **kwargs)

    def patch(self, path: str, json: Any, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, json=json, **kwargs)

    def put(self, path: str, json: Any, **kwargs: Any) -> httpx.Response:
        return self.http.put(path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        """A request that must succeed with `status`; its JSON body."""
        response = self.http.request(method, path, json=json)
        assert response.status_code == status, (method, path, response.text)
        return response.json()

    def close(self) -> None:
        self.http.close()


@dataclass
class Tenant:
    id: int
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    keys: dict[str, str] = field(default_factory=dict)  # role -> API key
    people: list[int] = field(default_factory=list)


class Harness:
    """The running server, the engine it holds, and builders for the data a test needs."""

    def __init__(self, server: ServerThread, app: FastAPI, engine: Abonnement) -> None:
        self.server = server
        self.fastapi = app
        api_state: ApiState = app.state.api
        self.pepper = api_state.pepper
        self.server_engine = api_state.engine
        self.engine = engine  # the test's own connection to the same database
        self.op = engine.operator
        self._clients: dict[tuple[str | None, str | None], Api] = {}
        self._n = 0
        self.operator_key = self.engine.run(
            self.op, apikeys.create_operator_key, label="tests", pepper=self.pepper
        ).key

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, key: str | None = None, lang: str | None = None) -> Api:
        """A client speaking as `key` in `lang` (one per pair: connections are reused)."""
        if (key, lang) not in self._clients:
            self._clients[key, lang] = Api(self.url, key, lang)
        return self._clients[key, lang]

    def operator(self, lang: str | None = None) -> Api:
        return self.client(self.operator_key, lang)

    def close(self) -> None:
        for api in self._clients.values():
            api.close()

    # builders (through the services: not what the tests check) --------------------------
    def catalog(self) -> None:
        run, op = self.engine.run, self.op
        run(op, catalog.create_product, "STD", "Business Standard", [("EXO", "Exchange Online")])
        run(op, catalog.create_product, "BASIC", "Business Basic", [])
        run(
            op,
            catalog.create_offer,
            code="std-monthly",
            product_sku="STD",
            name="Business Standard (monthly)",
            prices={"EUR": 1250, "NOK": 14000, "DKK": 9300},
            trial_days=30,
            trial_licenses=25,
        )
        run(
            op,
            catalog.create_offer,
            code="basic-monthly",
            product_sku="BASIC",
            name="Business Basic (monthly)",
            prices={"EUR": 600, "NOK": 6700, "DKK": 4500},
        )

    def user_key(self, user_id: int, label: str = "key") -> str:
        return self.engine.run(
            self.op, apikeys.create_user_key, user_id, label=label, pepper=self.pepper
        ).key

    def tenant(
        self,
        name: str = "Contoso",
        *,
        currency: str = "EUR",
        country: str = "NL",
        card: bool = True,
    ) -> Tenant:
        """An organization with one user (and key) per admin role, and a card on file."""
        self._n += 1
        org = self.engine.run(
            self.op,
            organizations.create_organization,
            name=name,
            country=country,
            currency=currency,
            time_zone="Europe/Amsterdam",
        )
        tenant = Tenant(org.id)
        for role in ROLES:
            user = self.engine.run(
                self.op,
                organizations.add_user,
                org.id,
                email=f"{role}.{self._n}@{name.lower()}.example",
                display_name=role.replace("_", " ").title(),
                roles=[role],
            )
            tenant.users[role] = user.id
            tenant.keys[role] = self.user_key(user.id, role)
        if card:
            self.engine.run(self.op, organizations.add_payment_method, org.id, kind="card", **CARD)
        return tenant

    def people(self, tenant: Tenant, count: int) -> list[int]:
        ids = []
        for _ in range(count):
            self._n += 1
            user = self.engine.run(
                self.op,
                organizations.add_user,
                tenant.id,
                email=f"person{self._n}@example.org",
                display_name=f"Person {self._n}",
            )
            ids.append(user.id)
        tenant.people.extend(ids)
        return ids


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET)


@pytest.fixture
def harness(database_url: str, clock: FixedClock) -> Iterator[Harness]:
    """The API served over HTTP on the test's database, with its clock."""
    app = create_app(settings_for(database_url), clock=clock)
    server = ServerThread(app)
    server.start()
    engine = Abonnement(settings_for(database_url), clock=clock)
    h = Harness(server, app, engine)
    try:
        yield h
    finally:
        h.close()
        server.stop()
        engine.close()


@pytest.fixture
def shop(harness: Harness) -> Harness:
    """The harness with a small catalog."""
    harness.catalog()
    return harness


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check a problem+json answer and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"https://abonnement.dev/problems/{code}"
    assert body["title"]
    assert body["detail"]
    return body
