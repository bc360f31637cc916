"""ledger_entries: no index on transaction

Nothing looks ledger entries up by their transaction (they are read by billing account, invoice
or payment), and the index cost every posting a random insert into a B-tree that grows with the
ledger: a bulk write of postings went from about 17 to 20-27 µs a row with it, getting slower as
the table grew.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_ledger_entries_transaction"), table_name="ledger_entries")


def downgrade() -> None:
    op.create_index(
        op.f("ix_ledger_entries_transaction"), "ledger_entries", ["transaction"], unique=False
    )
