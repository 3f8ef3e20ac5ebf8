"""The desk's tables: SQLAlchemy 2.0 declarative models with typed ``Mapped[...]`` columns.

Alembic migrations in ``desk/migrations`` are the schema's source of truth for a real
database; ``tests/desk/test_migrations.py`` proves the two agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.domain import (
    AdminAction,
    AuthorKind,
    ConversationWait,
    QueueStatus,
    Direction,
    Level,
    Priority,
    ResolutionCode,
    Role,
    SlaKind,
    SlaLevel,
    SlaState,
    Status,
    TicketType,
)
from desk._base import NAMING, Base, UTCDateTime, _enum, index_only_on, utcnow  # noqa: F401 - importable from here too
# The access tables (rate counters, API tokens, console sessions) live beside; imported so Base.metadata has them.
from desk.access_models import ApiToken, RateCounter, VerificationCode, WebSession  # noqa: E402,F401


group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Group(Base):
    """A team that works tickets, with the business-hours calendar its SLAs count in."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    working_hours: Mapped[str] = mapped_column(String(200), default="mon-fri 09:00-17:00")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    holidays: Mapped[list[Holiday]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="Holiday.day"
    )
    members: Mapped[list[User]] = relationship(secondary=group_members, back_populates="groups")
    notice_targets: Mapped[list[NoticeTarget]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="NoticeTarget.channel"
    )


class NoticeTarget(Base):
    """Where a group hears of its new tickets, SLA alerts and major incidents: an address on a channel (a Slack
    channel id, a mailbox). The desk stores them; which channels exist is the bot's business."""

    __tablename__ = "notice_targets"
    __table_args__ = (UniqueConstraint("group_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(254))

    group: Mapped[Group] = relationship(back_populates="notice_targets")


class Holiday(Base):
    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("group_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120), default="")

    group: Mapped[Group] = relationship(back_populates="holidays")


class User(Base):
    """An agent or admin of the desk (not a requester)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.AGENT)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    # Round-robin among equally loaded agents: the one assigned longest ago goes first.
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # argon2id (desk.accounts); None: this user cannot sign in with a password (API tokens still work).
    password_hash: Mapped[str | None] = mapped_column(String(255))

    groups: Mapped[list[Group]] = relationship(secondary=group_members, back_populates="members")


class Requester(Base):
    """A person who asks IT for help; one record however many channels they write from."""

    __tablename__ = "requesters"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Set only from a verified identity; the link that joins identities across channels.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    identities: Mapped[list[Identity]] = relationship(back_populates="requester")


class Identity(Base):
    """How one channel knows a requester (Slack user id, email address, Telegram user id...)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    requester: Mapped[Requester] = relationship(back_populates="identities")


class Counter(Base):
    """Named counters; ``ticket_number`` hands out human ticket numbers under a row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SlaPolicy(Base):
    """Targets for one priority, in business minutes of the ticket group's calendar."""

    __tablename__ = "sla_policies"

    priority: Mapped[Priority] = mapped_column(_enum(Priority, 2), primary_key=True)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    # P1 is usually worked around the clock: its targets ignore the group calendar.
    around_the_clock: Mapped[bool] = mapped_column(Boolean, default=False)


class RoutingRule(Base):
    """Intent (or category) to group."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    intent: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    ticket_type: Mapped[TicketType] = mapped_column(_enum(TicketType), default=TicketType.INCIDENT)
    urgency: Mapped[int] = mapped_column(Integer, default=int(Level.MEDIUM))

    group: Mapped[Group] = relationship()


ticket_tags = Table(
    "ticket_tags",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_group", "status", "group_id"),
        Index("ix_tickets_requester_status", "requester_id", "status"),
        Index("ix_tickets_created", "created_at", "id"),  # the lists' order (newest first) and their cursor
        # The text search's ILIKE '%word%' (desk.ticket_queries); SQLite has no such index and scans.
        index_only_on("postgresql", "ix_tickets_subject_trgm", "subject", postgresql_using="gin",
                      postgresql_ops={"subject": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    type: Mapped[TicketType] = mapped_column(_enum(TicketType))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW)
    impact: Mapped[int] = mapped_column(Integer)
    urgency: Mapped[int] = mapped_column(Integer)
    priority: Mapped[Priority] = mapped_column(_enum(Priority, 2))
    intent: Mapped[str | None] = mapped_column(String(64))
    confirmed_intent: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"))
    channel: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_code: Mapped[ResolutionCode | None] = mapped_column(_enum(ResolutionCode))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    csat_score: Mapped[int | None] = mapped_column(Integer)  # 1..5, from the survey

    # SLA: due instants and the 80 % warning instants, precomputed so that the scan is a query.
    first_response_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_response_warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sla_state: Mapped[SlaState] = mapped_column(_enum(SlaState), default=SlaState.OK)
    pending_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)  # business seconds spent pending
    # Filled when resolved, so that KPIs average them in plain SQL on every database.
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_business_seconds: Mapped[int | None] = mapped_column(Integer)

    group: Mapped[Group | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    requester: Mapped[Requester] = relationship()
    parent: Mapped[Ticket | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Ticket]] = relationship(back_populates="parent")

    @property
    def ref(self) -> str:
        return f"#{self.number}"


class Conversation(Base):
    """One thread on one channel (a Slack thread, a mail thread, a chat); may carry a ticket."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "address", "thread"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(254))
    thread: Mapped[str] = mapped_column(String(254), default="")
    requester_id: Mapped[int] = mapped_column(ForeignKey("requesters.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the bot waits for in this conversation: nothing, a yes/no on an article, or a clarification.
    awaiting: Mapped[ConversationWait] = mapped_column(
        _enum(ConversationWait), default=ConversationWait.NOTHING, server_default=ConversationWait.NOTHING.value
    )
    awaiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    offered_article: Mapped[str | None] = mapped_column(String(64))
    clarifications: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    requester: Mapped[Requester] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class Message(Base):
    """Every inbound and outbound message and internal note, in one ordered thread per ticket."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_ticket_order", "ticket_id", "id"),
        index_only_on("postgresql", "ix_messages_text_trgm", "text", postgresql_using="gin",
                      postgresql_ops={"text": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    author_kind: Mapped[AuthorKind] = mapped_column(_enum(AuthorKind))
    author_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="Attachment.id"
    )


class Blob(Base):
    """Attachment content, stored once per SHA-256 however often it is attached."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))

    message: Mapped[Message] = relationship(back_populates="attachments")


class AuditEntry(Base):
    """Every change of a ticket: who, what, old value, new value, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(120))
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaEvent(Base):
    """A warning or breach already reported; the unique key makes each one reported once."""

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[SlaKind] = mapped_column(_enum(SlaKind))
    level: Mapped[SlaLevel] = mapped_column(_enum(SlaLevel))
    due: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class _QueueRow:
    """What the inbox and the outbox share: a keyed payload, and a claim with a lease and retries."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[QueueStatus] = mapped_column(_enum(QueueStatus), default=QueueStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    # when retention emptied the payload of its raw content (the row and its key stay, for idempotency)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InboxRow(_QueueRow, Base):
    """A committed inbound message waiting for (or done with) the bot's workers."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_claim", "status", "available_at"),
        Index("ix_inbox_conversation", "conversation", "id"),
        Index("ix_inbox_sender", "channel", "sender", "received_at"),  # a sender's mail of the last hour
    )

    # channel, address and thread in one string: messages of one conversation are handled in order.
    conversation: Mapped[str] = mapped_column(String(600), default="", server_default="")
    sender: Mapped[str] = mapped_column(String(254), default="", server_default="")  # the channel's id of who wrote

    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutboxRow(_QueueRow, Base):
    """A reply waiting for its channel; sent in order within its conversation."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_claim", "status", "available_at"),
        Index("ix_outbox_conversation", "channel", "address", "thread", "id"),
        Index("ix_outbox_native_id", "channel", "native_id"),
    )

    address: Mapped[str] = mapped_column(String(254))
    thread: Mapped[str] = mapped_column(String(254), default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    native_id: Mapped[str | None] = mapped_column(String(254))  # the platform's id of the sent message (Slack ts)


class AgentThread(Base):
    """Where a ticket was posted for its group's agents (a Slack channel + the post's ts).

    ``thread`` is empty until the dispatcher has sent the post (``outbox_id``) and learnt its id;
    agents' messages in that thread then map back to the ticket, and SLA notices go into it.
    """

    __tablename__ = "agent_threads"
    __table_args__ = (Index("ix_agent_threads_place", "channel", "address", "thread"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(254))
    thread: Mapped[str] = mapped_column(String(254), default="", server_default="")
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AdminAuditEntry(Base):
    """A change an admin made outside tickets (users, groups, routing, SLAs, dead letters, models): who, what
    of which thing, old value, new value, when. Ticket changes have their own trail (``AuditEntry``)."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[AdminAction] = mapped_column(_enum(AdminAction))
    target: Mapped[str] = mapped_column(String(200))  # the user, group, intent, priority, row or model version
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
