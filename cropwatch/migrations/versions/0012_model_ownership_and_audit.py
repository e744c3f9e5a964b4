"""model ownership, families per crop and detection settings per version: installation-level ML staff, an append-only registry audit log; delivery errors without bodies

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:55:00
"""
from alembic import op
import sqlalchemy as sa
import cropwatch.core.orm


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_ml', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detect_settings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('family', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('crops', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('camera_kinds', sa.JSON(), nullable=True))
    op.create_table(
        'model_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', cropwatch.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('by_user_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('model_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_audit_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_audit_cooperative_id'), ['cooperative_id'], unique=False)
    # delivery logs kept the first 200 characters of a receiver's reply: keep the status code only
    op.execute("UPDATE deliveries SET last_error = 'HTTP ' || CAST(response_code AS VARCHAR(8)) "
               "WHERE response_code IS NOT NULL AND last_error LIKE 'HTTP %'")
    op.execute("UPDATE deliveries SET last_error = 'connection_error' "
               "WHERE response_code IS NULL AND last_error IS NOT NULL AND last_error NOT LIKE 'HTTP %'")


def downgrade() -> None:
    with op.batch_alter_table('model_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_audit_cooperative_id'))
        batch_op.drop_index(batch_op.f('ix_model_audit_model_version_id'))
    op.drop_table('model_audit')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('camera_kinds')
        batch_op.drop_column('crops')
        batch_op.drop_column('family')
        batch_op.drop_column('detect_settings')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('platform_ml')
