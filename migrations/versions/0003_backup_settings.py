"""backup settings

The station's backup folder (empty = instance/backups) and how many backups to keep (30).

Revision ID: 0003_backup_settings
Revises: 0002
Create Date: 2026-12-01 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_backup_settings'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backup_folder', sa.String(length=1000), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('backup_keep', sa.Integer(), nullable=False,
                                      server_default='30'))


def downgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.drop_column('backup_keep')
        batch_op.drop_column('backup_folder')
