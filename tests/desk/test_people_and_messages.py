"""Requesters across channels, and the ticket thread: order, idempotency, attachments."""

from __future__ import annotations

import datetime as dt

import pytest

from desk import AuthorKind, Direction, DuplicateKey
from desk import people, tickets
from desk.models import Blob, Requester
from desk.tickets import AttachmentTooLarge, NewAttachment

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def test_verified_email_links_identities_of_one_person(uow) -> None:  # noqa: ANN001
    with uow() as s:
        by_mail = people.resolve_requester(session=s, channel="email", external_id="ana@corp.example",
                                           display_name="Ana Silva", email="Ana@Corp.example", email_verified=True)
        by_slack = people.resolve_requester(session=s, channel="slack", external_id="U123", display_name="ana",
                                            email="ana@corp.example", email_verified=True)
        assert by_slack.id == by_mail.id
        assert by_mail.email == "ana@corp.example"
        assert {i.channel for i in by_mail.identities} == {"email", "slack"}
        # the same identity again is the same requester, with no new identity
        again = people.resolve_requester(session=s, channel="slack", external_id="U123")
        assert again.id == by_mail.id and len(by_mail.identities) == 2


def test_unverified_email_never_joins_someone_else(uow) -> None:  # noqa: ANN001
    with uow() as s:
        ana = people.resolve_requester(session=s, channel="email", external_id="ana@corp.example",
                                       email="ana@corp.example", email_verified=True)
        visitor = people.resolve_requester(session=s, channel="webchat", external_id="visitor-1",
                                           email="ana@corp.example", email_verified=False)
        assert visitor.id != ana.id
        assert visitor.email is None


def test_verifying_later_merges_the_history(uow) -> None:  # noqa: ANN001
    with uow() as s:
        ana = people.resolve_requester(session=s, channel="email", external_id="ana@corp.example",
                                       email="ana@corp.example", email_verified=True)
        tg = people.resolve_requester(session=s, channel="telegram", external_id="777", display_name="Ana T")
        t = tickets.open_ticket(session=s, requester_id=tg.id, subject="printer jam", channel="telegram", actor="test")
        tg_id = tg.id
        # Ana confirms her address on Telegram with a one-time code
        merged = people.resolve_requester(session=s, channel="telegram", external_id="777",
                                          email="ana@corp.example", email_verified=True)
        assert merged.id == ana.id
        assert t.requester_id == ana.id
        assert s.get(Requester, tg_id) is None
        assert [x.number for x in tickets.open_tickets_of(session=s, requester_id=ana.id)] == [t.number]


def test_thread_keeps_order_and_rejects_a_duplicate_key(uow) -> None:  # noqa: ANN001
    with uow() as s:
        who = people.resolve_requester(session=s, channel="email", external_id="bo@corp.example",
                                       email="bo@corp.example", email_verified=True)
        t = tickets.open_ticket(session=s, requester_id=who.id, subject="Outlook crashes", channel="email", actor="test")
        for i, (direction, kind) in enumerate([(Direction.INBOUND, AuthorKind.REQUESTER), (Direction.OUTBOUND, AuthorKind.BOT),
                                               (Direction.NOTE, AuthorKind.AGENT), (Direction.INBOUND, AuthorKind.REQUESTER)]):
            tickets.add_message(session=s, idempotency_key=f"email:<m{i}@corp.example>", ticket=t, direction=direction,
                                author_kind=kind, channel="email", text=f"message {i}", now=T0 + dt.timedelta(minutes=i))
        with pytest.raises(DuplicateKey, match="already stored"):
            tickets.add_message(session=s, idempotency_key="email:<m1@corp.example>", ticket=t, direction=Direction.INBOUND,
                                author_kind=AuthorKind.REQUESTER, channel="email", text="redelivered")
        assert [m.text for m in tickets.thread(session=s, ticket=t)] == [f"message {i}" for i in range(4)]
        # only an agent's outbound message is a first response; the bot's acknowledgement is not
        assert t.first_response_at is None
        tickets.add_message(session=s, idempotency_key="console:1", ticket=t, direction=Direction.OUTBOUND,
                            author_kind=AuthorKind.AGENT, channel="email", text="Looking into it", now=T0 + dt.timedelta(hours=1))
        assert t.first_response_at == T0 + dt.timedelta(hours=1)


def test_attachments_stored_once_by_hash_and_size_limited(uow) -> None:  # noqa: ANN001
    screenshot = NewAttachment("error.png", "image/png", b"\x89PNG" + b"x" * 1000)
    with uow() as s:
        who = people.resolve_requester(session=s, channel="email", external_id="cy@corp.example")
        t = tickets.open_ticket(session=s, requester_id=who.id, subject="error", channel="email", actor="test")
        for key in ("a", "b"):
            tickets.add_message(session=s, idempotency_key=key, ticket=t, direction=Direction.INBOUND,
                                author_kind=AuthorKind.REQUESTER, channel="email", text="see attached", attachments=[screenshot],
                                max_attachment_bytes=1024)
        with pytest.raises(AttachmentTooLarge, match="'huge.iso' is 2,048 bytes; the limit is 1,024"):
            tickets.add_message(session=s, idempotency_key="c", ticket=t, direction=Direction.INBOUND,
                                author_kind=AuthorKind.REQUESTER, channel="email", text="big",
                                attachments=[NewAttachment("huge.iso", "application/octet-stream", b"0" * 2048)],
                                max_attachment_bytes=1024)
        messages = tickets.thread(session=s, ticket=t)
        assert [m.idempotency_key for m in messages] == ["a", "b"]  # the refused message left nothing
        assert s.query(Blob).count() == 1
        stored = messages[1].attachments[0]
        assert (stored.filename, stored.size) == ("error.png", len(screenshot.content))
        assert tickets.attachment_content(session=s, attachment=stored) == screenshot.content
