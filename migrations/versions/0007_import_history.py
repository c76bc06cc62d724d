"""import history, company data time, data age limit and import folder settings

Companies imported before this revision have no data time: the run treats them as never imported
(their data may be of any age) and holds them back until a new import; the README says so.

Revision ID: 0007_import_history
Revises: 0006_partial_and_run_counts
Create Date: 2026-12-01 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_import_history'
down_revision = '0006_partial_and_run_counts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('user_name', sa.String(length=150), nullable=False, server_default=''),
        sa.Column('file_name', sa.String(length=500), nullable=False, server_default=''),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('sha256', sa.String(length=64), nullable=False, server_default=''),
        sa.Column('encoding', sa.String(length=20), nullable=False, server_default=''),
        sa.Column('delimiter', sa.String(length=1), nullable=False, server_default=''),
        sa.Column('data_time', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('result', sa.String(length=10), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('invoices_new', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('invoices_updated', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('invoices_settled', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('invoices_unchanged', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('customers_new', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('customers_updated', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('companies_new', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('warnings_total', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('warnings', sa.Text(), nullable=False, server_default=''),
        sa.Column('errors', sa.Text(), nullable=False, server_default=''),
        sa.Column('errors_truncated', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('companies', sa.Text(), nullable=False, server_default=''),
        sa.Column('note', sa.Text(), nullable=False, server_default=''),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_record')),
    )
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.create_index('ix_import_record_sha256', ['sha256', 'result'], unique=False)
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_time', sa.DateTime(), nullable=True))
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_data_age_hours', sa.Integer(), nullable=False,
                                      server_default='24'))
        batch_op.add_column(sa.Column('import_folder', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('import_pattern', sa.String(length=200), nullable=False,
                                      server_default='*.csv'))


def downgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.drop_column('import_pattern')
        batch_op.drop_column('import_folder')
        batch_op.drop_column('max_data_age_hours')
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.drop_column('data_time')
    with op.batch_alter_table('import_record', schema=None) as batch_op:
        batch_op.drop_index('ix_import_record_sha256')
    op.drop_table('import_record')
