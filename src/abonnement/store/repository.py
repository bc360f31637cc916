"""Repositories: every query the services need, in one place. They flush, never commit."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Executable,
    Integer,
    Row,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from abonnement.domain.subscriptions import Status
from abonnement.store import models as m

_ASSIGNMENTS = cast(Table, m.LicenseAssignment.__table__)
_AUDIT = cast(Table, m.AuditRecord.__table__)
_INSERT_ASSIGNMENTS = insert(_ASSIGNMENTS)
_EVENTS = cast(Table, m.Event.__table__)
_INSERT_AUDIT = insert(_AUDIT).returning(_AUDIT.c.id)
_INSERT_EVENT = insert(_EVENTS)


def _insert_audit_and_event() -> Executable:
    """PostgreSQL: an audit record and its event in one statement (a data-modifying WITH), the
    event's key ending with the record's id; returns the record's id. Parameters: the record's
    columns prefixed `a_`, the event's `e_`."""
    record = (
        insert(_AUDIT)
        .values(
            {c.name: bindparam(f"a_{c.name}", type_=c.type) for c in _AUDIT.c if c.name != "id"}
        )
        .returning(_AUDIT.c.id)
        .cte("record")
    )
    columns = [c for c in _EVENTS.c if c.name != "id"]
    values = [
        (bindparam("e_key", type_=String()) + sql_cast(record.c.id, String())).label("key")
        if c.name == "key"
        else bindparam(f"e_{c.name}", type_=c.type)
        for c in columns
    ]
    return (
        insert(_EVENTS)
        .from_select([c.name for c in columns], select(*values).select_from(record))
        .returning(select(record.c.id).scalar_subquery())
    )


_INSERT_AUDIT_AND_EVENT = _insert_audit_and_event()

#: A change and the audit record that speaks of it: the change's statement and its parameters
#: (`Audit.insert`'s `change`).
Change = tuple[Executable, dict[str, Any]]


@functools.lru_cache(maxsize=128)
def _after_change(change: Executable, event: bool) -> Executable:
    """PostgreSQL: the audit record (and its event) written by the statement that makes the
    change they speak of, which runs first as a data-modifying WITH: one round trip for both.
    (The change's statements are built once, so this is built once for each.)"""
    base: Any = _INSERT_AUDIT_AND_EVENT if event else _INSERT_AUDIT
    written: Any = change
    return cast(Executable, base.add_cte(written.cte("change")))


def _insert_assignments() -> Executable:
    """PostgreSQL: new assignments of one organization's product in one statement, whatever
    their number: the subscriptions and users as two arrays, side by side (`unnest`)."""
    rows = (
        func.unnest(
            bindparam("subscriptions", type_=ARRAY(BigInteger)),
            bindparam("users", type_=ARRAY(BigInteger)),
        )
        .table_valued("subscription_id", "user_id")
        .render_derived(name="assigned")
    )
    return insert(_ASSIGNMENTS).from_select(
        ["organization_id", "subscription_id", "product_id", "user_id", "assigned_at"],
        select(
            bindparam("organization", type_=BigInteger),
            rows.c.subscription_id,
            bindparam("product", type_=BigInteger),
            rows.c.user_id,
            bindparam("at", type_=_ASSIGNMENTS.c.assigned_at.type),
        ),
    )


_INSERT_ASSIGNMENTS_AS_ARRAYS = _insert_assignments()


# The statements of the busiest request paths (authentication, license assignment), built once:
# building a statement and its cache key costs more than running it.
_ORG_WITH_CLOCK = (
    select(m.Organization, m.TestClock.now)
    .outerjoin(m.TestClock, m.TestClock.organization_id == m.Organization.id)
    .where(m.Organization.id == bindparam("org"))
)
_ORG_REF_WITH_CLOCK = (
    select(m.Organization.id, m.TestClock.now)
    .outerjoin(m.TestClock, m.TestClock.organization_id == m.Organization.id)
    .where(m.Organization.id == bindparam("org"))
)
_EMAILS = select(m.User.id, m.User.email).where(
    m.User.organization_id == bindparam("org"), m.User.id.in_(bindparam("ids", expanding=True))
)
_PRODUCT_REF = select(m.Product.id, m.Product.sku, m.Product.name).where(
    m.Product.sku == bindparam("sku")
)
#: The organization's subscriptions of a product named by its SKU, locked in id order
#: (as `lock_for_product` locks them), each with the product's id, SKU and name: one round
#: trip for both.
_LOCK_PRODUCT_SEATS = (
    select(
        m.Subscription.id,
        m.Subscription.status,
        m.Subscription.quantity,
        m.Product.id.label("product_id"),
        m.Product.sku,
        m.Product.name,
    )
    .join(m.Product, m.Product.id == m.Subscription.product_id)
    .where(m.Subscription.organization_id == bindparam("org"), m.Product.sku == bindparam("sku"))
    .order_by(m.Subscription.id)
    .with_for_update(of=m.Subscription)
)
_HOLDERS = select(m.LicenseAssignment.subscription_id, m.LicenseAssignment.user_id).where(
    m.LicenseAssignment.subscription_id.in_(bindparam("subs", expanding=True))
)
_LA = m.LicenseAssignment


def _one_of(column: Any, name: str, dialect: str) -> Any:
    """`column IN (…)` for a list bound as `name`: one array parameter on PostgreSQL
    (`= ANY(:name)`, the same SQL whatever the list's length), an expanding IN elsewhere."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _seats_taken(dialect: str) -> Executable:
    """Per subscription, how many licenses are assigned (user NULL); which of the requested
    users hold one; and which of them are the organization's users at all (subscription NULL):
    one round trip, whatever the number of holders."""
    return union_all(
        select(_LA.subscription_id, literal(None, Integer).label("user_id"), func.count())
        .where(_one_of(_LA.subscription_id, "subs", dialect))
        .group_by(_LA.subscription_id),
        select(_LA.subscription_id, _LA.user_id, literal(1, Integer)).where(
            _one_of(_LA.subscription_id, "subs", dialect),
            _one_of(_LA.user_id, "users", dialect),
        ),
        select(literal(None, Integer), m.User.id, literal(0, Integer)).where(
            m.User.organization_id == bindparam("org"),
            _one_of(m.User.id, "users", dialect),
        ),
    )


def _delete_for_users(dialect: str) -> Executable:
    return delete(_ASSIGNMENTS).where(
        _one_of(_LA.user_id, "users", dialect), _LA.product_id == bindparam("product")
    )


#: The statements above, built once for each dialect (building one costs more than running it).
_DIALECTS = ("postgresql", "sqlite")
_SEATS_TAKEN = {name: _seats_taken(name) for name in _DIALECTS}
_DELETE_FOR_USERS = {name: _delete_for_users(name) for name in _DIALECTS}


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def core(self, statement: Executable, params: Any = None) -> CursorResult[*tuple[Any, ...]]:
        """Run a Core statement on the session's connection, without the ORM's result machinery
        (for the request path's column reads and bulk writes). Pending ORM changes are flushed
        first, as `Session.execute` would."""
        self.session.flush()
        return self.session.connection().execute(statement, params)

    @property
    def dialect(self) -> str:
        """The database's kind ("postgresql", "sqlite"), for statements built for each."""
        return self.session.get_bind().dialect.name

    def add(self, row: m.Base) -> None:
        self.session.add(row)

    def flush(self) -> None:
        self.session.flush()


class Organizations(Repository):
    def get(self, organization_id: int) -> m.Organization | None:
        return self.session.get(m.Organization, organization_id)

    def list(self) -> Sequence[m.Organization]:
        return self.session.scalars(select(m.Organization).order_by(m.Organization.id)).all()

    def ref_with_test_clock(self, organization_id: int) -> tuple[int, datetime | None] | None:
        """The organization's id, if it exists, and the time of its test clock if one is
        attached: `with_test_clock` without loading the organization."""
        row = self.core(_ORG_REF_WITH_CLOCK, {"org": organization_id}).one_or_none()
        return (row[0], row[1]) if row is not None else None

    def exists(self, organization_id: int) -> bool:
        return self.core(_ORG_REF_WITH_CLOCK, {"org": organization_id}).first() is not None

    def with_test_clock(
        self, organization_id: int
    ) -> tuple[m.Organization, datetime | None] | None:
        """The organization and the time of its test clock, if one is attached, in one read."""
        row = self.session.execute(_ORG_WITH_CLOCK, {"org": organization_id}).one_or_none()
        return (row[0], row[1]) if row is not None else None


class Users(Repository):
    def get(self, user_id: int) -> m.User | None:
        return self.session.get(m.User, user_id)

    def by_email(self, email: str) -> m.User | None:
        return self.session.scalars(
            select(m.User).where(func.lower(m.User.email) == email.strip().lower())
        ).one_or_none()

    def in_organization(self, organization_id: int) -> Sequence[m.User]:
        return self.session.scalars(
            select(m.User).where(m.User.organization_id == organization_id).order_by(m.User.id)
        ).all()

    def many(self, organization_id: int, user_ids: Iterable[int]) -> Sequence[m.User]:
        return self.session.scalars(
            select(m.User)
            .where(m.User.organization_id == organization_id, m.User.id.in_(list(user_ids)))
            .order_by(m.User.id)
        ).all()

    def emails(self, organization_id: int, user_ids: Iterable[int]) -> dict[int, str]:
        """The organization's users among these ids, id -> email (no ORM objects, no roles)."""
        rows = self.core(_EMAILS, {"org": organization_id, "ids": list(user_ids)})
        return {user_id: email for user_id, email in rows}

    def count_with_role(self, organization_id: int, role: str) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(m.UserRole)
                .join(m.User, m.User.id == m.UserRole.user_id)
                .where(m.User.organization_id == organization_id, m.UserRole.role == role)
            )
            or 0
        )

    def delete(self, user: m.User) -> None:
        self.session.delete(user)


class Catalog(Repository):
    def product(self, product_id: int) -> m.Product | None:
        return self.session.get(m.Product, product_id)

    def product_by_sku(self, sku: str) -> m.Product | None:
        return self.session.scalars(select(m.Product).where(m.Product.sku == sku)).one_or_none()

    def products(self) -> Sequence[m.Product]:
        return self.session.scalars(select(m.Product).order_by(m.Product.sku)).all()

    def offer(self, offer_id: int) -> m.Offer | None:
        return self.session.get(m.Offer, offer_id)

    def offer_by_code(self, code: str) -> m.Offer | None:
        return self.session.scalars(select(m.Offer).where(m.Offer.code == code)).one_or_none()

    def offers(self) -> Sequence[m.Offer]:
        return self.session.scalars(select(m.Offer).order_by(m.Offer.code)).all()


class PaymentMethods(Repository):
    def active(self, organization_id: int) -> Sequence[m.PaymentMethod]:
        return self.session.scalars(
            select(m.PaymentMethod)
            .where(
                m.PaymentMethod.organization_id == organization_id,
                m.PaymentMethod.removed_at.is_(None),
            )
            .order_by(
                m.PaymentMethod.is_default.desc(),
                m.PaymentMethod.is_backup.desc(),
                m.PaymentMethod.id.desc(),
            )
        ).all()

    def get(self, method_id: int) -> m.PaymentMethod | None:
        return self.session.get(m.PaymentMethod, method_id)


class Subscriptions(Repository):
    def get(self, subscription_id: int, *, lock: bool = False) -> m.Subscription | None:
        if lock:
            return self.session.scalars(
                select(m.Subscription)
                .where(m.Subscription.id == subscription_id)
                .with_for_update(of=m.Subscription)
                .execution_options(populate_existing=True)
            ).one_or_none()
        return self.session.get(m.Subscription, subscription_id)

    def in_organization(
        self, organization_id: int, statuses: Iterable[Status] | None = None
    ) -> Sequence[m.Subscription]:
        query = select(m.Subscription).where(m.Subscription.organization_id == organization_id)
        if statuses is not None:
            query = query.where(m.Subscription.status.in_(list(statuses)))
        return self.session.scalars(query.order_by(m.Subscription.id)).all()

    def lock_for_product(self, organization_id: int, product_id: int) -> Sequence[m.Subscription]:
        """The organization's subscriptions of a product, locked in id order (no deadlocks)."""
        return self.session.scalars(
            select(m.Subscription)
            .where(
                m.Subscription.organization_id == organization_id,
                m.Subscription.product_id == product_id,
            )
            .order_by(m.Subscription.id)
            .with_for_update(of=m.Subscription)
            .execution_options(populate_existing=True)
        ).all()

    def lock_product_seats(
        self, organization_id: int, product_sku: str
    ) -> tuple[Row[int, str, str] | None, Sequence[Row[int, Status, int, int, str, str]]]:
        """For the license-assignment path: the organization's subscriptions of a product, locked
        in the order `lock_for_product` locks them, but only their id, status and quantity (no
        offer, prices or service plans); and the product's id, SKU and name, in the same round
        trip while the organization has a subscription of it (the product is read by itself
        only when it has none, to tell an unknown product from one not bought)."""
        rows = self.core(_LOCK_PRODUCT_SEATS, {"org": organization_id, "sku": product_sku}).all()
        if rows:
            product_id, sku, name = rows[0][3:]
            return cast(Row[int, str, str], (product_id, sku, name)), rows
        return self.core(_PRODUCT_REF, {"sku": product_sku}).one_or_none(), rows

    def prepaid_for_offer(self, organization_id: int, offer_id: int) -> m.Subscription | None:
        return self.session.scalars(
            select(m.Subscription)
            .where(
                m.Subscription.organization_id == organization_id,
                m.Subscription.offer_id == offer_id,
                m.Subscription.channel == "prepaid",
                m.Subscription.status == Status.ACTIVE,
            )
            .order_by(m.Subscription.id)
            .with_for_update(of=m.Subscription)
        ).first()


class Assignments(Repository):
    def count_by_subscription(self, subscription_ids: Iterable[int]) -> dict[int, int]:
        ids = list(subscription_ids)
        if not ids:
            return {}
        rows = self.session.execute(
            select(m.LicenseAssignment.subscription_id, func.count())
            .where(m.LicenseAssignment.subscription_id.in_(ids))
            .group_by(m.LicenseAssignment.subscription_id)
        ).all()
        counts = dict.fromkeys(ids, 0)
        counts.update({sub_id: count for sub_id, count in rows})
        return counts

    def count(self, subscription_id: int) -> int:
        return self.count_by_subscription([subscription_id])[subscription_id]

    def for_subscription(self, subscription_id: int) -> Sequence[m.LicenseAssignment]:
        return self.session.scalars(
            select(m.LicenseAssignment)
            .where(m.LicenseAssignment.subscription_id == subscription_id)
            .order_by(m.LicenseAssignment.id)
        ).all()

    def for_users(self, user_ids: Iterable[int], product_id: int) -> Sequence[m.LicenseAssignment]:
        return self.session.scalars(
            select(m.LicenseAssignment).where(
                m.LicenseAssignment.user_id.in_(list(user_ids)),
                m.LicenseAssignment.product_id == product_id,
            )
        ).all()

    def holders(self, subscription_ids: Iterable[int]) -> list[tuple[int, int]]:
        """(subscription id, user id) of every license of these subscriptions."""
        ids = list(subscription_ids)
        if not ids:
            return []
        rows = self.core(_HOLDERS, {"subs": ids})
        return [(sub_id, user_id) for sub_id, user_id in rows]

    def seats_and_users(
        self, organization_id: int | None, subscription_ids: Iterable[int], user_ids: Iterable[int]
    ) -> tuple[dict[int, int], set[int], set[int]]:
        """How many licenses of each of these subscriptions are assigned, which of these users
        hold one of them, and which of them are the organization's users (none, without an
        organization), in one round trip and without reading every holder (an assignment costs
        the same in an organization of 10 people and of 10,000)."""
        subs, users = list(subscription_ids), list(user_ids)
        counts: dict[int, int] = {}
        holding: set[int] = set()
        known: set[int] = set()
        if not subs and organization_id is None:
            return counts, holding, known
        params = {"subs": subs, "users": users, "org": organization_id}
        for sub_id, user_id, n in self.core(_SEATS_TAKEN[self.dialect], params):
            if sub_id is None:
                known.add(user_id)
            elif user_id is None:
                counts[sub_id] = n
            else:
                holding.add(user_id)
        return counts, holding, known

    def insert_many(self, rows: list[dict[str, object]]) -> None:
        """New assignments in one statement (the ORM's unit of work is not involved)."""
        self.core(_INSERT_ASSIGNMENTS, rows)

    def inserting(self, rows: list[dict[str, Any]]) -> Change:
        """`insert_many` of one organization's product, assigned at one time, as a change to
        run with its audit record (`Audit.insert`)."""
        if self.dialect != "postgresql":
            return _INSERT_ASSIGNMENTS, {"rows": rows}
        first = rows[0]
        return _INSERT_ASSIGNMENTS_AS_ARRAYS, {
            "organization": first["organization_id"],
            "product": first["product_id"],
            "at": first["assigned_at"],
            "subscriptions": [row["subscription_id"] for row in rows],
            "users": [row["user_id"] for row in rows],
        }

    def deleting(self, user_ids: Iterable[int], product_id: int) -> Change:
        """`delete_for_users` as a change to run with its audit record (`Audit.insert`)."""
        return _DELETE_FOR_USERS[self.dialect], {"users": list(user_ids), "product": product_id}

    def delete_for_users(self, user_ids: Iterable[int], product_id: int) -> int:
        statement = _DELETE_FOR_USERS[self.dialect]
        result = self.core(statement, {"users": list(user_ids), "product": product_id})
        return int(result.rowcount)

    def for_user(self, user_id: int) -> Sequence[m.LicenseAssignment]:
        return self.session.scalars(
            select(m.LicenseAssignment)
            .where(m.LicenseAssignment.user_id == user_id)
            .order_by(m.LicenseAssignment.product_id)
        ).all()

    def in_organization(self, organization_id: int) -> Sequence[m.LicenseAssignment]:
        return self.session.scalars(
            select(m.LicenseAssignment)
            .where(m.LicenseAssignment.organization_id == organization_id)
            .order_by(m.LicenseAssignment.product_id, m.LicenseAssignment.user_id)
        ).all()

    def delete(self, assignment: m.LicenseAssignment) -> None:
        self.session.delete(assignment)


class ProductKeys(Repository):
    def by_hashes(self, hashes: Iterable[str], *, lock: bool = True) -> Sequence[m.ProductKey]:
        query = select(m.ProductKey).where(m.ProductKey.key_hash.in_(list(hashes)))
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(query.order_by(m.ProductKey.id)).all()


class Callbacks(Repository):
    def list(
        self, organization_id: int | None = None, status: str | None = None
    ) -> Sequence[m.CallbackRequest]:
        query = select(m.CallbackRequest)
        if organization_id is not None:
            query = query.where(m.CallbackRequest.organization_id == organization_id)
        if status is not None:
            query = query.where(m.CallbackRequest.status == status)
        return self.session.scalars(query.order_by(m.CallbackRequest.id)).all()

    def get(self, callback_id: int) -> m.CallbackRequest | None:
        return self.session.get(m.CallbackRequest, callback_id)


class Audit(Repository):
    def insert(
        self,
        record: dict[str, Any],
        event: dict[str, Any] | None = None,
        change: Change | None = None,
    ) -> int:
        """Append a record at once (it is never changed), and the event beside it, whose key
        ends with the record's id; the record's id. On PostgreSQL both rows are one statement,
        and so is the `change` the record speaks of, if given (it runs first)."""
        if change is not None:
            statement, change_params = change
            if self.dialect != "postgresql":
                self.core(statement, change_params.get("rows", change_params))
                return self.insert(record, event)
            params = dict(change_params)
            if event is None:
                params.update(record)
            else:
                params.update({f"a_{name}": value for name, value in record.items()})
                params.update({f"e_{name}": value for name, value in event.items()})
            return int(self.core(_after_change(statement, event is not None), params).scalar_one())
        if event is None:
            record_id: int = self.core(_INSERT_AUDIT, record).scalar_one()
            return record_id
        if self.dialect == "postgresql":
            params = {f"a_{name}": value for name, value in record.items()}
            params.update({f"e_{name}": value for name, value in event.items()})
            return int(self.core(_INSERT_AUDIT_AND_EVENT, params).scalar_one())
        record_id = self.core(_INSERT_AUDIT, record).scalar_one()
        self.core(_INSERT_EVENT, {**event, "key": f"{event['key']}{record_id}"})
        return record_id

    def list(self, organization_id: int | None = None, limit: int = 100) -> Sequence[m.AuditRecord]:
        query = select(m.AuditRecord)
        if organization_id is not None:
            query = query.where(m.AuditRecord.organization_id == organization_id)
        return self.session.scalars(query.order_by(m.AuditRecord.id.desc()).limit(limit)).all()
