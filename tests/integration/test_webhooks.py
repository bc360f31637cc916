"""The webhook worker against the database: several workers (each with its own connections, as
processes on several machines would have) deliver each event to each endpoint exactly once; an
event whose transaction commits after a later one is still sent; the CLI drives it all."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from abonnement.app import Abonnement
from abonnement.cli.main import app as cli
from abonnement.cli.webhook_commands import start_background
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.services import licensing, subscriptions, webhooks
from abonnement.services.context import Context
from abonnement.services.webhooks import DeliveryTally
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .conftest import World


class Receiver:
    """Counts what arrives, per path and webhook-id; answers slowly enough for workers to
    overlap."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                time.sleep(0.005)
                with receiver.lock:
                    receiver.seen[self.path, self.headers["webhook-id"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.close()


def _buy_many(world: World, count: int) -> list[int]:
    orgs = [world.org(), world.org()]
    for n in range(count):
        org = orgs[n % 2]
        world.app.run(world.op, subscriptions.buy, org.id, "basic-monthly", quantity=1 + n)
    return [o.id for o in orgs]


def test_two_workers_deliver_each_event_to_each_endpoint_once(
    world: World, receiver: Receiver, database_url: str, clock: FixedClock
) -> None:
    app = world.app
    first, _second = _buy_many(world, 20)
    vendor = app.run(world.op, webhooks.create_endpoint, receiver.url("vendor"))
    own = app.run(world.op, webhooks.create_endpoint, receiver.url("first"), organization_id=first)
    # Made after the endpoints, so both hear them.
    _buy_many(world, 20)
    expected = {
        (f"/{path}", f"evt_{event_id}")
        for path, endpoint_id in (("vendor", vendor.id), ("first", own.id))
        for event_id in events_for(app, endpoint_id)
    }
    assert len(expected) >= 60

    start = threading.Barrier(2)
    tallies: list[DeliveryTally] = []

    def work() -> None:
        engine = Abonnement(Settings(database_url=database_url), clock=clock)
        tally = DeliveryTally()
        try:
            start.wait()
            with httpx.Client(timeout=5) as client:
                for _ in range(50):
                    tally.add(webhooks.deliver_pending(engine, client, batch=5, concurrency=2))
                    if sum(receiver.seen.values()) >= len(expected):
                        break
        finally:
            engine.close()
            tallies.append(tally)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(receiver.seen) == expected
    assert set(receiver.seen.values()) == {1}  # once each
    assert sum(t.succeeded for t in tallies) == len(expected)
    assert sum(t.attempts for t in tallies) == len(expected)
    if app.engine.dialect.name == "postgresql":
        # SKIP LOCKED shares the work out instead of queueing one worker behind the other.
        assert all(t.attempts > 0 for t in tallies), tallies


def events_for(app: Abonnement, endpoint_id: int) -> list[int]:
    """The ids of the events an endpoint is to get: newer than it, of its organization."""

    def query(ctx: Context) -> list[int]:
        endpoint = ctx.uow.session.get(m.WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        ids = select(m.Event.id).where(m.Event.id > endpoint.after_event_id)
        if endpoint.organization_id is not None:
            ids = ids.where(m.Event.organization_id == endpoint.organization_id)
        return list(ctx.uow.session.scalars(ids))

    return app.read(app.operator, query)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_event_committed_late_is_still_delivered(
    world: World, receiver: Receiver, clock: FixedClock
) -> None:
    """PostgreSQL hands out ids when rows are inserted, not when they commit: an event with a
    smaller id can become visible after a larger one was sent. Events are claimed by row, not
    by an id cursor, so it is sent too. (SQLite's writers take turns, so there it can't happen.)"""
    app = world.app
    a, b = world.org(), world.org()
    for org in (a, b):
        app.run(world.op, subscriptions.buy, org.id, "basic-monthly", quantity=5)
    people = {org.id: world.people(org, 1) for org in (a, b)}
    hook = app.run(world.op, webhooks.create_endpoint, receiver.url("hooks"))
    slow = UnitOfWork(app.engine)
    with slow as uow:
        licensing.assign(Context(uow, clock, world.op), a.id, "BUS-BASIC", people[a.id])
        uow.session.flush()  # the event has its id, and is not committed yet
        # Meanwhile a change of another organization commits, and the worker sends it.
        app.run(world.op, licensing.assign, b.id, "BUS-BASIC", people[b.id])
        with httpx.Client(timeout=5) as client:
            sent = webhooks.deliver_pending(app, client).succeeded
        assert sent == 1
        assert sum(receiver.seen.values()) == sent
        uow.commit()
    with httpx.Client(timeout=5) as client:
        late = webhooks.deliver_pending(app, client).succeeded
    assert sorted(receiver.seen) == sorted(("/hooks", f"evt_{i}") for i in events_for(app, hook.id))
    assert late == 1
    assert set(receiver.seen.values()) == {1}


def test_the_cli_registers_endpoints_and_delivers(
    world: World, receiver: Receiver, database_url: str
) -> None:
    org = world.org()
    runner = CliRunner()
    env = {"ABONNEMENT_DATABASE_URL": database_url, "COLUMNS": "200", "ABONNEMENT_LOCALE": None}

    def run(*args: str) -> Any:
        result = runner.invoke(cli, ["--json", *args], env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    created = run(
        "webhook", "add", receiver.url("cli"), "--org", str(org.id), "--event", "subscription.*"
    )
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["subscription.*"]
    world.app.run(world.op, subscriptions.buy, org.id, "basic-monthly", quantity=2)
    summary = run("webhooks", "deliver", "--once")
    assert summary["succeeded"] == 1
    assert list(receiver.seen) == [("/cli", receiver_ids(receiver)[0])]
    [delivery] = run("webhook", "deliveries", str(created["id"]))
    assert (delivery["status"], delivery["event_type"]) == ("succeeded", "subscription.created")
    again = run("webhook", "redeliver", str(delivery["id"]))
    assert again["status"] == "pending"
    assert run("webhooks", "deliver", "--once")["succeeded"] == 1
    rotated = run("webhook", "rotate", str(created["id"]))
    assert rotated["secret"] != created["secret"]
    assert [e["id"] for e in run("webhook", "list")] == [created["id"]]
    run("webhook", "remove", str(created["id"]))
    assert run("webhook", "list") == []
    refused = runner.invoke(cli, ["--lang", "da", "webhook", "add", "ftp://x"], env=env)
    assert refused.exit_code != 0
    assert "kan ikke modtage webhooks" in refused.output


def receiver_ids(receiver: Receiver) -> list[str]:
    return [webhook_id for _path, webhook_id in receiver.seen]


def test_serve_can_run_the_worker_beside_the_api(
    world: World, receiver: Receiver, database_url: str
) -> None:
    """ABONNEMENT_WEBHOOKS_DELIVER=true: `abonnement serve` starts this thread."""
    org = world.org()
    world.app.run(world.op, webhooks.create_endpoint, receiver.url("served"))
    world.app.run(world.op, subscriptions.buy, org.id, "basic-monthly", quantity=1)
    stop = start_background(Settings(database_url=database_url, webhook_poll_seconds=0.05))
    try:
        deadline = time.monotonic() + 20
        while len(receiver.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert {path for path, _ in receiver.seen} == {"/served"}
    assert len(receiver.seen) == 3  # created, invoice issued, payment succeeded
