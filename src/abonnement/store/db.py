"""Engines for the embedded SQLite default and for PostgreSQL.

SQLite runs in WAL mode with foreign keys on. A unit of work that writes starts with
BEGIN IMMEDIATE, so two writers queue on the database lock (with a busy timeout) instead of
failing when a reader tries to upgrade; reads start a plain deferred transaction.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: PostgreSQL connections one process keeps, and the most it opens: a thread that finds them all
#: busy waits for one (up to POOL_TIMEOUT_S) instead of opening a connection that is closed again
#: when it is handed back. One process runs on one core, so more transactions at once than this
#: only wait on each other; an API server uses at most one connection per request at a time.
POOL_SIZE = 20
POOL_TIMEOUT_S = 30
PING_AFTER_IDLE_S = 5.0


def json_text(value: Any) -> str:
    """How JSON columns are stored (the engine's serializer, and the billing batch's bulk
    rows): orjson, several times faster than the standard library's encoder on the audit
    records and events a billing run writes by the million. Keys that are not strings become
    strings, as `json.dumps` makes them; the text is compact UTF-8, and reads back the same."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            json_serializer=json_text,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        json_serializer=json_text,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a round trip per request: a pooled connection
    that has been idle for PING_AFTER_IDLE_S is pinged before it is handed out, and replaced if
    the ping fails (the server restarted, or dropped it). Connections in steady use, idle for
    milliseconds, are handed out as they are (`pool_pre_ping` would ping every checkout)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection failed its ping") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")
