"""The synthetic world of bench/bill_run: N subscriptions due on one day, written into a fresh
database with bulk inserts (executemany on SQLite, COPY on PostgreSQL), with the history real
use leaves behind. The amounts come from the engine's own domain code (proration, invoice
totals, tax), so the billing run sees consistent books."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from abonnement.domain import invoicing as inv
from abonnement.domain.currencies import currency
from abonnement.domain.invoices import due_date, totals
from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency, Period, add_months

NOK = currency("NOK")
TAX_RATE_BP = 2500  # Norway
PRICES = {"bench-monthly": 14000, "bench-annual": 150000}  # NOK per license per period


# -- databases ------------------------------------------------------------------------------------
@dataclass
class Database:
    url: str  # what the engine uses (postgresql+psycopg:// or sqlite:///)
    kind: str  # sqlite or postgresql
    cleanup: Any = None

    def close(self) -> None:
        if self.cleanup is not None:
            self.cleanup()


def _pg(url: str, database: str | None = None) -> str:
    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(url: str | None, keep: bool) -> Iterator[Database]:
    """A new, empty database: a SQLite file in a temporary directory, or a database of its own
    on the PostgreSQL server `url` names (dropped afterwards unless `keep`)."""
    if url is None or url.startswith("sqlite"):
        if url is None:
            folder = Path(tempfile.mkdtemp(prefix="abonnement-bench-"))
            path = folder / "bench.db"
            db = Database(f"sqlite:///{path}", "sqlite")
            if not keep:
                db.cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)
        else:
            path = Path(make_url(url).database or "")
            if path.exists():
                raise SystemExit(f"{path} exists; the benchmark wants a fresh database")
            db = Database(url, "sqlite")
        try:
            yield db
        finally:
            db.close()
        return
    admin = create_engine(_pg(url), isolation_level="AUTOCOMMIT")
    name = f"abonnement_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_pg(url, name), "postgresql")

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    if not keep:
        db.cleanup = drop
    try:
        yield db
    finally:
        db.close()


class Writer:
    """Bulk rows into tables: executemany in one transaction (SQLite) or COPY (PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.kind == "sqlite":
            import sqlite3

            self.conn: Any = sqlite3.connect(make_url(db.url).database or "")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA journal_mode=WAL")
        else:
            import psycopg

            self.conn = psycopg.connect(
                make_url(db.url).set(drivername="postgresql").render_as_string(False)
            )

    def ready(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Rows with their values in the form this database's driver takes."""
        value = _sqlite_value if self.db.kind == "sqlite" else _pg_value
        return [tuple(value(v) for v in row) for row in rows]

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        converted: bool = False,
    ) -> None:
        """Insert rows; `converted` when they are `ready` already."""
        if not rows:
            return
        values = rows if converted else self.ready(rows)
        cols = ", ".join(f'"{c}"' for c in columns)
        if self.db.kind == "sqlite":
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)
        else:
            with (
                self.conn.cursor() as cursor,
                cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for row in values:
                    copy.write_row(row)

    def commit(self) -> None:
        self.conn.commit()

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def scalar(self, sql: str) -> Any:
        return self.conn.execute(sql).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy stores on SQLite: naive UTC text for moments, ISO dates, 0/1, JSON text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _pg_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict) else value


# -- the synthetic world --------------------------------------------------------------------------
@dataclass
class World:
    """Rows for every table, appended in id order (ids are given here, sequences set after)."""

    due: date
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    invoices: int = 0
    subscriptions: int = 0
    organizations: int = 0
    changed: int = 0
    expiring: int = 0
    declining: int = 0

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.tables.setdefault(table, []).append(row)


COLUMNS = {
    "organizations": ("id", "name", "country", "currency", "time_zone", "locale", "created_at"),
    "billing_accounts": (
        "id",
        "organization_id",
        "currency",
        "country",
        "tax_rate_bp",
        "payment_terms_days",
        "bill_to_name",
        "bill_to_address",
        "created_at",
    ),
    "payment_methods": (
        "id",
        "organization_id",
        "kind",
        "label",
        "is_default",
        "is_backup",
        "processor",
        "processor_token",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "created_at",
    ),
    "billing_cursors": ("organization_id", "processed_through", "updated_at"),
    "subscriptions": (
        "id",
        "organization_id",
        "offer_id",
        "product_id",
        "status",
        "channel",
        "currency",
        "quantity",
        "prepaid_quantity",
        "recurring_billing",
        "credit_check_pending",
        "term_start",
        "term_end",
        "last_increase_on",
        "quantity_before_last_increase",
        "trial_extended",
        "status_changed_at",
        "created_at",
    ),
    "billing_segments": ("id", "subscription_id", "start", "end", "quantity", "unit_price_minor"),
    "invoices": (
        "id",
        "number",
        "kind",
        "billing_account_id",
        "organization_id",
        "issue_date",
        "due_date",
        "period_start",
        "period_end",
        "currency",
        "subtotal_minor",
        "tax_rate_bp",
        "tax_minor",
        "total_minor",
        "reason",
        "sold_to",
        "bill_to",
        "created_at",
    ),
    "invoice_lines": (
        "id",
        "invoice_id",
        "subscription_id",
        "kind",
        "description",
        "period_start",
        "period_end",
        "start",
        "end",
        "quantity",
        "unit_price_minor",
        "amount_minor",
    ),
    "payments": (
        "id",
        "billing_account_id",
        "invoice_id",
        "payment_method_id",
        "kind",
        "purpose",
        "status",
        "amount_minor",
        "currency",
        "processor",
        "processor_ref",
        "created_at",
    ),
    "ledger_entries": (
        "id",
        "billing_account_id",
        "transaction",
        "kind",
        "account",
        "amount_minor",
        "currency",
        "invoice_id",
        "payment_id",
        "at",
    ),
}
ORDER = list(COLUMNS)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Offer:
    id: int
    code: str
    name: str
    frequency: Frequency


def _catalog(w: Writer, created: datetime) -> dict[str, Offer]:
    w.rows("products", ("id", "sku", "name", "created_at"), [(1, "BENCH", "Bench Suite", created)])
    offers = {
        "bench-monthly": Offer(1, "bench-monthly", "Bench Suite (monthly)", Frequency.MONTHLY),
        "bench-annual": Offer(2, "bench-annual", "Bench Suite (annual)", Frequency.ANNUAL),
    }
    w.rows(
        "offers",
        (
            "id",
            "code",
            "product_id",
            "name",
            "term",
            "billing_frequency",
            "cancellation_model",
            "cancellation_window_days",
            "online_cancel_limit",
            "channels",
            "end_of_sale",
            "min_quantity",
            "max_quantity",
            "expired_days",
            "disabled_days",
            "created_at",
        ),
        [
            (
                o.id,
                o.code,
                1,
                o.name,
                o.frequency.value,
                o.frequency.value,
                "classic",
                7,
                25,
                "online",
                False,
                1,
                100000,
                30,
                90,
                created,
            )
            for o in offers.values()
        ],
    )
    w.rows(
        "offer_prices",
        ("offer_id", "currency", "amount_minor"),
        [(o.id, "NOK", PRICES[o.code]) for o in offers.values()],
    )
    return offers


def _invoice(
    world: World,
    org_id: int,
    lines: list[inv.Line],
    reason: str,
    day: date,
    offer: Offer,
    method_id: int,
) -> None:
    """An issued invoice as `billing.issue` writes it, paid at once by card."""
    sums = totals([line.amount for line in lines], Decimal(TAX_RATE_BP) / 10000, NOK)
    invoice_id = world.next_id("invoices")
    at = _midnight(day) + timedelta(hours=9)
    world.add(
        "invoices",
        (
            invoice_id,
            f"INV-{invoice_id:06d}",
            "invoice",
            org_id,
            org_id,
            day,
            due_date(day, 30),
            min(line.start for line in lines),
            max(line.end for line in lines),
            "NOK",
            sums.subtotal.minor,
            TAX_RATE_BP,
            sums.tax.minor,
            sums.total.minor,
            reason,
            {"organization_id": org_id, "name": f"Bench {org_id}", "country": "NO"},
            {"name": f"Bench {org_id}", "address": "", "country": "NO"},
            at,
        ),
    )
    for line in lines:
        world.add(
            "invoice_lines",
            (
                world.next_id("invoice_lines"),
                invoice_id,
                line.subscription_id,
                line.kind.value,
                offer.name,
                line.period.start,
                line.period.end,
                line.start,
                line.end,
                line.quantity,
                line.unit_price.minor,
                line.amount.minor,
            ),
        )
    tx = str(uuid.uuid4())
    for account, amount in (
        ("receivable", sums.total.minor),
        ("revenue", -sums.subtotal.minor),
        ("tax_payable", -sums.tax.minor),
    ):
        world.add(
            "ledger_entries",
            (
                world.next_id("ledger_entries"),
                org_id,
                tx,
                "invoice",
                account,
                amount,
                "NOK",
                invoice_id,
                None,
                at,
            ),
        )
    payment_id = world.next_id("payments")
    world.add(
        "payments",
        (
            payment_id,
            org_id,
            invoice_id,
            method_id,
            "charge",
            reason,
            "succeeded",
            sums.total.minor,
            "NOK",
            "sandbox",
            f"sbx_ch_{payment_id:024x}",
            at,
        ),
    )
    tx = str(uuid.uuid4())
    for account, amount in (("cash", sums.total.minor), ("receivable", -sums.total.minor)):
        world.add(
            "ledger_entries",
            (
                world.next_id("ledger_entries"),
                org_id,
                tx,
                "payment",
                account,
                amount,
                "NOK",
                None,
                payment_id,
                at,
            ),
        )
    world.invoices += 1


def build(db: Database, n: int, due: date, seed: int = 2026) -> World:
    """N subscriptions in organizations of 1 to 8, every one at the end of its term on `due`:
    7 in 10 monthly, 3 in 10 annual, 1 to 500 licenses; 15 % changed their quantity during the
    last weeks (an increase was charged at once, R6; a decrease waits for the statement, R12);
    1 in 200 has recurring billing off (it expires); 1 in 100 organizations pays with a card
    that is declined at renewal (dunning)."""
    rng = random.Random(seed)
    world = World(due)
    w = Writer(db)
    created = _midnight(due - timedelta(days=400))
    offers = _catalog(w, created)
    org_id = 0
    made = 0
    while made < n:
        org_id += 1
        size = min(rng.choice((1, 1, 2, 2, 3, 4, 5, 8)), n - made)
        declines = rng.random() < 0.01
        world.declining += declines
        world.add(
            "organizations",
            (org_id, f"Bench {org_id}", "NO", "NOK", "UTC", "nb", created),
        )
        world.add(
            "billing_accounts",
            (org_id, org_id, "NOK", "NO", TAX_RATE_BP, 30, f"Bench {org_id}", "", created),
        )
        world.add(
            "payment_methods",
            (
                org_id,
                org_id,
                "card",
                "Visa •••• 4242",
                True,
                False,
                "sandbox",
                f"sbx_card_{'ren' if declines else 'ok'}_{org_id:016x}",
                "visa",
                "4242",
                12,
                2030,
                created,
            ),
        )
        world.add("billing_cursors", (org_id, due - timedelta(days=1), _midnight(due)))
        for _ in range(size):
            made += 1
            _subscription(world, rng, org_id, offers)
        world.organizations += 1
        if len(world.tables["organizations"]) >= 20_000:
            _flush(w, world)
    _flush(w, world)
    w.execute("DELETE FROM invoice_counter")
    w.rows("invoice_counter", ("id", "last_number"), [(1, world.invoices)])
    w.commit()
    if db.kind == "postgresql":
        for table in ORDER:
            if table != "billing_cursors":
                w.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        w.execute("ANALYZE")
        w.commit()
    else:
        w.execute("ANALYZE")
        w.commit()
    w.close()
    return world


def _flush(w: Writer, world: World) -> None:
    for table in ORDER:
        w.rows(table, COLUMNS[table], world.tables.get(table, []))
    world.tables.clear()


def _subscription(world: World, rng: random.Random, org_id: int, offers: dict[str, Offer]) -> None:
    offer = offers["bench-monthly" if rng.random() < 0.7 else "bench-annual"]
    months = offer.frequency.months
    due = world.due
    start = add_months(due, -months)
    quantity = rng.randint(1, 500)
    sub_id = world.next_id("subscriptions")
    world.subscriptions += 1
    price = Money(PRICES[offer.code], NOK)
    period = Period(start, due)
    recurring = rng.random() >= 0.005
    world.expiring += not recurring
    changed_on: date | None = None
    new_quantity = quantity
    if rng.random() < 0.15:
        changed_on = due - timedelta(days=rng.randint(3, 25))
        while new_quantity == quantity:
            new_quantity = min(500, max(1, quantity + rng.randint(-quantity // 2, 50)))
        world.changed += 1
    increased = changed_on is not None and new_quantity > quantity
    world.add(
        "subscriptions",
        (
            sub_id,
            org_id,
            offer.id,
            1,
            "active",
            "online",
            "NOK",
            new_quantity,
            0,
            recurring,
            False,
            start,
            due,
            changed_on if increased else None,
            quantity if increased else None,
            False,
            _midnight(start),
            _midnight(start),
        ),
    )
    if changed_on is None:
        world.add(
            "billing_segments",
            (world.next_id("billing_segments"), sub_id, start, None, quantity, price.minor),
        )
    else:
        world.add(
            "billing_segments",
            (world.next_id("billing_segments"), sub_id, start, changed_on, quantity, price.minor),
        )
        world.add(
            "billing_segments",
            (
                world.next_id("billing_segments"),
                sub_id,
                changed_on,
                None,
                new_quantity,
                price.minor,
            ),
        )
    method_id = org_id
    first = inv.charge(sub_id, period, start, due, quantity, price)
    _invoice(world, org_id, [first], "purchase", start, offer, method_id)
    if increased:
        assert changed_on is not None
        added = inv.charge(sub_id, period, changed_on, due, new_quantity - quantity, price)
        _invoice(world, org_id, [added], "change", changed_on, offer, method_id)
