"""Every command group of `abonnement`, on a temporary SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.script import ScriptDirectory

from abonnement.store.migrate import alembic_config

from .conftest import Cli, Shop, no_traceback


# -- db --------------------------------------------------------------------------------------------
def test_db_upgrade_then_current_on_a_new_file(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'new' / 'abonnement.db'}")
    assert cli.json("db", "current") == {"revision": None}
    assert "newest version" in cli.ok("db", "upgrade").output
    assert cli.json("db", "current")["revision"]
    head = ScriptDirectory.from_config(alembic_config(cli.database_url)).get_current_head()
    assert head is not None and head in cli.ok("db", "current").output


def test_a_database_without_tables_is_explained_without_a_traceback(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'empty.db'}")
    result = cli("org", "list")
    assert result.exit_code == 1
    assert "abonnement db upgrade" in result.output
    no_traceback(result)


def test_the_database_url_option_wins_over_the_environment(tmp_path: Path, cli: Cli) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli.ok("--database-url", other, "db", "upgrade")
    assert cli.json("--database-url", other, "org", "list") == []


# -- catalog ---------------------------------------------------------------------------------------
def test_catalog_lists_products_and_offers_with_localized_prices(shop: Shop) -> None:
    listed = shop.cli.json("catalog", "list")
    assert [p["sku"] for p in listed["products"]] == ["BASIC", "STD"]
    std = next(o for o in listed["offers"] if o["code"] == "std-monthly")
    assert std["prices"] == {"EUR": 1250, "NOK": 14000}
    assert std["trial_days"] == 30
    output = shop.cli.ok("catalog", "list", lang="nb").output
    assert "140,00" in output  # NOK 140 as Norwegian writes it
    assert "Exchange Online" in output


def test_offer_add_with_every_policy_option(cli: Cli) -> None:
    cli.ok("catalog", "product-add", "PREM", "Business Premium")
    offer = cli.json(
        "catalog", "offer-add", "prem-annual", "--product", "PREM", "--name", "Premium (annual)",
        "--price", "EUR=15000", "--term", "annual", "--billing", "monthly", "--model", "windowed",
        "--window-days", "7", "--cancel-limit", "10", "--channel", "online", "--channel",
        "prepaid", "--end-of-sale",
    )  # fmt: skip
    assert offer["cancellation_model"] == "windowed"
    assert offer["online_cancel_limit"] == 10
    assert offer["channels"] == ["online", "prepaid"]
    assert offer["end_of_sale"] is True


def test_a_malformed_price_is_refused_as_invalid_input(cli: Cli) -> None:
    cli.ok("catalog", "product-add", "X", "X")
    result = cli("catalog", "offer-add", "x", "--product", "X", "--name", "X", "--price", "EUR")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output
    no_traceback(result)


# -- organizations, users, payment methods ---------------------------------------------------------
def test_org_create_list_show(cli: Cli) -> None:
    created = cli.json(
        "org", "create", "Fabrikam", "--country", "DK", "--currency", "DKK",
        "--time-zone", "Europe/Copenhagen", "--locale", "da",
    )  # fmt: skip
    assert [o["name"] for o in cli.json("org", "list")] == ["Fabrikam"]
    shown = cli.json("org", "show", str(created["id"]))
    assert shown["time_zone"] == "Europe/Copenhagen"
    assert "Fabrikam" in cli.ok("org", "show", str(created["id"])).output


def test_r2_user_add_with_a_license_in_one_step(shop: Shop) -> None:
    shop.sub("std-monthly", "--quantity", "5")
    user = shop.cli.json(
        "--as", shop.admin, "user", "add", str(shop.org), "new@contoso.example", "New Person",
        "--license", "STD", "--role", "user_admin",
    )  # fmt: skip
    assert user["licenses"] == ["STD"]
    assert user["roles"] == ["user_admin"]
    listed = shop.cli.json("user", "list", str(shop.org))
    assert next(u for u in listed if u["id"] == user["id"])["licenses"] == ["STD"]


def test_user_roles_and_delete(shop: Shop) -> None:
    person = str(shop.people[0])
    granted = shop.cli.json("user", "roles", person, "--grant", "billing_admin")
    assert granted["roles"] == ["billing_admin"]
    revoked = shop.cli.json("user", "roles", person, "--revoke", "billing_admin")
    assert revoked["roles"] == []
    shop.cli.ok("user", "delete", person)
    ids = [u["id"] for u in shop.cli.json("user", "list", str(shop.org))]
    assert shop.people[0] not in ids


def test_payment_add_and_list(shop: Shop) -> None:
    shop.cli.ok("payment", "add", str(shop.org), "--kind", "invoice", "--label", "Net 30")
    methods = shop.cli.json("payment", "list", str(shop.org))
    assert [(m["kind"], m["is_default"]) for m in methods] == [("invoice", True), ("card", False)]
    assert "faktura" in shop.cli.ok("payment", "list", str(shop.org), lang="nb").output


# -- subscriptions ---------------------------------------------------------------------------------
def test_r3_the_new_total_buys_or_removes_the_difference(shop: Shop) -> None:
    sub = str(shop.sub("std-monthly", "--quantity", "100")["id"])
    bought = shop.cli.json("--as", shop.admin, "sub", "quantity", sub, "105")
    assert (bought["kind"], bought["previous"], bought["quantity"]) == ("buy", 100, 105)
    removed = shop.as_admin("sub", "quantity", sub, "95")
    assert removed.exit_code == 0
    assert "10" in removed.output and "105 → 95" in removed.output
    assert shop.cli.json("sub", "show", sub)["quantity"] == 95


def test_r4_below_the_assigned_licenses_is_refused_in_norwegian(shop: Shop) -> None:
    sub = str(shop.sub("std-monthly", "--quantity", "10")["id"])
    shop.cli.ok("license", "assign", str(shop.org), "STD", *map(str, shop.people))
    result = shop.cli("--as", shop.admin, "sub", "quantity", sub, "2", lang="nb")
    assert result.exit_code == 1
    assert "lisenser" in result.output
    assert "3" in result.output and "2" in result.output
    assert "quantity_below_assigned" in result.output
    no_traceback(result)
    assert shop.cli.json("sub", "show", sub)["quantity"] == 10


def test_r4_refusal_as_json(shop: Shop) -> None:
    sub = str(shop.sub("std-monthly", "--quantity", "10")["id"])
    shop.cli.ok("license", "assign", str(shop.org), "STD", *map(str, shop.people))
    result = shop.cli("--json", "--lang", "nl", "sub", "quantity", sub, "1")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "quantity_below_assigned"
    assert error["status"] == 409
    assert error["context"] == {"assigned": 3, "requested": 1}
    assert "licenties" in error["message"]
    assert error["remedy"]


def test_r5_show_gives_the_reasons_and_remedies_of_a_trial(shop: Shop) -> None:
    trial = str(shop.sub("std-monthly", "--trial")["id"])
    shown = shop.cli.json("sub", "show", trial)
    assert shown["availability"]["can_buy"] is False
    assert shown["availability"]["buy_reasons"][0]["code"] == "trial_buy_first"
    output = shop.cli.ok("sub", "show", trial, lang="da").output
    assert "Køb licenser" in output
    assert "prøveabonnement" in output


def test_r5_credit_check_pending_then_complete(shop: Shop) -> None:
    shop.cli.ok("payment", "add", str(shop.org), "--kind", "invoice", "--label", "Net 30")
    sub = shop.sub("basic-monthly", "--quantity", "3")
    assert sub["credit_check_pending"] is True
    assert sub["availability"]["remove_reasons"][0]["code"] == "credit_check_pending"
    done = shop.cli.json("sub", "credit-check", str(sub["id"]), "--complete")
    assert done["availability"]["can_buy"] is True
    started = shop.cli.json("sub", "credit-check", str(sub["id"]), "--start")
    assert started["credit_check_pending"] is True


def test_r1_a_license_admin_cannot_buy_licenses(shop: Shop) -> None:
    sub = str(shop.sub("std-monthly", "--quantity", "10")["id"])
    result = shop.cli("--as", shop.license_admin, "sub", "quantity", sub, "20", lang="nl")
    assert result.exit_code == 1
    assert "permission_denied" in result.output
    assert "beheerder" in result.output
    no_traceback(result)


def test_sub_list_recurring_and_reactivate(shop: Shop) -> None:
    sub = str(shop.sub("basic-monthly", "--quantity", "2")["id"])
    assert [s["id"] for s in shop.cli.json("sub", "list", str(shop.org), "--status", "active")] == [
        int(sub)
    ]
    off = shop.cli.json("--as", shop.admin, "sub", "recurring", sub, "off")
    assert off["recurring_billing"] is False
    assert shop.cli.json("sub", "recurring", sub, "on")["recurring_billing"] is True
    shop.cli.ok("sub", "cancel", sub)
    assert shop.cli.json("sub", "reactivate", sub)["status"] == "active"
    assert "Subscriptions" in shop.cli.ok("sub", "list", str(shop.org)).output


def test_r14_a_trial_has_nothing_to_cancel_then_converts(shop: Shop) -> None:
    trial = str(shop.sub("std-monthly", "--trial")["id"])
    result = shop.as_admin("sub", "cancel", trial)
    assert result.exit_code == 1
    assert "trial_nothing_to_cancel" in result.output
    refused = shop.cli("sub", "extend-trial", trial)  # only in its last 15 days
    assert refused.exit_code == 1
    assert "trial_extension_unavailable" in refused.output
    paid = shop.cli.json("sub", "convert-trial", trial, "--quantity", "5")
    assert (paid["status"], paid["quantity"]) == ("active", 5)


def test_r15_over_the_limit_asks_for_a_callback_which_the_operator_closes(shop: Shop) -> None:
    cli = shop.cli
    sub = str(shop.sub("basic-monthly", "--quantity", "30")["id"])
    people = [
        str(cli.json("user", "add", str(shop.org), f"x{i}@contoso.example", f"X {i}")["id"])
        for i in range(26)
    ]
    cli.ok("license", "assign", str(shop.org), "BASIC", *people[:20])
    cli.ok("license", "assign", str(shop.org), "BASIC", *people[20:])
    refused = shop.as_admin("sub", "cancel", sub)
    assert refused.exit_code == 1
    assert "over_online_cancel_limit" in refused.output
    request = cli.json("--as", shop.admin, "callback", "request", sub, "--phone", "+47 22 00 00 00")
    assert request["status"] == "open"
    assert [c["id"] for c in cli.json("callback", "list")] == [request["id"]]
    assert "+47 22 00 00 00" in cli.ok("callback", "list").output
    cli.ok("callback", "close", str(request["id"]))
    assert cli.json("callback", "list") == []
    assert cli.json("callback", "list", "--status", "done")[0]["status"] == "done"


def test_r10_a_reseller_subscription_is_cancelled_through_the_partner(shop: Shop) -> None:
    # The vendor records reseller and volume purchases.
    resold = shop.cli.json(
        "sub", "buy", str(shop.org), "basic-monthly", "--quantity", "5",
        "--channel", "reseller", "--partner", "Tailspin",
    )  # fmt: skip
    result = shop.as_admin("sub", "cancel", str(resold["id"]))
    assert result.exit_code == 1
    assert "managed_by_reseller" in result.output
    volume = shop.cli.json(
        "sub", "buy", str(shop.org), "basic-monthly", "--quantity", "5",
        "--channel", "volume", "--agreement", "VL-1",
    )  # fmt: skip
    refused = shop.cli("--as", shop.admin, "sub", "cancel", str(volume["id"]), lang="nl")
    assert "volumelicentie" in refused.output.lower()


def test_r9_switch_plan_moves_the_licenses(shop: Shop) -> None:
    sub = str(shop.sub("basic-monthly", "--quantity", "5")["id"])
    shop.cli.ok("license", "assign", str(shop.org), "BASIC", *map(str, shop.people))
    switched = shop.cli.json("--as", shop.admin, "sub", "switch", sub, "std-monthly")
    assert sorted(switched["moved_user_ids"]) == sorted(shop.people)
    assert switched["old"]["status"] == "disabled"
    licenses = {v["product_sku"]: v for v in shop.cli.json("license", "list", str(shop.org))}
    assert licenses["STD"]["assigned"] == 3


# -- licenses, keys, audit -------------------------------------------------------------------------
def test_license_assign_unassign_list(shop: Shop) -> None:
    shop.sub("std-monthly", "--quantity", "5")
    org = str(shop.org)
    people = [str(p) for p in shop.people]
    first = shop.cli.json("--as", shop.license_admin, "license", "assign", org, "STD", people[0])
    assert first["license"]["assigned"] == 1
    result = shop.cli.json("--as", shop.admin, "license", "assign", org, "STD", *people[1:])
    assert result["license"]["assigned"] == 3
    after = shop.cli.json("license", "unassign", org, "STD", people[0])
    assert after["license"]["available"] == 3
    assert "Business Standard" in shop.cli.ok("license", "list", org).output


def test_product_keys_are_generated_once_and_redeemed(shop: Shop) -> None:
    generated = shop.cli.json("key", "generate", "std-monthly", "--count", "2", "--licenses", "5")
    assert len(generated["keys"]) == 2
    redeemed = shop.cli.json("--as", shop.admin, "key", "redeem", str(shop.org), *generated["keys"])
    assert redeemed["licenses_added"] == 10
    assert redeemed["subscription"]["channel"] == "prepaid"
    again = shop.cli("key", "redeem", str(shop.org), generated["keys"][0])
    assert again.exit_code == 1
    assert "product_key_already_redeemed" in again.output


def test_audit_lists_the_changes(shop: Shop) -> None:
    records = shop.cli.json("audit", "--org", str(shop.org), "--limit", "5")
    assert len(records) == 5
    assert records[0]["action"] == "user.create"
    assert "organization.create" in shop.cli.ok("audit", "--limit", "50").output


# -- errors and languages --------------------------------------------------------------------------
def test_not_found_is_localized_with_exit_1_and_no_traceback(cli: Cli) -> None:
    result = cli("sub", "show", "999", lang="da")
    assert result.exit_code == 1
    assert "not_found" in result.output
    assert "abonnement" in result.output
    no_traceback(result)


def test_invalid_input_exits_with_2(cli: Cli) -> None:
    result = cli("org", "create", "X", "--country", "ZZ", "--currency", "NOK")
    assert result.exit_code == 2
    assert "invalid_input" in result.output
    no_traceback(result)


def test_an_unknown_user_in_as_is_a_localized_error(cli: Cli) -> None:
    result = cli("--as", "nobody@example.org", "org", "list")
    assert result.exit_code == 1
    assert "not_found" in result.output
    no_traceback(result)


def test_the_default_language_comes_from_abonnement_locale(shop: Shop) -> None:
    result = shop.cli("license", "list", str(shop.org), env={"ABONNEMENT_LOCALE": "nb_NO"})
    assert "Lisenser" in result.output


def test_help_is_localized(cli: Cli) -> None:
    english = cli("sub", "--help")
    norwegian = cli("--lang", "nb", "sub", "--help")
    assert english.exit_code == norwegian.exit_code == 0
    assert "Enter the new total" in english.output
    assert "Enter the new total" not in norwegian.output
    assert "totale antallet" in norwegian.output
