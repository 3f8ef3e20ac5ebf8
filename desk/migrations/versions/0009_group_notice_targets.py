"""group notice targets: one row per (group, channel), instead of groups.slack_channel and groups.email

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# SQLite's batch mode rebuilds "groups" (copy, drop, rename); dropping it deletes, through the ON DELETE CASCADE,
# every notice target already pointing at it. So the data is read first and written once "groups" is rebuilt.


def upgrade() -> None:
    conn = op.get_bind()
    places = conn.execute(sa.text("SELECT id, slack_channel, email FROM groups")).all()
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('slack_channel')
        batch_op.drop_column('email')
    targets = op.create_table(
        'notice_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('address', sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('group_id', 'channel'),
    )
    rows = [{"group_id": group_id, "channel": channel, "address": address.strip()}
            for group_id, slack, email in places for channel, address in (("slack", slack), ("email", email))
            if address and address.strip()]
    if rows:
        op.bulk_insert(targets, rows)


def downgrade() -> None:
    conn = op.get_bind()
    targets = conn.execute(sa.text("SELECT group_id, channel, address FROM notice_targets")).all()
    op.drop_table('notice_targets')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('slack_channel', sa.String(length=64), nullable=True))
    for group_id, channel, address in targets:
        if channel in ("slack", "email"):
            column = "slack_channel" if channel == "slack" else "email"
            conn.execute(sa.text(f"UPDATE groups SET {column} = :address WHERE id = :id"),
                         {"address": address, "id": group_id})
