"""the chain after harvest: photos of a lot's steps

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 02:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('lot_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('photo_keys', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('lot_events', schema=None) as batch_op:
        batch_op.drop_column('photo_keys')
