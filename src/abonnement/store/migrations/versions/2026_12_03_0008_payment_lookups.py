"""payments: indexes on invoice_id and refund_of_id

An invoice's charges and a charge's refunds are looked up by these columns (dunning's next
attempt, the refundable rest of a charge); without the indexes each lookup read the whole table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"], unique=False)
    op.create_index(op.f("ix_payments_refund_of_id"), "payments", ["refund_of_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_refund_of_id"), table_name="payments")
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
