"""a cooperative's certificates (VietGAP, GlobalG.A.P., organic) for the lots' public pages

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 01:50:00
"""
from alembic import op
import sqlalchemy as sa
import cropwatch.core.orm


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('issued_by', sa.String(length=200), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('crops', sa.JSON(), nullable=False),
    sa.Column('created_at', cropwatch.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certifications_cooperative_id'), ['cooperative_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('certifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certifications_cooperative_id'))
    op.drop_table('certifications')
