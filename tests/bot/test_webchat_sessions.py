"""Web chat sessions kept in the desk, as ``deskbot serve`` wires them: two service instances on one database
share a session (a reply queued by one reaches a stream open on the other), and files uploaded in the chat
reach the ticket through the same screening as a mail's attachments. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import time
import zipfile
from collections.abc import Iterator
from io import BytesIO

import httpx
import pytest
from sqlalchemy import func, select
from webchat_browser import Browser, CodeLog

from bot.composition import Deskbot
from bot.conversation import ConversationRef, Reply
from desk import tickets
from desk.access_models import ChatSession
from desk.models import Attachment, InboxRow, Message

LIMITS = {f"webchat_{name}": 100 for name in (
    "sessions_per_ip_per_hour", "sessions_per_hour", "codes_per_ip_per_hour", "codes_per_hour",
    "failed_codes_per_ip_per_hour")} | {f"verification_{name}": 100 for name in (
    "codes_per_address_per_hour", "codes_per_identity_per_hour", "failed_codes_per_address_per_hour",
    "failed_codes_per_identity_per_hour")}
MAX_FILE = 50_000  # the attachment limit of these tests
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def codes() -> Iterator[list[tuple[str, str]]]:
    log, logger = CodeLog(), logging.getLogger("deskbot.verification")
    logger.addHandler(log)
    yield log.codes
    logger.removeHandler(log)


@pytest.fixture
def desk(desk_settings, analyzer):  # noqa: ANN001, ANN201
    settings = desk_settings(email_enabled=False, webchat_allowed_domains=["corp.example"],
                             max_attachment_bytes=MAX_FILE, **LIMITS)
    return lambda: Deskbot(settings, analyzer=analyzer)


def test_two_instances_on_one_database_share_a_session(serving, desk, codes, uow) -> None:  # noqa: ANN001
    with serving(desk()) as first, serving(desk()) as second:
        ana = Browser(first.url, codes, "ana@corp.example")  # signed in on the first
        elsewhere = httpx.Client(base_url=second.url, timeout=30, cookies=ana.http.cookies)
        assert elsewhere.get("/chat/api/session").json() == {"verified": True, "email": "ana@corp.example"}
        [opened] = ana.say("Could I get access to the Marketing shared drive please?")
        assert opened["ticket_ref"]
        # Asked on the second instance, answered on a stream of the first, whichever worker and dispatcher took it.
        body = {"id": "on-the-second", "text": "any news on my tickets?"}
        assert elsewhere.post("/chat/api/messages", json=body).status_code == 202
        [news] = ana.replies(1)
        assert opened["ticket_ref"] in news["text"]
        # A reply the first instance's channel sends reaches a stream open on the second.
        with uow() as s:
            address = s.scalar(select(ChatSession.address).where(ChatSession.email == "ana@corp.example"))
        started = time.monotonic()
        asyncio.run(first.service.adapters["webchat"].send(ConversationRef("webchat", address), Reply("from the first")))
        [pushed] = ana.replies(1, http=elsewhere)
        assert pushed["text"] == "from the first" and time.monotonic() - started < 5
        elsewhere.close()


def _attachments(uow, ref: str) -> list[str]:  # noqa: ANN001
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=int(ref.lstrip("#")))
        return sorted(s.scalars(select(Attachment.filename).join(Message).where(Message.ticket_id == ticket.id)))


def test_a_file_is_attached_and_refused_ones_are_said_so(serving, desk, codes, uow) -> None:  # noqa: ANN001
    with serving(desk()) as running:
        bo = Browser(running.url, codes, "bo@corp.example")
        [opened] = bo.say("Could I get access to the Marketing shared drive please?")
        ref = opened["ticket_ref"]

        sent = bo.upload("screenshot.png", PNG, "image/png")
        assert sent.status_code == 202 and sent.json() == {"accepted": True, "duplicate": False,
                                                           "file": "screenshot.png"}
        [kept] = bo.replies(1)
        assert "could not keep" not in kept["text"]
        assert _attachments(uow, ref) == ["screenshot.png"]

        archive = BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("invoice.pdf.exe", b"MZ" + bytes(100))
        for name, content, kind in (("setup.exe", b"MZ" + bytes(100), "application/octet-stream"),
                                    ("invoice.zip", archive.getvalue(), "application/zip")):
            assert bo.upload(name, content, kind).status_code == 202
            [refused] = bo.replies(1)
            assert f"I could not keep your attachment: {name} (" in refused["text"], refused["text"]
            assert "added" not in refused["text"], refused["text"]
        assert _attachments(uow, ref) == ["screenshot.png"]

        with uow() as s:
            stored = s.scalar(select(func.count()).select_from(InboxRow))
        too_big = bo.upload("scan.pdf", bytes(MAX_FILE + 1), "application/pdf")  # past the attachment limit
        assert too_big.status_code == 413
        assert too_big.json()["error"] == f"the file is too large: at most 48 KB ({MAX_FILE:,} bytes)"
        far_too_big = bo.upload("video.mp4", bytes(1024 * 1024), "video/mp4")  # past the upload's HTTP limit
        assert far_too_big.status_code == 413 and "the request is too large" in far_too_big.json()["error"]
        with uow() as s:
            assert s.scalar(select(func.count()).select_from(InboxRow)) == stored  # neither reached the inbox
