"""captures by plot and time: a plot's day (or weeks) of photos is a range, not every photo the plot ever had

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 21:50:00
"""
from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_captures_plot_captured', 'captures', ['plot_id', 'captured_at'])


def downgrade() -> None:
    op.drop_index('ix_captures_plot_captured', table_name='captures')
