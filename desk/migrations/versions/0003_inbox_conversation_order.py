"""inbox conversation order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation', sa.String(length=600), server_default='', nullable=False))
        batch_op.create_index('ix_inbox_conversation', ['conversation', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_conversation')
        batch_op.drop_column('conversation')

