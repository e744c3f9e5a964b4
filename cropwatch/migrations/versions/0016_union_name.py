"""the union's name as people read it (cooperatives.union_name), beside the code that groups the cooperatives

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cooperatives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('union_name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cooperatives', schema=None) as batch_op:
        batch_op.drop_column('union_name')
