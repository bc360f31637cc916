"""Configuration, declared once. Every setting can come from the environment (ABONNEMENT_...)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
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
