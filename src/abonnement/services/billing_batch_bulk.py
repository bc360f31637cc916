"""The billing batch's writes, below the ORM: bulk inserts and set-based updates.

Rows are written as the models store them (a test holds the batch to the rows the one-by-one
path writes), in the unit of work's transaction: executemany on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from abonnement.services.billing_batch_rows import table_of
from abonnement.store import models as m
from abonnement.store.db import json_text

_UPDATE_IN = 500  # keys per UPDATE … IN (…), with the values under SQLite's old limit of 999


class Bulk:
    """Rows written below the ORM, in bulk: executemany on SQLite, COPY on PostgreSQL, in the
    unit of work's transaction. Ids are taken up front, so rows can name each other before they
    are written: on SQLite after the largest (this transaction holds the write lock), on
    PostgreSQL from the table's sequence. Values are stored exactly as the models store them."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.sqlite = self.connection.dialect.name == "sqlite"

    def ids(self, model: type[m.Base], count: int) -> list[int]:
        if count == 0:
            return []
        name = table_of(model).name
        if self.sqlite:
            top = self.connection.exec_driver_sql(f"SELECT max(id) FROM {name}").scalar()
            return list(range((top or 0) + 1, (top or 0) + 1 + count))
        rows = self.connection.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) "
            f"FROM generate_series(1, {int(count)})"
        )
        return sorted(int(row[0]) for row in rows)

    def insert(self, model: type[m.Base], rows: list[dict[str, Any]] | Prepared) -> None:
        """Insert rows (dicts with the same keys, in the same order), or rows prepared for this
        database beforehand (`prepare`)."""
        if not rows:
            return
        prepared = rows if isinstance(rows, Prepared) else prepare(model, rows, self.sqlite)
        table = table_of(model)
        names, values = prepared.names, prepared.values
        columns = ", ".join(f'"{name}"' for name in names)
        if self.sqlite:
            marks = ", ".join("?" for _ in names)
            self.connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", values
            )
            return
        raw: Any = self.connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy,
        ):
            for row_values in values:
                copy.write_row(row_values)

    def update(self, model: type[m.Base], key: str, rows: list[dict[str, Any]]) -> None:
        """UPDATE … SET … WHERE key IN (…) for many rows: rows that set the same values share
        one statement (the renewals of a day set a few distinct terms), so many rows cost a few
        statements. Should a key come twice, its rows are written one by one, in order."""
        if not rows:
            return
        table = table_of(model)
        groups: dict[tuple[tuple[str, ...], tuple[Any, ...]], list[Any]] = {}
        keys = [row[key] for row in rows]
        if len(set(keys)) == len(keys):
            for row in rows:
                names = tuple(name for name in row if name != key)
                groups.setdefault((names, tuple(row[name] for name in names)), []).append(row[key])
            todo = list(groups.items())
        else:
            todo = []
            for row in rows:
                names = tuple(name for name in row if name != key)
                todo.append(((names, tuple(row[name] for name in names)), [row[key]]))
        mark = "?" if self.sqlite else "%s"
        for (names, values), ids in todo:
            converted = []
            for name, value in zip(names, values, strict=True):
                if isinstance(value, Enum):
                    value = value.value
                convert = self._converter(table.c[name].type)
                converted.append(convert(value) if convert is not None else value)
            sets = ", ".join(f'"{name}" = {mark}' for name in names)
            for start in range(0, len(ids), _UPDATE_IN):
                chunk = ids[start : start + _UPDATE_IN]
                if self.sqlite:
                    where = f'"{key}" IN ({", ".join("?" for _ in chunk)})'
                    params: tuple[Any, ...] = (*converted, *chunk)
                else:
                    where, params = f'"{key}" = ANY(%s)', (*converted, list(chunk))
                self.connection.exec_driver_sql(
                    f"UPDATE {table.name} SET {sets} WHERE {where}", params
                )

    def update_each(self, model: type[m.Base], column: str, pairs: list[tuple[int, Any]]) -> None:
        """UPDATE one column of many rows by id, each row to a value of its own: one statement
        on PostgreSQL (the pairs as two arrays), executemany on SQLite."""
        if not pairs:
            return
        table = table_of(model)
        convert = self._converter(table.c[column].type)
        ids = [row_id for row_id, _ in pairs]
        values = [convert(v) if convert else v for _, v in pairs]
        if self.sqlite:
            self.connection.exec_driver_sql(
                f'UPDATE {table.name} SET "{column}" = ? WHERE id = ?',
                list(zip(values, ids, strict=True)),
            )
            return
        kind = table.c[column].type.compile(dialect=self.connection.dialect)
        self.connection.exec_driver_sql(
            f'UPDATE {table.name} SET "{column}" = v.value '
            f"FROM unnest(%s::bigint[], %s::{kind}[]) AS v(id, value) "
            f"WHERE {table.name}.id = v.id",
            (ids, values),
        )

    def _converter(self, kind: Any) -> Callable[[Any], Any] | None:
        return _converter(kind, self.sqlite)


@dataclass(frozen=True)
class Prepared:
    """Rows of one table as the database stores them: column names and value tuples."""

    names: list[str]
    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.values)


def prepare(model: type[m.Base], rows: list[dict[str, Any]], sqlite: bool) -> Prepared:
    """Rows (dicts with the same keys, in the same order) as `Bulk.insert` writes them: work
    that needs no connection, so it can be done before the batch takes a lock."""
    if not rows:
        return Prepared([], [])
    table = table_of(model)
    names = list(rows[0])
    values: list[tuple[Any, ...]] = [tuple(row.values()) for row in rows]
    converters = [_converter(table.c[name].type, sqlite) for name in names]
    if any(converters):  # column by column: most columns need nothing
        columns_of = list(zip(*values, strict=True))
        for index, convert in enumerate(converters):
            if convert is not None:
                columns_of[index] = tuple(map(convert, columns_of[index]))
        values = list(zip(*columns_of, strict=True))
    return Prepared(names, values)


def _converter(kind: Any, sqlite: bool) -> Callable[[Any], Any] | None:
    if isinstance(kind, sa.JSON):
        return _json  # None too: the models store JSON null, as the ORM does
    if not sqlite:
        return None
    if isinstance(kind, m.UTCDateTime):
        return _sqlite_moment
    if isinstance(kind, sa.Date):
        return _sqlite_day
    if isinstance(kind, sa.Boolean):
        return _sqlite_flag
    return None


_json = json_text  # the engine's serializer: the text the ORM stores


@functools.lru_cache(maxsize=4096)  # a batch writes a few moments many times
def _sqlite_moment(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite storage of a `UTCDateTime`: naive UTC, with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@functools.lru_cache(maxsize=4096)  # and a few days
def _sqlite_day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sqlite_flag(value: bool | None) -> int | None:
    return int(value) if value is not None else None
