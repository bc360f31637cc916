"""The /v1 routers, one per resource."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

#: The version prefix every router's paths carry (the app adds their routes to its own router
#: as they are: see `api.app._add_routes`).
V1 = "/v1"


class ApiRoute(APIRoute):
    """A route of the API: an endpoint written as a plain function (the use cases are
    synchronous) runs on a worker thread, as FastAPI would run it, but the answer is checked
    against the response model and serialized back on the event loop. FastAPI sends that
    check of a plain function's answer to a worker thread of its own, a second trip per
    request that costs more CPU than the check itself."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _on_a_worker_thread(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _on_a_worker_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the parameters and types through __wrapped__
    async def on_a_worker_thread(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return on_a_worker_thread
