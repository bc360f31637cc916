"""R1: the role matrix, every cell of the table in DESIGN.md."""

from __future__ import annotations

import pytest

from abonnement.domain.roles import MATRIX, Action, Role, actions_for, allowed

G, B, L, U, R = (
    Role.GLOBAL_ADMIN,
    Role.BILLING_ADMIN,
    Role.LICENSE_ADMIN,
    Role.USER_ADMIN,
    Role.GLOBAL_READER,
)

# The R1 table, one row per action, columns Global, Billing, License, User admin, Global reader.
# Row "add/delete users, grant admin roles": User admin "users only, no admin roles".
# Row "read subscriptions, invoices, licenses": License admin "licenses only", User admin
# "licenses and users"; Billing admin's "yes" is for subscriptions, invoices and licenses.
TABLE: dict[Action, tuple[bool, bool, bool, bool, bool]] = {
    Action.MANAGE_PURCHASES: (True, True, False, False, False),
    Action.ASSIGN_LICENSES: (True, False, True, True, False),
    Action.MANAGE_USERS: (True, False, False, True, False),
    Action.MANAGE_ADMIN_ROLES: (True, False, False, False, False),
    Action.READ_SUBSCRIPTIONS: (True, True, False, False, True),
    Action.READ_INVOICES: (True, True, False, False, True),
    Action.READ_LICENSES: (True, True, True, True, True),
    Action.READ_USERS: (True, False, False, True, True),
}
CELLS = [
    (action, role, cell)
    for action, row in TABLE.items()
    for role, cell in zip((G, B, L, U, R), row, strict=True)
]


def test_r1_table_covers_every_action() -> None:
    assert set(TABLE) == set(Action) == set(MATRIX)


@pytest.mark.parametrize(("action", "role", "expected"), CELLS)
def test_r1_role_matrix_cell(action: Action, role: Role, expected: bool) -> None:
    assert allowed([role], action) is expected


@pytest.mark.parametrize("role", [L, U, R])
def test_r1_only_global_and_billing_admins_manage_purchases(role: Role) -> None:
    """R1: buy/remove licenses, cancel, switch plan, recurring billing, payment, redeem key."""
    assert not allowed([role], Action.MANAGE_PURCHASES)
    assert allowed([G], Action.MANAGE_PURCHASES)
    assert allowed([B], Action.MANAGE_PURCHASES)


def test_r1_no_roles_may_do_nothing() -> None:
    assert not any(allowed([], action) for action in Action)
    assert actions_for([]) == frozenset()


def test_r1_roles_combine() -> None:
    """A license admin who is also a billing admin may both assign and buy."""
    assert not allowed([L], Action.MANAGE_PURCHASES)
    assert allowed([L, B], Action.MANAGE_PURCHASES)
    assert allowed([L, B], Action.ASSIGN_LICENSES)
    assert allowed(iter([R, L]), Action.ASSIGN_LICENSES)  # any iterable


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([G], set(Action)),
        (
            [B],
            {
                Action.MANAGE_PURCHASES,
                Action.READ_SUBSCRIPTIONS,
                Action.READ_INVOICES,
                Action.READ_LICENSES,
            },
        ),
        ([L], {Action.ASSIGN_LICENSES, Action.READ_LICENSES}),
        (
            [U],
            {Action.ASSIGN_LICENSES, Action.MANAGE_USERS, Action.READ_LICENSES, Action.READ_USERS},
        ),
        (
            [R],
            {
                Action.READ_SUBSCRIPTIONS,
                Action.READ_INVOICES,
                Action.READ_LICENSES,
                Action.READ_USERS,
            },
        ),
        (
            [L, U],
            {Action.ASSIGN_LICENSES, Action.MANAGE_USERS, Action.READ_LICENSES, Action.READ_USERS},
        ),
    ],
)
def test_r1_actions_for_roles(roles: list[Role], expected: set[Action]) -> None:
    assert actions_for(roles) == expected


def test_r1_global_reader_changes_nothing() -> None:
    writes = {
        Action.MANAGE_PURCHASES,
        Action.ASSIGN_LICENSES,
        Action.MANAGE_USERS,
        Action.MANAGE_ADMIN_ROLES,
    }
    assert not actions_for([R]) & writes
