"""smtp oauth

SMTP sign-in with OAuth 2.0 (XOAUTH2): the sign-in method, the station's OAuth client (Microsoft
tenant and client id, Google client id and encrypted secret), the encrypted refresh token, who
authorized, and when the authorization was last refreshed or last failed.

Revision ID: 0008_smtp_oauth
Revises: 0007_import_history
Create Date: 2026-12-01 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_smtp_oauth'
down_revision = '0007_import_history'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('smtp_auth_method', sa.String(length=10), nullable=False,
                                      server_default='password'))
        batch_op.add_column(sa.Column('oauth_tenant', sa.String(length=100), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('oauth_client_id', sa.String(length=255), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('oauth_client_secret_encrypted', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('oauth_refresh_token_encrypted', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('oauth_account', sa.String(length=254), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('oauth_refreshed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('oauth_failed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('oauth_error', sa.Text(), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('station_settings', schema=None) as batch_op:
        for column in ('oauth_error', 'oauth_failed_at', 'oauth_refreshed_at', 'oauth_account',
                       'oauth_refresh_token_encrypted', 'oauth_client_secret_encrypted',
                       'oauth_client_id', 'oauth_tenant', 'smtp_auth_method'):
            batch_op.drop_column(column)
