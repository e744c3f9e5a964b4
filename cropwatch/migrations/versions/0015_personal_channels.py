"""personal notification channels: a member's own Zalo, Telegram or e-mail (notification_channels.user_id)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 04:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_channels_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(
            'fk_notification_channels_user_id_users', 'users', ['user_id'], ['id'], ondelete='CASCADE'
        )


def downgrade() -> None:
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notification_channels_user_id_users', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notification_channels_user_id'))
        batch_op.drop_column('user_id')
