"""How the server runs its requests: the worker threads that carry the use cases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
import pytest
from pydantic import ValidationError

from abonnement.api.app import create_app
from abonnement.config import Settings

from .conftest import SECRET


def _threads_while_serving(settings: Settings) -> int:
    async def serve() -> int:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    # in a thread of its own: the test's thread may already run an event loop (other tests')
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, serve).result()


def test_requests_run_on_as_many_worker_threads_as_configured(database_url: str) -> None:
    assert _threads_while_serving(Settings(database_url=database_url, secret_key=SECRET)) == 8
    three = Settings(database_url=database_url, secret_key=SECRET, request_threads=3)
    assert _threads_while_serving(three) == 3


@pytest.mark.parametrize("value", [0, -1, 1001])
def test_a_thread_count_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="request_threads"):
        Settings(request_threads=value)
