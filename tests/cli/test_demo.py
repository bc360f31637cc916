"""`abonnement demo`: every seed scenario told in each language, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from abonnement.services.billing import INVOICE_PREFIX, PROVISIONAL

from .conftest import Cli, no_traceback

# Words that only the language's own text uses (R16).
WORDS = {
    "en": ["licenses", "Buy licenses", "Summary", "What you can do"],
    "nb": ["lisenser", "Kjøp lisenser", "prøveabonnement", "La oss ringe deg"],
    "nl": ["licenties", "Licenties kopen", "proefabonnement", "Wederverkoper"],
    "da": ["licenser", "Køb licenser", "prøveabonnement", "faktureringsadministrator"],
}


@pytest.mark.parametrize("lang", ["en", "nb", "nl", "da"])
def test_r16_demo_tells_every_scenario_in_each_language(cli: Cli, lang: str) -> None:
    result = cli("demo", "--lang", lang)
    assert result.exit_code == 0, result.output
    no_traceback(result)
    for word in WORDS[lang]:
        assert word in result.output, word
    for rule in ("R1", "R3", "R4", "R5", "R8", "R9", "R10", "R14", "R15"):
        assert rule in result.output
    # Each scenario's refusals, by their stable codes.
    for code in (
        "quantity_below_assigned",
        "trial_nothing_to_cancel",
        "over_online_cancel_limit",
        "managed_by_reseller",
        "managed_by_volume_licensing",
        "permission_denied",
    ):
        assert code in result.output


def test_demo_json_lists_the_steps_all_as_expected(cli: Cli) -> None:
    result = cli("--json", "demo")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    assert all(step["as_expected"] for step in steps)
    refused = {step["code"] for step in steps if step["outcome"] == "refused"}
    assert {"quantity_below_assigned", "over_online_cancel_limit", "permission_denied"} <= refused
    # R3: 100 -> 105 buys 5, 105 -> 95 removes 10.
    data = [s["data"] for s in steps if isinstance(s["data"], dict)]
    changes = [d for d in data if "kind" in d]
    assert [(c["kind"], c["previous"], c["quantity"]) for c in changes[:2]] == [
        ("buy", 100, 105),
        ("remove", 105, 95),
    ]
    # R5: one subscription for each reason Buy licenses is unavailable.
    reasons = {r["code"] for d in data if "reasons" in d for r in d["reasons"]}
    assert {
        "credit_check_pending",
        "prepaid_needs_key_or_payment_method",
        "prepaid_licenses_cannot_be_removed",
        "managed_by_reseller",
        "trial_buy_first",
        "offer_end_of_sale",
    } <= reasons
    # R8: the annual offer cancelled after its window ends at the end of its term.
    cancels = [d for d in data if d.get("outcome")]
    assert [c["outcome"] for c in cancels] == ["now", "at_term_end", "now"]
    # R7: the statement after 100 -> 105 reverses and restates the period; R11: a credit note.
    statements = [d for d in data if d.get("reason") == "statement"]
    assert any(line["kind"] == "reversal" for s in statements for line in s["lines"])
    credit_notes = [d for d in data if d.get("kind") == "credit_note"]
    assert {c["reason"] for c in credit_notes} >= {"switch", "cancellation"}


def test_demo_writes_the_invoices_as_pdf(cli: Cli, tmp_path: Path) -> None:
    cli.ok("demo", "--invoices-dir", str(tmp_path))
    pdfs = sorted(tmp_path.rglob("*.pdf"))
    assert len(pdfs) >= 8
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)


def test_demo_runs_again_with_new_organizations(cli: Cli) -> None:
    cli.ok("demo")
    again = cli("demo")
    assert again.exit_code == 0, again.output
    assert "Fabrikam ApS (2)" in again.output
    names = [o["name"] for o in cli.json("org", "list")]
    assert names.count("Fabrikam ApS") == 1
    assert "Fabrikam ApS (2)" in names
    # The catalog is reused and the end-of-sale offer is still not sold.
    offers = {o["code"]: o for o in cli.json("catalog", "list")["offers"]}
    assert len(offers) == 5
    assert offers["demo-standard-2019"]["end_of_sale"] is True


@pytest.mark.integration
def test_demo_on_postgresql(postgres_url: str) -> None:
    cli = Cli(postgres_url)
    cli.ok("db", "upgrade")
    result = cli("demo", "--lang", "nb")
    assert result.exit_code == 0, result.output
    assert "lisenser" in result.output
    callbacks = cli.json("callback", "list")
    assert len(callbacks) == 1
    assert cli.json("license", "list", str(callbacks[0]["organization_id"]))


def test_demo_months_moves_every_demo_organization_ahead_on_a_test_clock(cli: Cli) -> None:
    """`demo --months 14`: each demo organization gets a test clock and 14 months of billing
    runs; its invoices of those months are shown (R7 restated, R14 trials converted)."""
    steps = cli.json("demo", "--months", "14")
    assert all(step["as_expected"] for step in steps)
    later = [s for s in steps if s["scenario"] == max(x["scenario"] for x in steps)]
    assert later[0]["action"].startswith("Attach a test clock to ")
    read = [s["data"] for s in later if s["action"].startswith("Read the invoices of ")]
    created = [s for s in steps if s["action"].startswith("Create the organization")]
    assert len(read) == len(created)  # every demo organization, also those with nothing to bill
    # The first organization (seed 002's 100 -> 105 -> 95) gets a statement every month, the
    # first one restating the month of the changes (R7), and owes nothing at the end.
    first = read[0]
    statements = [i for i in first["invoices"] if i["reason"] == "statement"]
    assert len(statements) == 14
    months = [int(i["issue_date"][:4]) * 12 + int(i["issue_date"][5:7]) for i in statements]
    assert months == list(range(months[0], months[0] + 14))
    assert any(line["kind"] == "reversal" for line in statements[0]["lines"])
    assert first["balance"]["receivable"] == 0
    events = later[-1]["data"]
    assert events["subscription.renewed"] >= 14 * 2
    assert events["subscription.trial_converted"] >= 1  # R14: a trial with a card on file
    assert events["invoice.issued"] >= 14 * 5
    # Invoices are numbered once their money has moved (services.billing.number_invoices): no
    # record, event or invoice of the 14 months names a number held only until then.
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.connect() as db:
            numbers = db.execute(sa.text("SELECT number FROM invoices")).scalars().all()
            audited = (
                db.execute(sa.text("SELECT entity_id FROM audit_log WHERE entity = 'invoice'"))
                .scalars()
                .all()
            )
            payloads = db.execute(sa.text("SELECT payload FROM events")).scalars().all()
    finally:
        engine.dispose()
    assert len(numbers) >= 14 * 5
    assert all(n.startswith(INVOICE_PREFIX) for n in numbers)
    assert sorted(audited) == sorted(numbers)
    texts = [p if isinstance(p, str) else json.dumps(p) for p in payloads]
    assert not [t for t in texts if f'"{PROVISIONAL}' in t]
    named = {json.loads(t).get("invoice") for t in texts} - {None}
    assert named and named <= set(numbers)
