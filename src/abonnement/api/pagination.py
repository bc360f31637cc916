"""Cursor pagination for list endpoints: `?limit=20&starting_after=<id>` answers

    {"data": [...], "has_more": true, "next_cursor": 57}

and the next page is `?starting_after=57`. Cursors are ids, so a page never repeats or skips an
item when items are added meanwhile (unlike offsets)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

#: The largest id the API accepts anywhere (the largest integer JSON parsers keep exactly).
MAX_ID = 2**53 - 1
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: int | None


@dataclass(frozen=True)
class PageParams:
    limit: int
    starting_after: int | None


def _page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="How many items to return (1-100).")
    ] = DEFAULT_LIMIT,
    starting_after: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Return the items after this id (`next_cursor`)."),
    ] = None,
) -> PageParams:
    return PageParams(limit, starting_after)


PageDep = Annotated[PageParams, Depends(_page_params)]


def paginate(
    items: Sequence[T],
    params: PageParams,
    *,
    key: Callable[[T], int] = lambda item: item.id,  # type: ignore[attr-defined]
    newest_first: bool = False,
) -> Page[T]:
    """One page of items already ordered by id (ascending, or descending when newest_first)."""
    after = params.starting_after
    if after is not None:
        items = [i for i in items if (key(i) < after if newest_first else key(i) > after)]
    chunk = list(items[: params.limit])
    has_more = len(items) > params.limit
    return Page[T](data=chunk, has_more=has_more, next_cursor=key(chunk[-1]) if has_more else None)
