"""agent threads, group Slack channels, outbox native ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slack_channel', sa.String(length=64), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('native_id', sa.String(length=254), nullable=True))
    op.create_table('agent_threads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('thread', sa.String(length=254), server_default='', nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_agent_threads_outbox_id_outbox'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_agent_threads_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_threads')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_agent_threads_outbox_id'))
    )
    with op.batch_alter_table('agent_threads', schema=None) as batch_op:
        batch_op.create_index('ix_agent_threads_place', ['channel', 'address', 'thread'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_threads_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_threads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_threads_ticket_id'))
        batch_op.drop_index('ix_agent_threads_place')
    op.drop_table('agent_threads')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('native_id')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('slack_channel')
