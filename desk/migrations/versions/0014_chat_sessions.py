"""chat sessions in the desk: a chat's session (token digest, identity, expiry), its waiting replies and offered buttons

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=254), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('codes_sent', sa.Integer(), nullable=False),
    sa.Column('codes_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reply', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_sessions')),
    sa.UniqueConstraint('address', name=op.f('uq_chat_sessions_address')),
    sa.UniqueConstraint('digest', name=op.f('uq_chat_sessions_digest'))
    )
    with op.batch_alter_table('chat_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_sessions_expires_at'), ['expires_at'], unique=False)

    op.create_table('chat_offers',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['chat_sessions.id'], name=op.f('fk_chat_offers_session_id_chat_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'value', name=op.f('pk_chat_offers'))
    )
    op.create_table('chat_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['chat_sessions.id'], name=op.f('fk_chat_replies_session_id_chat_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_replies')),
    sa.UniqueConstraint('session_id', 'seq', name=op.f('uq_chat_replies_session_id'))
    )
    with op.batch_alter_table('chat_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_replies_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('chat_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_replies_session_id'))
    op.drop_table('chat_replies')
    op.drop_table('chat_offers')
    with op.batch_alter_table('chat_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_sessions_expires_at'))
    op.drop_table('chat_sessions')
