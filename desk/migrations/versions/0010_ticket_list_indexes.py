"""ticket lists: an index for their order and cursor; trigram indexes for the text search on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_created', 'tickets', ['created_at', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_tickets_subject_trgm', 'tickets', ['subject'], unique=False, postgresql_using='gin',
                        postgresql_ops={'subject': 'gin_trgm_ops'})
        op.create_index('ix_messages_text_trgm', 'messages', ['text'], unique=False, postgresql_using='gin',
                        postgresql_ops={'text': 'gin_trgm_ops'})


def downgrade() -> None:
    # The extension stays: something else in the database may use it, and it costs nothing unused.
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_messages_text_trgm', table_name='messages')
        op.drop_index('ix_tickets_subject_trgm', table_name='tickets')
    op.drop_index('ix_tickets_created', table_name='tickets')
