"""Idempotency keys: a request that changes something may carry `Idempotency-Key: <value>`, and
sending it again gives the first answer instead of doing the work twice (as Stripe's API does).

- The key is 1-255 printable ASCII characters (otherwise 400 `idempotency_key_invalid`), and
  belongs to the API key that sent it: two API keys never see each other's keys.
- A retry with the same key, method, path (and query) and body gets the first answer byte for
  byte - status, headers and body - plus `Idempotent-Replayed: true`. JSON bodies are compared
  by their content, so key order and spacing do not matter.
- The same key with another method, path or body is refused: 422 `idempotency_key_reused`.
- While the first request runs, another with its key is answered at once with 409
  `idempotency_key_in_use` and `Retry-After: 1` (it does not wait): the retry then gets the
  first answer. The claim is a row in `idempotency_keys`, inserted in a short transaction of its
  own before the use case runs, and the unique (API key, idempotency key) lets one request hold
  it - across processes and machines sharing the database.
- Answers below 500 are kept and replayed, refusals (4xx) too. A 5xx, a crash of the request,
  and the refusals that say "try again" (`concurrent_change`, `payment_processing_error`)
  release the key, so a retry runs again - unless the request's changes were committed: then
  the key is never run again, and a retry gets 409 `idempotency_key_answer_lost`.
- The use case's own transaction marks the claim `committed` just before it commits (only if
  this request still holds it), so the changes and the record that they were made are one
  commit. A process that dies while holding a key leaves it claimed: after
  `ABONNEMENT_IDEMPOTENCY_LEASE_SECONDS` (120) a retry takes over a claim that never committed
  and runs; a claim that committed but died before its answer was kept is never run again, and
  a retry gets 409 `idempotency_key_answer_lost` (read the resource to see the result). A
  request that outlived its lease and was taken over is refused at its commit (409
  `idempotency_key_in_use`), so the two never both change anything.
- Keys are kept `ABONNEMENT_IDEMPOTENCY_KEY_HOURS` (24) from their first use; an expired key is
  ignored (its request runs as new) and expired rows are deleted now and then.

Only /v1 requests with POST, PATCH, PUT or DELETE are concerned; everything else (the admin
center's forms included) passes untouched. A request whose API key is not valid passes too, to
be refused by the route as usual, and keeps nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from abonnement.api.errors import REQUEST_TOO_LARGE, http_problem
from abonnement.api.limits import KeyIdentities, bearer_token, refusal_response
from abonnement.app import Abonnement, ChargeScope, before_commit, charge_scope, is_transient
from abonnement.config import Settings
from abonnement.domain.errors import Code, error
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

log = logging.getLogger("abonnement.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 255
#: For the OpenAPI document: 1-255 printable ASCII characters, no space at either end (HTTP
#: drops those).
PATTERN = r"^[!-~]([ -~]*[!-~])?$"
METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: Refusals that tell the caller to try again: the key is released, not kept.
RETRYABLE_CODES = frozenset({Code.CONCURRENT_CHANGE.value, Code.PAYMENT_PROCESSING_ERROR.value})
#: Response headers that belong to one connection or one moment, not to the answer.
_NOT_KEPT = frozenset({b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"})
#: Expired rows are deleted at most this often per process (seconds).
PURGE_INTERVAL = 60.0

T = TypeVar("T")

IN_PROGRESS, COMMITTED, DONE = "in_progress", "committed", "done"


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, IntegrityError) or is_transient(exc)


def valid_key(raw: bytes) -> str | None:
    """The key if it is 1-255 printable ASCII characters, else None."""
    if not 1 <= len(raw) <= MAX_LENGTH or any(not 0x20 <= byte <= 0x7E for byte in raw):
        return None
    return raw.decode("ascii")


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """SHA-256 of what makes two requests the same: method, path, query and body (a JSON body
    by its content, so spacing and key order do not count)."""
    canonical = body
    if body:
        try:
            canonical = json.dumps(
                json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True
            ).encode("ascii")
        except ValueError:  # not JSON (or not UTF-8): the bytes themselves
            canonical = body
    digest = hashlib.sha256()
    for part in (method.encode("ascii"), path.encode("utf-8"), query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class Outcome(StrEnum):
    RUN = "run"  # this request holds the key: run it
    REPLAY = "replay"  # answered before: send that answer again
    REUSED = "reused"  # the key was used for another request
    IN_USE = "in_use"  # another request with the key is running
    LOST = "lost"  # the request's changes were committed, but its answer was never kept


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    row_id: int = 0
    locked_at: datetime | None = None
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    method: str = ""
    path: str = ""


class IdempotencyStore:
    """The `idempotency_keys` table: claim a key, keep its answer, or release it. Each call is a
    short transaction of its own (BEGIN IMMEDIATE on SQLite, so claims queue; on PostgreSQL the
    unique constraint decides between two inserts)."""

    def __init__(self, engine: Abonnement, settings: Settings) -> None:
        self.engine = engine
        self.ttl = timedelta(hours=settings.idempotency_key_hours)
        self.lease = timedelta(seconds=settings.idempotency_lease_seconds)
        self._next_purge = 0.0

    def _now(self) -> datetime:
        return self.engine.clock.now()

    def _retried(self, step: Callable[[], T]) -> T:
        """`step()`, and again a few times with jittered backoff if the database refuses it for
        now (a concurrent insert of the same key, a deadlock, SQLite's busy lock). The first try
        goes without the retry machinery: it is what nearly every request takes."""
        try:
            return step()
        except Exception as exc:
            if not _worth_retrying(exc):
                raise
        for attempt in Retrying(
            retry=retry_if_exception(_worth_retrying),
            stop=stop_after_attempt(4),
            wait=wait_random_exponential(multiplier=0.01, max=0.2),
            reraise=True,
        ):
            with attempt:
                result = step()
        return result

    def claim(self, scope: str, key: str, print_: str, method: str, path: str) -> Claim:
        """Take the key for this request, or say why not. A concurrent insert of the same key
        (the unique constraint) looks again, and then finds the other request's row."""
        claim = self._retried(lambda: self._claim(scope, key, print_, method, path))
        self._maybe_purge()
        return claim

    def _claim(self, scope: str, key: str, print_: str, method: str, path: str) -> Claim:
        now = self._now()
        with self.engine.engine.begin() as connection:
            _without_waiting_for_disk(connection)
            # The common case, a key never seen: one INSERT that does nothing on a conflict.
            values = {
                "scope": scope,
                "key": key,
                "fingerprint": print_,
                "method": method,
                "path": path[:1000],
                "status": IN_PROGRESS,
                "created_at": now,
                "locked_at": now,
                "expires_at": now + self.ttl,
            }
            inserted = connection.execute(_INSERT_NEW[connection.dialect.name], values).scalar()
            if inserted is not None:
                return Claim(Outcome.RUN, int(inserted), now)
            with Session(bind=connection) as session:  # in the same transaction
                return self._existing(session, values, now)

    def _existing(self, session: Session, values: dict[str, Any], now: datetime) -> Claim:
        """The key was seen before: replay, refuse, or take over the row."""
        scope, key, print_ = values["scope"], values["key"], values["fingerprint"]
        method, path = values["method"], values["path"]
        row = session.scalars(
            select(m.IdempotencyKey).where(
                m.IdempotencyKey.scope == scope, m.IdempotencyKey.key == key
            )
        ).one_or_none()
        if row is not None and row.expires_at <= now:
            session.delete(row)  # an expired key counts as never seen
            session.flush()
            row = None
        if row is None:
            row = m.IdempotencyKey(
                scope=scope,
                key=key,
                fingerprint=print_,
                method=method,
                path=path[:1000],
                status=IN_PROGRESS,
                created_at=now,
                locked_at=now,
                expires_at=now + self.ttl,
            )
            session.add(row)
            session.flush()
            return Claim(Outcome.RUN, row.id, now)
        if row.fingerprint != print_:
            return Claim(Outcome.REUSED, method=row.method, path=row.path)
        if row.status == DONE:
            return Claim(
                Outcome.REPLAY,
                status=row.response_status or 200,
                headers=tuple((str(n), str(v)) for n, v in row.response_headers or ()),
                body=row.response_body or b"",
            )
        expired = row.locked_at is None or row.locked_at + self.lease <= now
        if row.status == COMMITTED:
            # Its changes are in; its answer is coming, or was lost with its process.
            return Claim(Outcome.LOST if expired else Outcome.IN_USE)
        if expired:
            # The request that held it died before committing anything: take it over.
            taken = session.execute(
                update(m.IdempotencyKey)
                .where(
                    m.IdempotencyKey.id == row.id,
                    m.IdempotencyKey.status == IN_PROGRESS,
                    m.IdempotencyKey.locked_at == row.locked_at,
                )
                .values(locked_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return Claim(Outcome.RUN, row.id, now)
        return Claim(Outcome.IN_USE)

    @staticmethod
    def _owned(claim: Claim) -> dict[str, Any]:
        return {"row": claim.row_id, "locked": claim.locked_at}

    def commit_mark(self, claim: Claim, key: str) -> Callable[[UnitOfWork], None]:
        """What the request's use cases do just before they commit (`app.before_commit`): mark
        the claim committed in their own transaction, or refuse if another request took it over
        after the lease."""
        owned = self._owned(claim)

        def mark(uow: UnitOfWork) -> None:
            if uow.session.connection().execute(_MARK, owned).rowcount != 1:
                raise error(Code.IDEMPOTENCY_KEY_IN_USE, key=key)

        return mark

    def finish(
        self, claim: Claim, status: int, headers: Iterable[tuple[str, str]], body: bytes
    ) -> None:
        """Keep the answer; from now on the key replays it."""
        answer = {
            **self._owned(claim),
            "response_status": status,
            "response_headers": [[n, v] for n, v in headers],
            "response_body": body,
        }

        def keep() -> None:
            with self.engine.engine.begin() as connection:
                connection.execute(_FINISH, answer)

        self._retried(keep)

    def release(self, claim: Claim) -> None:
        """Forget the key (after a 5xx, a "try again" refusal or a crash), so a retry runs
        again - unless the request committed changes: then the key is never run again, and with
        no answer to keep, a retry hears at once that the answer was lost."""
        owned = self._owned(claim)

        def forget() -> None:
            with self.engine.engine.begin() as connection:
                _without_waiting_for_disk(connection)
                if connection.execute(_RELEASE, owned).rowcount != 1:
                    connection.execute(_LOSE, owned)

        self._retried(forget)

    def purge(self) -> int:
        """Delete the expired keys; how many there were."""
        with Session(self.engine.engine) as session, session.begin():
            result = session.execute(
                delete(m.IdempotencyKey)
                .where(m.IdempotencyKey.expires_at <= self._now())
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_INTERVAL
        try:
            self.purge()
        except SQLAlchemyError:  # housekeeping: never fail a request on it
            log.warning("could not delete expired idempotency keys", exc_info=True)


_KEYS = cast(Table, m.IdempotencyKey.__table__)
#: INSERT … ON CONFLICT (scope, key) DO NOTHING RETURNING id, per dialect (PostgreSQL and SQLite
#: both have it), built once: the id of the new row, or no row when the key exists.
_INSERT_NEW = {
    name: dialect_insert(_KEYS)
    .on_conflict_do_nothing(index_elements=["scope", "key"])
    .returning(_KEYS.c.id)
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _without_waiting_for_disk(connection: Connection) -> None:
    """On PostgreSQL, commit this transaction without waiting for its WAL to reach the disk
    (`synchronous_commit = off`): other sessions see it at once, and it costs no fsync. Safe for
    a claim and a release: the use case's own commit, which comes after a claim and waits for
    the disk, flushes the claim with it; a claim lost in a database crash lost its use case too.
    The answer (`finish`) is committed the ordinary way."""
    if connection.dialect.name == "postgresql":
        connection.execute(_NO_WAIT_FOR_DISK)


_NO_WAIT_FOR_DISK = text("SET LOCAL synchronous_commit = off")
_K = _KEYS.c
#: This request's claim: its row, as this request took it (a takeover changes `locked_at`).
_OWNED = (_K.id == bindparam("row"), _K.locked_at == bindparam("locked"))
_MARK = update(_KEYS).where(*_OWNED, _K.status != DONE).values(status=COMMITTED)
_FINISH = (
    update(_KEYS)
    .where(*_OWNED, _K.status != DONE)
    .values(
        status=DONE,
        response_status=bindparam("response_status"),
        response_headers=bindparam("response_headers"),
        response_body=bindparam("response_body"),
        locked_at=None,
    )
)
_RELEASE = delete(_KEYS).where(*_OWNED, _K.status == IN_PROGRESS)
#: A claim that committed but has no answer to keep: lost at once (a retry is told so).
_LOSE = update(_KEYS).where(*_OWNED, _K.status == COMMITTED).values(locked_at=None)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


class IdempotencyKeys:
    """ASGI middleware for /v1: see the module's description."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: IdempotencyStore,
        identities: KeyIdentities,
        prefix: str = "/v1/",
    ) -> None:
        self.app = app
        self.store = store
        self.identities = identities
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in METHODS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == b"idempotency-key"), None)
        if raw is None:
            await self.app(scope, receive, send)
            return
        key_id = await self.identities.key_id(bearer_token(scope))
        if key_id is None:  # refused by the route as usual (401); nothing is kept
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = valid_key(raw)
        if key is None:
            invalid = error(Code.IDEMPOTENCY_KEY_INVALID, header=HEADER, maximum=MAX_LENGTH)
            await refusal_response(request, invalid)(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body outgrew the size limit while streaming in
            if exc.status_code != 413:
                raise
            await http_problem(request, 413, REQUEST_TOO_LARGE)(scope, receive, send)
            return
        except ClientDisconnect:
            return
        method, path = scope["method"], scope["path"]
        claim = await run_in_threadpool(
            self.store.claim,
            key_id,
            key,
            fingerprint(method, path, scope.get("query_string", b""), body),
            method,
            path,
        )
        if claim.outcome is Outcome.REPLAY:
            await self._replay(claim, send)
        elif claim.outcome is Outcome.REUSED:
            reused = error(
                Code.IDEMPOTENCY_KEY_REUSED, key=key, method=claim.method, path=claim.path
            )
            await refusal_response(request, reused)(scope, receive, send)
        elif claim.outcome is Outcome.LOST:
            lost = error(Code.IDEMPOTENCY_KEY_ANSWER_LOST, key=key)
            await refusal_response(request, lost)(scope, receive, send)
        elif claim.outcome is Outcome.IN_USE:
            in_use = error(Code.IDEMPOTENCY_KEY_IN_USE, key=key)
            response = refusal_response(request, in_use, headers={"Retry-After": "1"})
            await response(scope, receive, send)
        else:
            await self._run(claim, key_id, key, scope, receive, send, body)

    async def _replay(self, claim: Claim, send: Send) -> None:
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in claim.headers]
        headers.append((REPLAYED_HEADER.lower().encode("ascii"), b"true"))
        await send({"type": "http.response.start", "status": claim.status, "headers": headers})
        await send({"type": "http.response.body", "body": claim.body, "more_body": False})

    async def _run(
        self,
        claim: Claim,
        key_id: str,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
    ) -> None:
        sent_body = False

        async def replayed_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        marking = before_commit.set(self.store.commit_mark(claim, key))
        # The processor knows the request's charges by its key: sent again after a crash, it
        # asks with the same keys (`app.ChargeScope`).
        named = hashlib.sha256(f"{key_id}\n{key}".encode()).hexdigest()[:32]
        charging = charge_scope.set(ChargeScope(f"rq{named}"))
        try:
            await self.app(scope, replayed_receive, capture)
        except BaseException:
            await run_in_threadpool(self.store.release, claim)
            raise
        finally:
            charge_scope.reset(charging)
            before_commit.reset(marking)
        if start is None:  # pragma: no cover - an app that answered nothing
            await run_in_threadpool(self.store.release, claim)
            return
        status: int = start["status"]
        answer = b"".join(chunks)
        headers = [(n, v) for n, v in start.get("headers", ()) if n.lower() not in _NOT_KEPT]
        if status >= 500 or _retryable(headers, answer):
            await run_in_threadpool(self.store.release, claim)
        else:
            kept = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
            await run_in_threadpool(self.store.finish, claim, status, kept, answer)
        await send({**start, "headers": list(start.get("headers", ()))})
        await send({"type": "http.response.body", "body": answer, "more_body": False})


def _retryable(headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """A problem whose code says "try again" (nothing was changed)."""
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    if not content_type.startswith(b"application/problem+json"):
        return False
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return False
    return code in RETRYABLE_CODES


def document(openapi: dict[str, Any]) -> None:
    """Add the Idempotency-Key header, and its 400, to every POST, PATCH, PUT and DELETE of the
    OpenAPI document."""
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the same key with the same request returns the first "
        "answer (with `Idempotent-Replayed: true`) instead of doing it again. 1-255 printable "
        "ASCII characters, e.g. a UUID; kept 24 hours per API key. Reusing a key for another "
        "request is `422 idempotency_key_reused`; a retry while the first is still running is "
        "`409 idempotency_key_in_use` with Retry-After; a retry of a request whose changes were "
        "made but whose answer was lost (the server stopped in between) is "
        "`409 idempotency_key_answer_lost`: it is never run twice.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH, "pattern": PATTERN},
    }
    bad_request = {
        "description": "The Idempotency-Key header is not 1-255 printable ASCII characters "
        "(code `idempotency_key_invalid`).",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for path, item in openapi.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if method.upper() not in METHODS:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == HEADER for p in parameters):
                parameters.append(dict(parameter))
            operation.setdefault("responses", {}).setdefault("400", bad_request)
