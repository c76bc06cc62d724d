"""skipped lines kept for a retention the station sets; runs keep their counts per skip reason

Every run records one ``skipped`` outbox line per enabled customer it sends nothing to: about 36
million rows a year at 100,000 customers. ``run_skip_count`` keeps each run's count per skip
reason (filled here from the lines already recorded), so that the lines themselves can be deleted
after ``station_settings.skip_retention_days`` (default 90, 0 = keep them forever);
``run.skips_pruned_at`` says when a run's were. See dunning/retention.py.

The outbox's index on ``run_id`` becomes one on ``(run_id, id)``: a run's page lists its lines in
id order, and after a year of runs PostgreSQL answered it by walking the whole table in id order
(17 s for the newest run; SQLite's index already holds the rowid). A small partial index holds the
lines staff must look at (failed, unknown, pending, partial), for the "com falha" filter and the
Painel (1 s on PostgreSQL otherwise). On a large outbox the new indexes take a few minutes to
build, once.

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

# As models/delivery.py has it, at this revision.
PROBLEM_LINE = "status <> 'skipped' AND (status <> 'sent' OR refused <> '')"


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
    op.create_index('ix_outbox_run_line', 'outbox_line', ['run_id', 'id'], unique=False)
    op.drop_index('ix_outbox_line_run_id', table_name='outbox_line')
    op.create_index('ix_outbox_run_problem', 'outbox_line', ['run_id', 'id'], unique=False,
                    sqlite_where=sa.text(PROBLEM_LINE), postgresql_where=sa.text(PROBLEM_LINE))


def downgrade():
    op.drop_index('ix_outbox_run_problem', table_name='outbox_line')
    op.create_index('ix_outbox_line_run_id', 'outbox_line', ['run_id'], unique=False)
    op.drop_index('ix_outbox_run_line', table_name='outbox_line')
    op.drop_table('run_skip_count')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('skips_pruned_at')
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.drop_column('skip_retention_days')
