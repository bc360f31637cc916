"""Admin roles and what each may do (R1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Role(StrEnum):
    GLOBAL_ADMIN = "global_admin"
    BILLING_ADMIN = "billing_admin"
    LICENSE_ADMIN = "license_admin"
    USER_ADMIN = "user_admin"
    GLOBAL_READER = "global_reader"


class Action(StrEnum):
    # buy/remove licenses, cancel, switch plan, recurring billing, payment methods, redeem key
    MANAGE_PURCHASES = "manage_purchases"
    ASSIGN_LICENSES = "assign_licenses"
    MANAGE_USERS = "manage_users"  # add and delete users who hold no admin role
    MANAGE_ADMIN_ROLES = "manage_admin_roles"  # grant or revoke roles, change admins
    READ_SUBSCRIPTIONS = "read_subscriptions"
    READ_INVOICES = "read_invoices"
    READ_LICENSES = "read_licenses"
    READ_USERS = "read_users"


_G, _B, _L, _U, _R = (
    Role.GLOBAL_ADMIN,
    Role.BILLING_ADMIN,
    Role.LICENSE_ADMIN,
    Role.USER_ADMIN,
    Role.GLOBAL_READER,
)

MATRIX: Mapping[Action, frozenset[Role]] = {
    Action.MANAGE_PURCHASES: frozenset({_G, _B}),
    Action.ASSIGN_LICENSES: frozenset({_G, _L, _U}),
    Action.MANAGE_USERS: frozenset({_G, _U}),
    Action.MANAGE_ADMIN_ROLES: frozenset({_G}),
    Action.READ_SUBSCRIPTIONS: frozenset({_G, _B, _R}),
    Action.READ_INVOICES: frozenset({_G, _B, _R}),
    Action.READ_LICENSES: frozenset({_G, _B, _L, _U, _R}),
    Action.READ_USERS: frozenset({_G, _U, _R}),
}


def allowed(roles: Iterable[Role], action: Action) -> bool:
    """Whether any of the roles may take the action (R1)."""
    permitted = MATRIX[action]
    return any(role in permitted for role in roles)


def actions_for(roles: Iterable[Role]) -> frozenset[Action]:
    held = frozenset(roles)
    return frozenset(action for action, permitted in MATRIX.items() if held & permitted)
