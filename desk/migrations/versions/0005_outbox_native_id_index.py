"""outbox: find a sent message by its platform id (a mail citing our Message-ID)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_native_id', 'outbox', ['channel', 'native_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_native_id', table_name='outbox')
