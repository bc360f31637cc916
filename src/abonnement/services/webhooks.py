"""Webhooks: endpoints, and the worker that carries the outbox's events to them.

**Endpoints.** The vendor operator registers endpoints that hear every organization, or one
organization's; an organization's global administrator registers its own. Each has a URL
(http or https), the event types it wants (`*`, `subscription.*` or exact types), an enabled
flag and a signing secret `whsec_<base64>`, shown once when it is made or rotated. After a
rotation the previous secret signs too, for `PREVIOUS_SECRET_GRACE`, so a receiver can switch.

**Delivery.** The worker (`deliver_pending`, in a loop by `abonnement webhooks deliver` or
beside `abonnement serve`) does three things, each in a short transaction of its own:

1. *fan out*: claims events not yet dispatched (`SELECT … FOR UPDATE SKIP LOCKED` on
   PostgreSQL, a write transaction on SQLite), creates one delivery per (event, matching
   endpoint) and marks the events dispatched. Events are claimed by row, not by an id cursor,
   so an event whose transaction commits late is never skipped.
2. *claim* deliveries due now, the same way, and lease them: their next attempt moves
   `LEASE` ahead, so a worker that dies while sending leaves them to another after it.
3. *send* each as a Standard Webhooks POST (`webhook-id`, `webhook-timestamp`,
   `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) with a timeout, and
   record the answer: 2xx is delivered; anything else is retried after `RETRY_DELAYS` (5 s,
   5 min, 30 min, 2 h, 5 h, then 10 h …: the last retry about 67½ hours after the first
   attempt, each delay ± 10 % jitter), then the delivery has failed. A manual redelivery
   starts a new round of retries.

Several workers, in processes or on machines sharing one PostgreSQL, never take the same
event or delivery at once; each event reaches each endpoint once (unless a worker dies after
the receiver answered and before it recorded the answer: then it comes again, with the same
`webhook-id`, for the receiver to recognise).
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
from base64 import b64encode
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select
from standardwebhooks.webhooks import Webhook

from abonnement.domain import lifecycle as lc
from abonnement.domain.errors import Code, error
from abonnement.domain.roles import Action
from abonnement.services import events
from abonnement.services.context import Context
from abonnement.services.schemas import View
from abonnement.store import models as m

if TYPE_CHECKING:
    from abonnement.app import Abonnement

log = logging.getLogger("abonnement.webhooks")

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 6,
)
JITTER = 0.1
MAX_EVENT_TYPES = 50
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
_PATTERN = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")
_rng = random.SystemRandom()


def known_event_types() -> list[str]:
    """Every event type the engine writes."""
    ours = [v for k, v in vars(events.EventType).items() if k.isupper()]
    return sorted({*ours, *(t.value for t in lc.EventType)})


# -- views ----------------------------------------------------------------------------------------
class EndpointView(View):
    id: int
    organization_id: int | None  # None: every organization (the vendor's endpoint)
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: m.WebhookEndpoint) -> EndpointView:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class EndpointSecretView(EndpointView):
    """An endpoint with its signing secret: returned only when it is made or rotated."""

    secret: str


class DeliveryView(View):
    id: int
    endpoint_id: int
    event_id: int
    event_type: str
    organization_id: int
    status: str  # pending, succeeded, failed
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, row: m.WebhookDelivery, event_type: str) -> DeliveryView:
        return cls(
            id=row.id,
            endpoint_id=row.endpoint_id,
            event_id=row.event_id,
            event_type=event_type,
            organization_id=row.organization_id,
            status=row.status,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


# -- checks ---------------------------------------------------------------------------------------
def check_url(value: str) -> str:
    url = (value or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.fragment
        or len(url) > 2048
        or any(c.isspace() for c in url)
        or port == 0
    ):
        raise error(Code.WEBHOOK_URL_INVALID, url=url[:100])
    return url


def check_event_types(values: list[str] | None) -> list[str]:
    chosen = [t.strip() for t in (values if values is not None else ["*"])]
    if not chosen or len(chosen) > MAX_EVENT_TYPES:
        raise error(
            Code.INVALID_INPUT,
            field="event_types",
            problem=f"give 1-{MAX_EVENT_TYPES} event types, or *",
        )
    known = known_event_types()
    for pattern in chosen:
        if not _PATTERN.match(pattern) or not any(events.matches([pattern], k) for k in known):
            raise error(Code.WEBHOOK_EVENT_TYPE_UNKNOWN, type=pattern[:80])
    return list(dict.fromkeys(chosen))


def new_secret() -> str:
    return SECRET_PREFIX + b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# -- authorization --------------------------------------------------------------------------------
def _authorize(ctx: Context, organization_id: int | None, action: str) -> None:
    """The operator manages every endpoint; an organization's global administrator its own
    organization's. Vendor-wide endpoints don't exist for anyone else."""
    if organization_id is None:
        if not ctx.actor.is_operator:
            raise error(Code.NOT_FOUND, entity="webhook endpoint", id="-")
        return
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.MANAGE_ADMIN_ROLES)


def _endpoint(ctx: Context, endpoint_id: int, action: str) -> m.WebhookEndpoint:
    row = ctx.uow.session.get(m.WebhookEndpoint, endpoint_id)
    if row is None or (
        not ctx.actor.is_operator
        and (row.organization_id is None or not ctx.visible(row.organization_id))
    ):
        raise error(Code.NOT_FOUND, entity="webhook endpoint", id=endpoint_id)
    _authorize(ctx, row.organization_id, action)
    return row


def _audit(
    ctx: Context,
    action: str,
    row: m.WebhookEndpoint,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    ctx.audit(
        action,
        "webhook_endpoint",
        row.id,
        organization_id=row.organization_id,
        before=before,
        after=after,
    )


def _state(row: m.WebhookEndpoint) -> dict[str, Any]:
    return EndpointView.of(row).model_dump(mode="json", exclude={"created_at", "updated_at"})


# -- endpoints ------------------------------------------------------------------------------------
def create_endpoint(
    ctx: Context,
    url: str,
    *,
    event_types: list[str] | None = None,
    organization_id: int | None = None,
    description: str = "",
    enabled: bool = True,
) -> EndpointSecretView:
    """Register an endpoint. An organization user's endpoint is for their organization."""
    if organization_id is None and not ctx.actor.is_operator:
        organization_id = ctx.actor.organization_id
    _authorize(ctx, organization_id, "create_webhook_endpoint")
    now = ctx.clock.now()
    row = m.WebhookEndpoint(
        organization_id=organization_id,
        url=check_url(url),
        description=_description(description),
        event_types=check_event_types(event_types),
        enabled=bool(enabled),
        secret=new_secret(),
        after_event_id=int(ctx.uow.session.scalar(select(func.max(m.Event.id))) or 0),
        created_at=now,
        updated_at=now,
    )
    ctx.uow.session.add(row)
    ctx.uow.session.flush()
    _audit(ctx, "webhook_endpoint.create", row, None, _state(row))
    return EndpointSecretView(**EndpointView.of(row).model_dump(), secret=row.secret)


def _description(value: str | None) -> str:
    cleaned = (value or "").strip()
    if len(cleaned) > 200:
        raise error(
            Code.INVALID_INPUT, field="description", problem="it is longer than 200 characters"
        )
    return cleaned


def list_endpoints(ctx: Context, organization_id: int | None = None) -> list[EndpointView]:
    """The operator's: every endpoint (or one organization's); an organization's global
    administrator's: their organization's."""
    query = select(m.WebhookEndpoint).order_by(m.WebhookEndpoint.id)
    if not ctx.actor.is_operator:
        organization_id = organization_id or ctx.actor.organization_id
        if organization_id is None:
            raise error(Code.PERMISSION_DENIED, action="list_webhook_endpoints")
    if organization_id is not None:
        _authorize(ctx, organization_id, "list_webhook_endpoints")
        query = query.where(m.WebhookEndpoint.organization_id == organization_id)
    return [EndpointView.of(r) for r in ctx.uow.session.scalars(query)]


def get_endpoint(ctx: Context, endpoint_id: int) -> EndpointView:
    return EndpointView.of(_endpoint(ctx, endpoint_id, "read_webhook_endpoint"))


def update_endpoint(
    ctx: Context,
    endpoint_id: int,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
) -> EndpointView:
    row = _endpoint(ctx, endpoint_id, "update_webhook_endpoint")
    before = _state(row)
    if url is not None:
        row.url = check_url(url)
    if event_types is not None:
        row.event_types = check_event_types(event_types)
    if enabled is not None:
        row.enabled = bool(enabled)
    if description is not None:
        row.description = _description(description)
    row.updated_at = ctx.clock.now()
    ctx.uow.session.flush()
    _audit(ctx, "webhook_endpoint.update", row, before, _state(row))
    return EndpointView.of(row)


def delete_endpoint(ctx: Context, endpoint_id: int) -> EndpointView:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    row = _endpoint(ctx, endpoint_id, "delete_webhook_endpoint")
    view = EndpointView.of(row)
    _audit(ctx, "webhook_endpoint.delete", row, _state(row), None)
    ctx.uow.session.execute(
        delete(m.WebhookDelivery).where(m.WebhookDelivery.endpoint_id == row.id)
    )
    ctx.uow.session.delete(row)
    ctx.uow.session.flush()
    return view


def rotate_secret(ctx: Context, endpoint_id: int) -> EndpointSecretView:
    """A new signing secret, shown once. The previous one also signs for 24 hours."""
    row = _endpoint(ctx, endpoint_id, "rotate_webhook_secret")
    now = ctx.clock.now()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
    row.secret = new_secret()
    row.updated_at = now
    ctx.uow.session.flush()
    _audit(
        ctx,
        "webhook_endpoint.rotate_secret",
        row,
        None,
        {"previous_secret_expires_at": row.previous_secret_expires_at.isoformat()},
    )
    return EndpointSecretView(**EndpointView.of(row).model_dump(), secret=row.secret)


# -- the delivery log -----------------------------------------------------------------------------
def list_deliveries(
    ctx: Context,
    endpoint_id: int,
    *,
    status: str | None = None,
    limit: int = 20,
    starting_after: int | None = None,
) -> tuple[list[DeliveryView], bool]:
    """An endpoint's deliveries, newest first, a page at a time."""
    row = _endpoint(ctx, endpoint_id, "read_webhook_deliveries")
    if status is not None and status not in (PENDING, SUCCEEDED, FAILED):
        raise error(Code.INVALID_INPUT, field="status", problem="use pending, succeeded or failed")
    query = (
        select(m.WebhookDelivery, m.Event.type)
        .join(m.Event, m.Event.id == m.WebhookDelivery.event_id)
        .where(m.WebhookDelivery.endpoint_id == row.id)
        .order_by(m.WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(m.WebhookDelivery.status == status)
    if starting_after is not None:
        query = query.where(m.WebhookDelivery.id < starting_after)
    rows = [(d, t) for d, t in ctx.uow.session.execute(query)]
    return [DeliveryView.of(d, t) for d, t in rows[:limit]], len(rows) > limit


def redeliver(ctx: Context, delivery_id: int) -> DeliveryView:
    """Send a delivery again as soon as a worker is free, with a new round of retries."""
    row = ctx.uow.session.get(m.WebhookDelivery, delivery_id, with_for_update=True)
    endpoint = ctx.uow.session.get(m.WebhookEndpoint, row.endpoint_id) if row else None
    if (
        row is None
        or endpoint is None
        or (
            not ctx.actor.is_operator
            and (endpoint.organization_id is None or not ctx.visible(endpoint.organization_id))
        )
    ):
        raise error(Code.NOT_FOUND, entity="webhook delivery", id=delivery_id)
    _authorize(ctx, endpoint.organization_id, "redeliver_webhook")
    before = {"status": row.status, "attempts": row.attempts}
    row.status = PENDING
    row.round_start = row.attempts
    row.next_attempt_at = ctx.clock.now()
    row.completed_at = None
    ctx.uow.session.flush()
    ctx.audit(
        "webhook_delivery.redeliver",
        "webhook_delivery",
        row.id,
        organization_id=endpoint.organization_id,
        before=before,
        after={"status": row.status},
    )
    event_type = ctx.uow.session.scalar(select(m.Event.type).where(m.Event.id == row.event_id))
    return DeliveryView.of(row, event_type or "")


# -- the worker -----------------------------------------------------------------------------------
def fan_out(ctx: Context, batch: int = 200) -> int:
    """Claim up to `batch` events not yet dispatched and create their deliveries. Returns the
    number of events dispatched."""
    now = ctx.clock.now()
    claimed = list(
        ctx.uow.session.scalars(
            select(m.Event)
            .where(m.Event.dispatched_at.is_(None))
            .order_by(m.Event.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if not claimed:
        return 0
    endpoints = list(
        ctx.uow.session.scalars(
            select(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.enabled.is_(True))
            .order_by(m.WebhookEndpoint.id)
        )
    )
    for row in claimed:
        for endpoint in endpoints:
            if (
                endpoint.organization_id in (None, row.organization_id)
                and row.id > endpoint.after_event_id
                and events.matches(list(endpoint.event_types), row.type)
            ):
                ctx.uow.session.add(
                    m.WebhookDelivery(
                        event_id=row.id,
                        endpoint_id=endpoint.id,
                        organization_id=row.organization_id,
                        status=PENDING,
                        attempts=0,
                        round_start=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        row.dispatched_at = now
    ctx.uow.session.flush()
    return len(claimed)


@dataclass(frozen=True)
class Claim:
    """A delivery leased to one worker for one attempt, with all it needs to send it."""

    delivery_id: int
    attempt: int
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: str


def message(row: m.Event) -> dict[str, Any]:
    """The JSON body receivers get."""
    return {
        "id": row.id,
        "type": row.type,
        "created_at": row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "organization_id": row.organization_id,
        "data": row.payload,
    }


def claim(ctx: Context, limit: int = 20, lease: timedelta = timedelta(seconds=60)) -> list[Claim]:
    """Lease up to `limit` deliveries that are due now to this worker."""
    now = ctx.clock.now()
    enabled = select(m.WebhookEndpoint.id).where(m.WebhookEndpoint.enabled.is_(True))
    rows = list(
        ctx.uow.session.scalars(
            select(m.WebhookDelivery)
            .where(
                m.WebhookDelivery.status == PENDING,
                m.WebhookDelivery.next_attempt_at <= now,
                m.WebhookDelivery.endpoint_id.in_(enabled),
            )
            .order_by(m.WebhookDelivery.next_attempt_at, m.WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    claims = []
    for row in rows:
        endpoint = ctx.uow.session.get(m.WebhookEndpoint, row.endpoint_id)
        event = ctx.uow.session.get(m.Event, row.event_id)
        assert endpoint is not None
        assert event is not None
        row.attempts += 1
        row.last_attempt_at = now
        row.next_attempt_at = now + lease
        keys = [endpoint.secret]
        if (
            endpoint.previous_secret
            and endpoint.previous_secret_expires_at
            and endpoint.previous_secret_expires_at > now
        ):
            keys.append(endpoint.previous_secret)
        claims.append(
            Claim(
                delivery_id=row.id,
                attempt=row.attempts,
                url=endpoint.url,
                secrets=tuple(keys),
                message_id=f"evt_{event.id}",
                body=json.dumps(message(event), separators=(",", ":"), ensure_ascii=False),
            )
        )
    ctx.uow.session.flush()
    return claims


def sign_headers(claim: Claim, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers: one `v1,` signature per valid secret."""
    moment = at.astimezone(UTC)
    signatures = " ".join(
        Webhook(key).sign(claim.message_id, moment, claim.body) for key in claim.secrets
    )
    return {
        "webhook-id": claim.message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "abonnement-webhooks/1",
    }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(client: httpx.Client, claim: Claim, at: datetime) -> Outcome:
    """POST one delivery. Never raises: a failure is an outcome to record."""
    try:
        response = client.post(
            claim.url, content=claim.body.encode(), headers=sign_headers(claim, at)
        )
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")


def retry_delay(attempts_in_round: int) -> timedelta | None:
    """The wait after the n-th failed attempt of a round (jittered), or None: no more."""
    if attempts_in_round > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts_in_round - 1]
    return base * _rng.uniform(1 - JITTER, 1 + JITTER)


def record(ctx: Context, claim: Claim, outcome: Outcome) -> str | None:
    """Record an attempt's outcome, unless the lease was lost meanwhile. Returns the status."""
    row = ctx.uow.session.get(m.WebhookDelivery, claim.delivery_id, with_for_update=True)
    if row is None or row.status != PENDING or row.attempts != claim.attempt:
        return None  # removed, redelivered or taken over by another worker
    now = ctx.clock.now()
    row.last_status_code = outcome.status_code
    row.last_error = outcome.error
    if outcome.delivered:
        row.status = SUCCEEDED
        row.next_attempt_at = None
        row.completed_at = now
    else:
        delay = retry_delay(row.attempts - row.round_start)
        if delay is None:
            row.status = FAILED
            row.next_attempt_at = None
            row.completed_at = now
        else:
            row.next_attempt_at = now + delay
    ctx.uow.session.flush()
    return row.status


@dataclass
class DeliveryTally:
    events: int = 0
    attempts: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, other: DeliveryTally) -> None:
        self.events += other.events
        self.attempts += other.attempts
        self.succeeded += other.succeeded
        self.retrying += other.retrying
        self.failed += other.failed


def deliver_pending(
    app: Abonnement,
    client: httpx.Client,
    *,
    batch: int = 20,
    concurrency: int = 4,
    lease: timedelta = timedelta(seconds=60),
) -> DeliveryTally:
    """One pass: fan out every undispatched event, then send every delivery due now, until
    none is left. Returns what it did."""
    tally = DeliveryTally()
    while True:
        dispatched = app.run(app.operator, fan_out)
        tally.events += dispatched
        if not dispatched:
            break
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while True:
            claims = app.run(app.operator, claim, batch, lease)
            if not claims:
                break
            at = app.clock.now()
            outcomes = list(pool.map(send, [client] * len(claims), claims, [at] * len(claims)))
            for item, outcome in zip(claims, outcomes, strict=True):
                status = app.run(app.operator, record, item, outcome)
                tally.attempts += 1
                if status == SUCCEEDED:
                    tally.succeeded += 1
                elif status == FAILED:
                    tally.failed += 1
                elif status == PENDING:
                    tally.retrying += 1
    return tally


def run_worker(
    app: Abonnement,
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 10.0,
    concurrency: int = 4,
    stop: threading.Event | None = None,
    on_pass: Callable[[DeliveryTally], None] | None = None,
) -> DeliveryTally:
    """Deliver until stopped (or, with `once`, until nothing is due now). A pass that fails
    (the database away for a moment) is logged and tried again after the poll interval."""
    stop = stop or threading.Event()
    total = DeliveryTally()
    lease = timedelta(seconds=timeout_seconds + 30)
    with httpx.Client(timeout=timeout_seconds, follow_redirects=False) as client:
        while not stop.is_set():
            try:
                tally = deliver_pending(app, client, concurrency=concurrency, lease=lease)
            except Exception:
                if once:
                    raise
                log.exception("webhook delivery pass failed; trying again")
                stop.wait(poll_seconds)
                continue
            total.add(tally)
            if on_pass is not None and tally.attempts + tally.events:
                on_pass(tally)
            if once:
                break
            stop.wait(poll_seconds)
    return total
