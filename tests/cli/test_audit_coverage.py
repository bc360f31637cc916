"""Every change to what a billing day reads leaves an audit record in its transaction, or is the
billing run's own (which moves the organization's cursor with it). SQLite's billing batches rely
on it: they read apart from the write lock and take a newer audit record of their organizations
(or of the catalog), or a moved cursor, for a change since (`billing_batch._changed`). The demo
drives the use cases over 14 months of billing; each write it commits is checked here."""

from __future__ import annotations

from .conftest import Cli


def test_every_change_to_what_a_billing_day_reads_leaves_an_audit_record(
    cli: Cli, unaudited_writes: list[set[str]]
) -> None:
    steps = cli.json("demo", "--months", "14")
    assert all(step["as_expected"] for step in steps)
    assert unaudited_writes == []
