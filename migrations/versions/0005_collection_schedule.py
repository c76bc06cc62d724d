"""régua de cobrança: escalation levels, pre-due reminder, multa/juros, bank calendar

Revision ID: 0005_collection_schedule
Revises: 0004_login_sessions
Create Date: 2026-12-01 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_collection_schedule'
down_revision = '0004_login_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_calendar', sa.String(length=10), nullable=False, server_default='bancario'))
        batch_op.add_column(sa.Column('state', sa.String(length=2), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('extra_holidays', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('late_fee_bp', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('interest_bp_month', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('due_soon_days', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('due_soon_subject_template', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('due_soon_text_template', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('due_soon_html_template', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('outbox_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=False, server_default='overdue'))
        batch_op.add_column(sa.Column('level', sa.String(length=60), nullable=False, server_default=''))
    op.create_table('escalation_level',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('start_days', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('subject_template', sa.Text(), nullable=False),
    sa.Column('text_template', sa.Text(), nullable=False),
    sa.Column('html_template', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_level')),
    sa.UniqueConstraint('start_days', name=op.f('uq_escalation_level_start_days'))
    )


def downgrade():
    op.drop_table('escalation_level')
    with op.batch_alter_table('outbox_line', schema=None) as batch_op:
        batch_op.drop_column('level')
        batch_op.drop_column('kind')
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        for name in ('due_soon_html_template', 'due_soon_text_template', 'due_soon_subject_template',
                     'due_soon_days', 'interest_bp_month', 'late_fee_bp', 'extra_holidays', 'state',
                     'bank_calendar'):
            batch_op.drop_column(name)
