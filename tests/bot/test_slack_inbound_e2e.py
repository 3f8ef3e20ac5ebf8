"""Slack end to end, what comes in: a file shared in a DM lands on the ticket (fetched from the fake Slack on
loopback with the bot token), one that cannot be fetched or is refused becomes a note and the person hears it;
markup never reaches a subject or an agent's view; a DM thread is answered in its thread. SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from loopback import wait_for
from slack_desk import slack_desk

from sqlalchemy import select

from desk import Direction, tickets
from desk.models import Message

BROKEN = "My laptop will not start at all, the screen stays black"
PHOTO = b"\xff\xd8\xff\xe0" + b"jpeg bytes " * 200


@pytest.fixture
def desk(uow, analyzer, fake_slack, desk_settings, serving):  # noqa: ANN001, ANN201
    with slack_desk(uow, analyzer, fake_slack, desk_settings, serving, max_attachment_bytes=100_000) as served:
        yield served


def _file(fake, name: str, mimetype: str, size: int) -> dict:  # noqa: ANN001
    return {"id": f"F{len(name)}{size}", "name": name, "title": name, "mimetype": mimetype, "filetype": name[-3:],
            "mode": "hosted", "is_external": False, "size": size, "url_private": fake.file_url(name),
            "url_private_download": fake.file_url(name), "permalink": f"https://corp.slack.com/files/U42/F/{name}"}


def _dm(desk, text: str, ts: str, **fields) -> None:  # noqa: ANN001, ANN003
    response = desk.event({"type": "message", "channel": "D42", "channel_type": "im", "user": "U42", "text": text,
                           "ts": ts, "team": "T1", **fields})
    assert response.status_code == 200, response.text


def test_a_file_in_a_dm_lands_on_the_ticket_and_one_not_fetched_or_refused_is_a_note_the_person_hears_of(
        desk, uow) -> None:  # noqa: ANN001
    desk.fake.files.update({"screen.jpg": PHOTO, "fix.exe": b"MZ\x90\x00" + b"\x00" * 100})
    _dm(desk, BROKEN, "1700001000.000100", subtype="file_share",
        files=[_file(desk.fake, "screen.jpg", "image/jpeg", len(PHOTO))])
    [opened] = desk.wait_posts("U42", 1)
    assert "could not keep" not in opened["text"]
    _dm(desk, "and these", "1700001001.000100", subtype="file_share",
        files=[_file(desk.fake, "gone.pdf", "application/pdf", 2048),  # Slack answers 404
               _file(desk.fake, "fix.exe", "application/octet-stream", 104),
               _file(desk.fake, "video.mov", "video/quicktime", 5_000_000)])  # over the limit: never fetched
    followed = desk.wait_posts("U42", 2)[1]["text"]
    assert "I could not keep your attachments: gone.pdf (" in followed and "fix.exe (" in followed
    assert "video.mov (it is larger than the 100,000-byte limit" in followed
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        thread = tickets.thread(session=s, ticket=ticket)
        kept = [(a.filename, a.size) for m in thread for a in m.attachments]
        notes = "\n".join(m.text for m in thread if m.direction is Direction.NOTE)
    assert kept == [("screen.jpg", len(PHOTO))]
    for name in ("gone.pdf", "fix.exe", "video.mov"):
        assert f"Attachment not kept: '{name}'" in notes
    assert sorted(name for name, _ in desk.fake.file_gets) == ["fix.exe", "gone.pdf", "screen.jpg"]


def test_markup_is_plain_text_in_the_subject_and_the_agents_view(desk, uow) -> None:  # noqa: ANN001
    desk.fake.channels["C9"] = "it-help"
    _dm(desk, f"{BROKEN} &lt;<!here|here>&gt; <@UBOB> &amp; <#C9>: <https://status.corp.example|status>",
        "1700002000.000100")
    desk.wait_posts("U42", 1)
    with uow() as s:
        stored = s.scalar(select(Message).where(Message.idempotency_key == "slack:D42:1700002000.000100"))
        shown = [stored.text] + [t.subject for t in tickets.list_tickets(session=s, statuses=None)]
    assert stored.text == f"{BROKEN} <here> @Bob Brown & #it-help: status (https://status.corp.example)"
    for text in shown + [p["text"] for p in desk.posts_to("CAGENTS")]:
        assert "<@" not in text and "&lt;" not in text and "&amp;" not in text and "<#" not in text


def test_a_message_in_a_dm_thread_is_answered_in_that_thread_a_top_level_one_at_top_level(desk) -> None:  # noqa: ANN001
    _dm(desk, "I forgot my password", "1700003000.000100")
    [top] = desk.wait_posts("U42", 1)
    assert top.get("thread_ts") is None
    _dm(desk, BROKEN, "1700003001.000100", thread_ts="1700003000.000100", parent_user_id="U42")
    [threaded] = wait_for(lambda: desk.posts_to("D42") or None, "the answer in the DM thread")
    assert threaded["thread_ts"] == "1700003000.000100"


def test_a_reply_in_the_thread_of_the_bots_ticket_message_follows_that_ticket_up_in_the_thread(desk, uow) -> None:  # noqa: ANN001
    _dm(desk, "Please give me access to SAP for the new finance project.", "1700004000.000100")
    [opened] = desk.wait_posts("U42", 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
    assert ticket.ref in opened["text"]
    _dm(desk, "My manager approved it this morning.", "1700004002.000100", thread_ts="1700004001.000100",
        parent_user_id="UBOT")  # under the bot's own message
    [threaded] = wait_for(lambda: desk.posts_to("D42") or None, "the answer in the DM thread")
    assert threaded["thread_ts"] == "1700004001.000100" and f"added that to ticket {ticket.ref}" in threaded["text"]
    with uow() as s:
        [same] = tickets.list_tickets(session=s)  # no second ticket
        inbound = [m.text for m in tickets.thread(session=s, ticket=same) if m.direction is Direction.INBOUND]
    assert inbound == ["Please give me access to SAP for the new finance project.",
                       "My manager approved it this morning."]
