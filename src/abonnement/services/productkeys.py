"""Product keys: the operator generates them; an organization redeems one or several at once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from abonnement.domain import productkeys as pk
from abonnement.domain.catalog import PurchaseChannel
from abonnement.domain.errors import Code, Refusal, error, from_refusal
from abonnement.domain.roles import Action
from abonnement.services import validation as v
from abonnement.services.context import Context, snapshot
from abonnement.services.schemas import GeneratedKeysView, RedemptionView
from abonnement.services.subscriptions import new_subscription, view
from abonnement.store import models as m

MAX_KEYS_PER_CALL = 20


def key_hash(normal_key: str) -> str:
    """Keys are stored only as a SHA-256 of their normal form; the plain key is shown once."""
    return hashlib.sha256(normal_key.encode("ascii")).hexdigest()


def generate(ctx: Context, offer_code: str, *, count: int, licenses: int) -> GeneratedKeysView:
    ctx.require_operator("generate_product_keys")
    offer = ctx.offer(offer_code)
    if PurchaseChannel.PREPAID.value not in offer.channels.split(","):
        raise error(Code.CHANNEL_NOT_ALLOWED, offer=offer.name, channel="prepaid")
    v.positive("count", count, maximum=10_000)
    v.positive("licenses", licenses, maximum=offer.max_quantity)
    now = ctx.now()
    keys = []
    for _ in range(count):
        key = pk.generate(secrets.randbelow)
        keys.append(key)
        ctx.uow.product_keys.add(
            m.ProductKey(
                key_hash=key_hash(pk.normalize(key)),
                hint=key[-5:],
                offer_id=offer.id,
                licenses=licenses,
                created_at=now,
            )
        )
    ctx.uow.product_keys.flush()
    ctx.audit(
        "product_keys.generate",
        "offer",
        offer.code,
        organization_id=None,
        after={"count": count, "licenses": licenses, "hints": [k[-5:] for k in keys]},
    )
    return GeneratedKeysView(offer=offer.code, licenses_per_key=licenses, keys=keys)


def redeem(ctx: Context, organization_id: int, keys: Iterable[str]) -> RedemptionView:
    """Redeem one or several keys of one product: they add licenses to the organization's
    prepaid subscription of it, or start one. Each key works once; a typo is caught before any
    lookup."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.MANAGE_PURCHASES)
    normal: list[str] = []
    for text in keys:
        checked = pk.validate(text)
        if isinstance(checked, Refusal):
            raise from_refusal(checked)
        if checked not in normal:
            normal.append(checked)
    if not normal:
        raise v.bad("keys", "enter at least one product key")
    if len(normal) > MAX_KEYS_PER_CALL:
        raise v.bad("keys", f"redeem at most {MAX_KEYS_PER_CALL} keys at once")
    rows = {
        row.key_hash: row for row in ctx.uow.product_keys.by_hashes(key_hash(k) for k in normal)
    }
    for key in normal:
        row = rows.get(key_hash(key))
        if row is None:
            raise error(Code.PRODUCT_KEY_UNKNOWN, key=pk.format_key(key))
        if row.redeemed_at is not None:
            raise error(Code.PRODUCT_KEY_ALREADY_REDEEMED, key=pk.format_key(key))
    offer_ids = {row.offer_id for row in rows.values()}
    if len(offer_ids) != 1:
        raise error(Code.PRODUCT_KEY_MIXED_OFFERS)
    offer = ctx.uow.catalog.offer(offer_ids.pop())
    assert offer is not None
    added = sum(row.licenses for row in rows.values())
    now = ctx.now()
    sub = ctx.uow.subscriptions.prepaid_for_offer(org.id, offer.id)
    before = snapshot(sub) if sub is not None else None
    if sub is None:
        sub = new_subscription(ctx, org, offer, channel=PurchaseChannel.PREPAID, quantity=0)
        ctx.uow.subscriptions.add(sub)
    if sub.quantity + added > offer.max_quantity:
        raise error(
            Code.QUANTITY_OUT_OF_RANGE, minimum=offer.min_quantity, maximum=offer.max_quantity
        )
    sub.quantity += added
    sub.prepaid_quantity += added
    ctx.uow.subscriptions.flush()
    for row in rows.values():
        row.redeemed_at = now
        row.redeemed_by_organization_id = org.id
        row.subscription_id = sub.id
    ctx.uow.product_keys.flush()
    ctx.audit(
        "product_keys.redeem",
        "subscription",
        sub.id,
        organization_id=org.id,
        before=before,
        after={**snapshot(sub), "keys": [r.hint for r in rows.values()]},
    )
    return RedemptionView(keys=len(rows), licenses_added=added, subscription=view(ctx, sub))
