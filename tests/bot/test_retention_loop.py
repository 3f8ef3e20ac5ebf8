"""The housekeeping loop of 'deskbot serve' and 'deskbot worker' purges expired inbox payloads on its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from sqlalchemy import select

from bot.conversation import ConversationRef, Identity, InboundMessage
from bot.composition import Deskbot
from bot.runtime import Loops
from desk import QueueStatus, queue
from desk.models import InboxRow


def test_the_housekeeping_loop_purges_payloads_past_the_retention_period(uow, analyzer, desk_settings) -> None:  # noqa: ANN001
    now = dt.datetime.now(dt.UTC)
    for key, days in (("old", 91), ("recent", 30)):
        message = InboundMessage(key=key, conversation=ConversationRef("email", "ana@corp.example", key),
                                 sender=Identity("email", "ana@corp.example", "Ana", "ana@corp.example"),
                                 text="VPN drops", subject="VPN", received_at=now, raw=f"the raw mail {key}")
        with uow() as s:
            queue.accept_inbound(session=s, key=key, channel="email", payload=message.to_json(), now=now)
            row = s.scalar(select(InboxRow).where(InboxRow.key == key))
            row.status, row.done_at = QueueStatus.DONE, now - dt.timedelta(days=days)
    deskbot = Deskbot(desk_settings(inbox_retention_days=90), analyzer=analyzer)

    def purged() -> dict[str, bool]:
        with uow() as s:
            return {r.key: r.purged_at is not None for r in s.scalars(select(InboxRow))}

    async def scenario() -> None:
        loops = Loops(pipeline=deskbot.pipeline, housekeeping_every=0.05)
        await loops.start()
        try:
            deadline = time.monotonic() + 60
            while not purged()["old"] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await loops.stop()

    try:
        asyncio.run(scenario())
    finally:
        deskbot.close()
    assert purged() == {"old": True, "recent": False}
    with uow() as s:
        assert "the raw mail" not in s.scalar(select(InboxRow.payload).where(InboxRow.key == "old"))
