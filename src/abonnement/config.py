"""Configuration, declared once. Every setting can come from the environment (ABONNEMENT_...)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABONNEMENT_", env_file=".env", extra="ignore")

    #: SQLAlchemy URL. Default: an embedded SQLite file under ./var. PostgreSQL:
    #: postgresql://user@host:5432/dbname (psycopg 3 is used).
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'abonnement.db'}"
    #: Language for CLI output and messages when the caller names none: en, nb, nl or da.
    locale: str = "en"
    #: Log SQL statements.
    echo_sql: bool = False
    #: development (the default) or production. In production the server refuses to start
    #: without a real ABONNEMENT_SECRET_KEY.
    environment: Literal["development", "production"] = "development"
    #: The server secret that API keys are HMAC'd with (at least 32 characters). Unset in
    #: development: a random one is generated once and kept in `secret_key_file`.
    secret_key: SecretStr | None = None
    #: Where the generated development secret is kept (mode 0600).
    secret_key_file: Path = DEFAULT_DATA_DIR / "secret_key"
    #: The largest request body the API reads, in bytes; larger ones are answered with 413.
    max_request_bytes: int = 1_048_576
    #: Worker threads per server process that run the requests' use cases (each holds at most
    #: one database connection at a time). A request's Python needs the interpreter's lock, so
    #: threads beyond what covers the waits for the database only take turns for it: on this
    #: project's benchmark 8 carried about 1.4 times the assignments of 40 (anyio's default).
    #: Raise it when the database is far away or requests wait on locks.
    request_threads: int = Field(default=8, ge=1, le=1000)
    # -- the admin center (/admin) --
    #: A signed-in session ends after this many hours, however active.
    session_hours: int = 12
    #: ... or after this many minutes without a request.
    session_idle_minutes: int = 120
    #: Failed sign-ins in a row that lock an account, and for how many minutes.
    sign_in_max_failures: int = 5
    sign_in_lockout_minutes: int = 15
    #: Send the session cookie only over HTTPS. Unset: on in production, off in development
    #: (where the admin center is usually opened over plain http://127.0.0.1).
    cookie_secure: bool | None = None
    # -- the REST API: idempotency keys and rate limits --
    #: How long an Idempotency-Key and the answer it stands for are kept, in hours.
    idempotency_key_hours: int = 24
    #: A request that has held its idempotency key this many seconds without answering is taken
    #: as crashed: a retry with the key runs again. Keep it above the slowest request.
    idempotency_lease_seconds: int = 120
    #: Requests per second each API key may send on average, and how many at once above that
    #: (a token bucket). 0 turns rate limits off.
    rate_limit_per_second: float = 100
    rate_limit_burst: int = 200
    #: The same for requests without a valid API key, counted per client address.
    rate_limit_anonymous_per_second: float = 20
    rate_limit_anonymous_burst: int = 100
    #: Redis that several servers share rate limits through, e.g. redis://127.0.0.1:6379/0.
    #: Unset: each process counts for itself.
    redis_url: str | None = None
    #: Prefix of the keys written to Redis.
    redis_prefix: str = "abonnement"

    # -- webhooks --
    #: Run the webhook delivery worker inside `abonnement serve` (one per server, beside the
    #: API). Off: run `abonnement webhooks deliver` as a process of its own.
    webhooks_deliver: bool = False
    #: Seconds a receiver has to answer one delivery.
    webhook_timeout_seconds: float = 10.0
    #: Seconds the worker waits between looks at the outbox when there was nothing to send.
    webhook_poll_seconds: float = 1.0
    #: Deliveries one worker sends at once.
    webhook_concurrency: int = 4

    @field_validator("database_url")
    @classmethod
    def _psycopg3(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
