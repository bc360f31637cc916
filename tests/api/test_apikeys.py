"""API keys: their format and checksum, HMAC storage, revocation, current roles, last use, the
endpoints and the CLI, and the server secret."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, select
from typer.testing import CliRunner

from abonnement.cli.main import app as cli
from abonnement.config import Settings
from abonnement.services import apikeys, organizations
from abonnement.services.apikeys import ALPHABET, InsecureSecretError, compose, parse
from abonnement.store import models as m

from .conftest import SECRET, Harness, Tenant, problem


# -- the format, without a server --------------------------------------------------------------
def test_key_format_round_trips() -> None:
    key = compose("user", "A" * 12, "b" * 32)
    assert key.startswith("abo_org_AAAAAAAAAAAA_" + "b" * 32)
    assert len(key) == len("abo_org_") + 12 + 1 + 32 + 6
    assert parse(key) == apikeys.ParsedKey("user", "A" * 12, "b" * 32)
    assert parse(f"  {key}\n") is not None
    operator = compose("operator", "C" * 12, "d" * 32)
    assert operator.startswith("abo_op_")
    assert parse(operator) == apikeys.ParsedKey("operator", "C" * 12, "d" * 32)


def test_every_single_character_typo_and_truncation_fails_the_checksum() -> None:
    key = compose("user", "4fQx9TbW2LkP", "q8ZC1mR7vN0sYd3Hk6JtE2wLpA9uXc5B")
    start = len("abo_org_")
    for i in range(start, len(key)):
        if key[i] == "_":
            continue
        for typo in ("0", "z", "Z"):
            if typo != key[i]:
                assert parse(key[:i] + typo + key[i + 1 :]) is None, (i, typo)
    swapped = list(key)
    swapped[start], swapped[start + 1] = swapped[start + 1], swapped[start]
    assert parse("".join(swapped)) is None
    for cut in range(1, 8):
        assert parse(key[:-cut]) is None
    assert parse(key.replace("abo_org_", "abo_op_", 1)) is None  # the prefix is checked too


def test_checksum_is_base62_of_crc32() -> None:
    import zlib

    body = "abo_op_" + "x" * 12 + "_" + "y" * 32
    crc = zlib.crc32(body.encode())
    digits = ""
    for _ in range(6):
        crc, digit = divmod(crc, 62)
        digits = ALPHABET[digit] + digits
    assert apikeys.checksum(body) == digits


# -- the server secret --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "short",
        "changeme-changeme-changeme-changeme",
        "please-replace-this-with-a-real-secret",
        "a" * 64,
        "your-secret-key-goes-here-0123456789",
    ],
)
def test_production_refuses_placeholder_secrets(secret: str | None, tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        secret_key=SecretStr(secret) if secret is not None else None,
        secret_key_file=tmp_path / "secret_key",
    )
    with pytest.raises(InsecureSecretError):
        apikeys.server_secret(settings)
    assert not (tmp_path / "secret_key").exists()


def test_production_takes_a_real_secret(tmp_path: Path) -> None:
    settings = Settings(environment="production", secret_key=SecretStr(SECRET))
    assert apikeys.server_secret(settings) == SECRET.encode()


def test_development_generates_a_private_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    settings = Settings(secret_key_file=path)
    first = apikeys.server_secret(settings)
    assert len(first) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert apikeys.server_secret(settings) == first
    assert list(path.parent.iterdir()) == [path]  # nothing left aside


# -- authentication over HTTP -------------------------------------------------------------------
@contextmanager
def statements(h: Harness) -> Iterator[list[str]]:
    """The SQL statements the server runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engine = h.server_engine.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def tenant(shop: Harness) -> Tenant:
    return shop.tenant("Contoso")


def test_a_typo_in_a_key_is_401_without_a_database_lookup(shop: Harness, tenant: Tenant) -> None:
    key = tenant.keys["global_admin"]
    assert shop.client(key).get("/v1/products").status_code == 200
    i = len("abo_org_") + 20
    typo = key[:i] + ("a" if key[i] != "a" else "b") + key[i + 1 :]
    for wrong in (typo, key[:-1], key + "x", key.upper()):
        with statements(shop) as seen:
            response = shop.client(wrong).get("/v1/products")
        problem(response, 401, "unauthenticated")
        assert seen == [], wrong


def test_well_formed_but_unknown_or_wrong_keys_are_401(shop: Harness, tenant: Tenant) -> None:
    key = tenant.keys["global_admin"]
    parsed = parse(key)
    assert parsed is not None
    unknown = compose("user", "Z" * 12, parsed.secret)
    wrong_secret = compose("user", parsed.key_id, "Q" * 32)
    wrong_kind = compose("operator", parsed.key_id, parsed.secret)
    for wrong in (unknown, wrong_secret, wrong_kind):
        problem(shop.client(wrong).get("/v1/products"), 401, "unauthenticated")


def test_only_the_hmac_of_the_secret_is_stored(shop: Harness, tenant: Tenant) -> None:
    key = tenant.keys["global_admin"]
    parsed = parse(key)
    assert parsed is not None
    with shop.engine.engine.connect() as conn:
        row = conn.execute(select(m.ApiKey).where(m.ApiKey.key_id == parsed.key_id)).one()
    assert row.secret_hash == apikeys.secret_hash(SECRET.encode(), parsed.secret)
    assert parsed.secret not in json.dumps([str(v) for v in row])


def test_a_revoked_key_is_401_at_once(shop: Harness, tenant: Tenant) -> None:
    admin = shop.client(tenant.keys["global_admin"])
    target = tenant.keys["license_admin"]
    assert shop.client(target).get("/v1/products").status_code == 200
    key_id = target.split("_")[2]
    revoked = admin.ok("DELETE", f"/v1/api-keys/{key_id}")
    assert revoked["revoked_at"] is not None
    problem(shop.client(target).get("/v1/products"), 401, "unauthenticated")
    # a body that isn't valid either: the revoked key is what is wrong first, though the server
    # remembered the key as valid a moment ago (a valid key gets the 422)
    assign = f"/v1/organizations/{tenant.id}/licenses/BUS-STD/assign"
    problem(shop.client(target).post(assign, {"user_ids": "nobody"}), 401, "unauthenticated")
    problem(admin.post(assign, {"user_ids": "nobody"}), 422, "invalid_input")
    # revoking again changes nothing and records nothing more
    assert admin.ok("DELETE", f"/v1/api-keys/{key_id}")["revoked_at"] == revoked["revoked_at"]
    audit = admin.ok("GET", f"/v1/organizations/{tenant.id}/audit")["data"]
    assert [r["action"] for r in audit].count("api_key.revoke") == 1
    listed = {k["id"]: k for k in admin.ok("GET", "/v1/api-keys")}
    assert listed[key_id]["revoked_at"] == revoked["revoked_at"]


def test_a_user_may_revoke_their_own_key(shop: Harness, tenant: Tenant) -> None:
    own = tenant.keys["global_reader"]
    key_id = own.split("_")[2]
    reader = shop.client(own)
    problem(reader.get("/v1/api-keys"), 403, "permission_denied")
    assert reader.ok("DELETE", f"/v1/api-keys/{key_id}")["revoked_at"]
    problem(reader.get("/v1/products"), 401, "unauthenticated")


def test_a_key_acts_with_the_roles_its_user_holds_now(shop: Harness, tenant: Tenant) -> None:
    billing = shop.client(tenant.keys["billing_admin"])
    org = tenant.id
    billing.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 2},
        201,
    )
    shop.client(tenant.keys["global_admin"]).ok(
        "PATCH", f"/v1/users/{tenant.users['billing_admin']}/roles", {"revoke": ["billing_admin"]}
    )
    response = billing.post(
        f"/v1/organizations/{org}/subscriptions", {"offer": "std-monthly", "quantity": 2}
    )
    problem(response, 403, "permission_denied")


def test_a_deleted_users_key_stops_working(shop: Harness, tenant: Tenant) -> None:
    person = shop.people(tenant, 1)[0]
    key = shop.user_key(person)
    assert shop.client(key).get("/v1/products").status_code == 200
    shop.client(tenant.keys["user_admin"]).ok("DELETE", f"/v1/users/{person}")
    problem(shop.client(key).get("/v1/products"), 401, "unauthenticated")


def test_last_used_is_written_at_most_once_a_minute(
    shop: Harness, tenant: Tenant, clock: Any
) -> None:
    from datetime import timedelta

    admin = shop.client(tenant.keys["global_admin"])
    key_id = tenant.keys["global_admin"].split("_")[2]

    def last_used() -> str | None:
        with shop.engine.engine.connect() as conn:
            value = conn.execute(
                select(m.ApiKey.last_used_at).where(m.ApiKey.key_id == key_id)
            ).scalar_one()
        return value.isoformat() if value else None

    assert last_used() is None
    admin.ok("GET", "/v1/products")
    first = last_used()
    assert first == clock.now().isoformat()
    clock.advance(timedelta(seconds=59))
    with statements(shop) as seen:
        admin.ok("GET", "/v1/products")
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in seen)
    assert last_used() == first
    clock.advance(timedelta(seconds=1))
    admin.ok("GET", "/v1/products")
    assert last_used() == clock.now().isoformat()


def test_a_license_assignment_reads_the_callers_organization_once(
    shop: Harness, tenant: Tenant
) -> None:
    """The busiest request: the key, its user's roles and organization (with its test clock) in
    one query, then the locked subscriptions (R4), the licenses they hold, and the change with
    its audit record and event, one statement on PostgreSQL. The organization is not read again,
    and the answer is the same."""
    admin = shop.client(tenant.keys["license_admin"])
    org = tenant.id
    shop.client(tenant.keys["global_admin"]).ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 3},
        201,
    )
    people = shop.people(tenant, 2)
    admin.ok("GET", "/v1/products")  # the key's last use is recorded now, not below
    path = f"/v1/organizations/{org}/licenses/STD"
    with statements(shop) as seen:
        assigned = admin.ok("POST", f"{path}/assign", {"user_ids": people})
    assert (assigned["license"]["assigned"], assigned["license"]["available"]) == (2, 1)
    with statements(shop) as unseen:
        unassigned = admin.ok("POST", f"{path}/unassign", {"user_ids": people[:1]})
    assert (unassigned["license"]["assigned"], unassigned["license"]["available"]) == (1, 2)
    postgres = shop.engine.engine.dialect.name == "postgresql"
    for run in (seen, unseen):
        assert len(run) == (4 if postgres else 7), run  # SQLite: BEGIN IMMEDIATE too
        assert not any("FROM organizations" in s for s in run), run
    holders = admin.ok("GET", f"/v1/organizations/{org}/licenses")
    assert [v["user_ids"] for v in holders if v["product_sku"] == "STD"] == [people[1:]]


# -- the endpoints ------------------------------------------------------------------------------
def test_make_list_and_revoke_keys_over_the_api(shop: Harness, tenant: Tenant) -> None:
    admin = shop.client(tenant.keys["global_admin"])
    own = admin.ok("POST", "/v1/api-keys", {"label": "my script"}, 201)
    assert own["user_id"] == tenant.users["global_admin"]
    assert own["key"].startswith("abo_org_" + own["id"] + "_")
    assert own["prefix"] == "abo_org_" + own["id"]
    person = shop.people(tenant, 1)[0]
    theirs = admin.ok("POST", "/v1/api-keys", {"label": "for them", "user_id": person}, 201)
    assert theirs["user_id"] == person and theirs["kind"] == "user"
    assert shop.client(theirs["key"]).get("/v1/products").status_code == 200

    listed = admin.ok("GET", "/v1/api-keys")
    assert {own["id"], theirs["id"]} <= {k["id"] for k in listed}
    assert all("key" not in k for k in listed)  # never the secret again
    assert own["key"] not in json.dumps(listed)

    audit = json.dumps(admin.ok("GET", f"/v1/organizations/{tenant.id}/audit?limit=100"))
    assert "api_key.create" in audit
    assert own["key"] not in audit and own["key"].split("_")[3] not in audit

    problem(admin.post("/v1/api-keys", {"label": "x", "operator": True}), 403, "permission_denied")
    billing = shop.client(tenant.keys["billing_admin"])
    problem(billing.post("/v1/api-keys", {"label": "x"}), 403, "permission_denied")
    problem(billing.get("/v1/api-keys"), 403, "permission_denied")


def test_operator_keys_over_the_api(shop: Harness, tenant: Tenant) -> None:
    op = shop.operator()
    made = op.ok("POST", "/v1/api-keys", {"label": "ci", "operator": True}, 201)
    assert made["key"].startswith("abo_op_") and made["organization_id"] is None
    second = shop.client(made["key"])
    assert second.ok("GET", "/v1/organizations")["data"][0]["id"] == tenant.id
    problem(op.post("/v1/api-keys", {"label": "ci"}), 422, "invalid_input")
    keys = op.ok("GET", "/v1/api-keys")
    assert {k["kind"] for k in keys} == {"operator", "user"}
    problem(
        shop.client(tenant.keys["global_admin"]).delete(f"/v1/api-keys/{made['id']}"),
        404,
        "not_found",
    )
    op.ok("DELETE", f"/v1/api-keys/{made['id']}")
    problem(second.get("/v1/products"), 401, "unauthenticated")
    audit = op.ok("GET", "/v1/audit?limit=100")["data"]
    created = next(
        r for r in audit if r["action"] == "api_key.create" and r["entity_id"] == made["id"]
    )
    assert created["actor"].startswith("operator/")  # the key that made it


# -- the command line ---------------------------------------------------------------------------
def test_cli_makes_the_first_operator_key(shop: Harness, database_url: str) -> None:
    env = {"ABONNEMENT_DATABASE_URL": database_url, "ABONNEMENT_SECRET_KEY": SECRET}
    result = CliRunner().invoke(
        cli, ["--json", "apikey", "create", "--operator", "--label", "first"], env=env
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["kind"] == "operator"
    api = shop.client(made["key"])
    org = api.ok(
        "POST", "/v1/organizations", {"name": "Contoso", "country": "NL", "currency": "EUR"}, 201
    )
    admin = shop.engine.run(
        shop.op,
        organizations.add_user,
        org["id"],
        email="ada@contoso.example",
        display_name="Ada",
        roles=["global_admin"],
    )
    result = CliRunner().invoke(
        cli,
        ["--json", "apikey", "create", "--user", "ada@contoso.example", "--label", "Ada"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    user_key = json.loads(result.stdout)
    assert user_key["user_id"] == admin.id
    assert shop.client(user_key["key"]).ok("GET", f"/v1/organizations/{org['id']}")

    listed = CliRunner().invoke(cli, ["apikey", "list"], env={**env, "COLUMNS": "200"})
    assert listed.exit_code == 0 and made["id"] in listed.stdout
    assert made["key"] not in listed.stdout
    revoked = CliRunner().invoke(cli, ["apikey", "revoke", made["id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    problem(api.get("/v1/products"), 401, "unauthenticated")


def test_serve_refuses_a_placeholder_secret_in_production(tmp_path: Path) -> None:
    env = {
        "ABONNEMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "ABONNEMENT_ENVIRONMENT": "production",
        "ABONNEMENT_SECRET_KEY": "changeme",
    }
    result = CliRunner().invoke(cli, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 1
    assert "ABONNEMENT_SECRET_KEY" in result.output
    assert "insecure_secret_key" in result.output
