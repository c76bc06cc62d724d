"""outbox lines refused for some recipients; runs count pending, unknown and partial lines

``outbox_line.refused`` lists the recipients the server refused while it accepted the message
for the others (a partial delivery is not a plain ``sent``). ``run`` gains the counts of lines
left pending (never tried, e.g. a run stopped by a wrong password), of ``unknown`` lines and of
partial deliveries, so that every page shows the same figures, all taken from the lines.

Revision ID: 0006_partial_and_run_counts
Revises: 0005_collection_schedule
Create Date: 2026-12-01 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_partial_and_run_counts'
down_revision = '0005_collection_schedule'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refused', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_count', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('unknown_count', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('partial_count', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('partial_count')
        batch_op.drop_column('unknown_count')
        batch_op.drop_column('pending_count')
    with op.batch_alter_table('outbox_line', schema=None) as batch_op:
        batch_op.drop_column('refused')
