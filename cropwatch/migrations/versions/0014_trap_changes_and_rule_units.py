"""sticky-trap card changes ("thay bẫy"); the unit an alert rule's threshold counts in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 23:40:00
"""
from alembic import op
import sqlalchemy as sa
import cropwatch.core.orm


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit', sa.String(length=16), nullable=True))
    op.create_table(
        'trap_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=False),
        sa.Column('camera_id', sa.Integer(), nullable=False),
        sa.Column('changed_at', cropwatch.core.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['camera_id'], ['cameras.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('trap_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trap_changes_cooperative_id'), ['cooperative_id'], unique=False)
        batch_op.create_index('ix_trap_changes_camera_time', ['camera_id', 'changed_at'], unique=False)
    # rule names are generated from the rule now (cropwatch/alerts/rule_text.py); the old generated ones are dropped
    op.execute(sa.text("UPDATE alert_rules SET name = '' WHERE name LIKE '% ≥ %/ngày'"))


def downgrade() -> None:
    with op.batch_alter_table('trap_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_trap_changes_camera_time')
        batch_op.drop_index(batch_op.f('ix_trap_changes_cooperative_id'))
    op.drop_table('trap_changes')
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_column('unit')
