"""fewer invoice indexes

Two full indexes replace five: (customer_id, due_date, balance_cents) does the work of
ix_invoice_customer_open and the partial ix_invoice_open_customer, (due_date, balance_cents) that
of ix_invoice_due_date and the partial ix_invoice_open_due; ix_invoice_account goes (nothing
filters by account). A first import rebuilds each secondary index, about 1 s per million rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_open_due', sqlite_where=sa.text('balance_cents > 0'), postgresql_where=sa.text('balance_cents > 0'))
        batch_op.drop_index('ix_invoice_open_customer', sqlite_where=sa.text('balance_cents > 0'), postgresql_where=sa.text('balance_cents > 0'))
        batch_op.drop_index('ix_invoice_due_date')
        batch_op.drop_index('ix_invoice_customer_open')
        batch_op.drop_index('ix_invoice_account')
        batch_op.create_index('ix_invoice_customer_due', ['customer_id', 'due_date', 'balance_cents'], unique=False)
        batch_op.create_index('ix_invoice_due_balance', ['due_date', 'balance_cents'], unique=False)


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_due_balance')
        batch_op.drop_index('ix_invoice_customer_due')
        batch_op.create_index('ix_invoice_account', ['account_id'], unique=False)
        batch_op.create_index('ix_invoice_customer_open', ['customer_id', 'balance_cents'], unique=False)
        batch_op.create_index('ix_invoice_due_date', ['due_date'], unique=False)
        batch_op.create_index('ix_invoice_open_customer', ['customer_id', 'due_date', 'balance_cents'], unique=False, sqlite_where=sa.text('balance_cents > 0'), postgresql_where=sa.text('balance_cents > 0'))
        batch_op.create_index('ix_invoice_open_due', ['due_date', 'balance_cents'], unique=False, sqlite_where=sa.text('balance_cents > 0'), postgresql_where=sa.text('balance_cents > 0'))
