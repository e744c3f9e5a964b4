"""golden set of human-verified images per model family; one automatic diary observation per plot, pest and day

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:45:00
"""
from alembic import op
import sqlalchemy as sa
import cropwatch.core.orm


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('diary_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('title_en', sa.String(length=300), nullable=True))
    op.create_table(
        'golden_images',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task', sa.Enum('pest', 'ripeness', name='modeltask', native_enum=False, length=32), nullable=False),
        sa.Column('family', sa.String(length=64), nullable=True),
        sa.Column('cooperative_id', sa.Integer(), nullable=True),
        sa.Column('object_key', sa.String(length=400), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('boxes', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('added_by', sa.Integer(), nullable=True),
        sa.Column('created_at', cropwatch.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['added_by'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('task', 'sha256', name='uq_golden_task_sha'),
    )
    with op.batch_alter_table('golden_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_golden_images_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_golden_images_cooperative_id'), ['cooperative_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('golden_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_images_cooperative_id'))
        batch_op.drop_index(batch_op.f('ix_golden_images_family'))
    op.drop_table('golden_images')
    with op.batch_alter_table('diary_entries', schema=None) as batch_op:
        batch_op.drop_column('title_en')
        batch_op.drop_column('subject')
