"""skipped lines kept for a retention the station sets; runs keep their counts per skip reason

Every run records one ``skipped`` outbox line per enabled customer it sends nothing to: about 36
million rows a year at 100,000 customers. ``run_skip_count`` keeps each run's count per skip
reason (filled here from the lines already recorded), so that the lines themselves can be deleted
after ``station_settings.skip_retention_days`` (default 90, 0 = keep them forever);
``run.skips_pruned_at`` says when a run's were. See dunning/retention.py.

Revision ID: 0009_skip_retention
Revises: 0008_smtp_oauth
Create Date: 2026-12-02 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_skip_retention'
down_revision = '0008_smtp_oauth'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skip_retention_days', sa.Integer(), nullable=False,
                                      server_default='90'))
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skips_pruned_at', sa.DateTime(), nullable=True))
    op.create_table('run_skip_count',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], name=op.f('fk_run_skip_count_run_id_run')),
    sa.PrimaryKeyConstraint('run_id', 'reason', name=op.f('pk_run_skip_count'))
    )
    # The runs recorded so far: their counts per reason, from their lines (one set-based pass).
    op.execute("INSERT INTO run_skip_count (run_id, reason, count) "
               "SELECT run_id, skip_reason, count(*) FROM outbox_line "
               "WHERE status = 'skipped' GROUP BY run_id, skip_reason")


def downgrade():
    op.drop_table('run_skip_count')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('skips_pruned_at')
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.drop_column('skip_retention_days')
