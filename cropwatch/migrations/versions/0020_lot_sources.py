"""the chain after harvest: lots merged into one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 01:55:00
"""
from alembic import op
import sqlalchemy as sa
import cropwatch.core.orm


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lot_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('source_lot_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('merged_at', cropwatch.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lot_id'], ['harvest_lots.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_lot_id'], ['harvest_lots.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_lot_id')
    )
    with op.batch_alter_table('lot_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_sources_cooperative_id'), ['cooperative_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_sources_lot_id'), ['lot_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lot_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_sources_lot_id'))
        batch_op.drop_index(batch_op.f('ix_lot_sources_cooperative_id'))
    op.drop_table('lot_sources')
