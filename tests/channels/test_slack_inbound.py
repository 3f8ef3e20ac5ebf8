"""What the Slack channel makes of real-shaped message events: markup resolved to plain text, shared files
fetched from the fake Slack on loopback (or handed over empty with their size when they cannot be), and DM
threads kept on the conversation. Requests signed for real, through the real Bolt app and FastAPI routes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from bot.conversation import ConversationRef, Reply
from channels.slack import SlackChannel
from slack_requests import SECRET, TOKEN, Inbox, event, signed

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _file(fake, name: str, *, size: int | None = None, mimetype: str = "image/png", **fields) -> dict:  # noqa: ANN001
    """A file object as Slack puts it in ``files[]`` of a message event."""
    content = fake.files.get(name, b"")
    return {"id": f"F{abs(hash(name)) % 10**8:08d}", "created": 1700000000, "timestamp": 1700000000, "name": name,
            "title": name, "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1], "pretty_type": "PNG",
            "user": "U42", "mode": "hosted", "editable": False, "is_external": False, "external_type": "",
            "size": len(content) if size is None else size, "url_private": fake.file_url(name).replace("/download", ""),
            "url_private_download": fake.file_url(name),
            "permalink": f"https://corp.slack.com/files/U42/F1/{name}", **fields}


def _dm(text: str, *, ts: str = "1700000000.000100", **fields) -> dict:  # noqa: ANN003
    return {"type": "message", "channel": "D42", "channel_type": "im", "user": "U42", "text": text, "ts": ts,
            "client_msg_id": f"c-{ts}", "team": "T1", **fields}


@pytest.fixture
def slack(fake_slack):  # noqa: ANN001, ANN201
    fake_slack.users.update({"U42": ("Ana Silva", "ana@corp.example"), "W222": ("Wes Grid", "wes@corp.example"),
                             "U99": ("Bob Brown", "bob@corp.example")})
    fake_slack.channels["C777"] = "vpn-outages"

    async def make(inbox: Inbox, **options) -> httpx.AsyncClient:  # noqa: ANN003
        channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, api_url=fake_slack.url, **options)
        await channel.start(inbox.accept)
        app = FastAPI()
        app.include_router(channel.router())
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deskbot.test")

    return make, fake_slack


async def _post(http: httpx.AsyncClient, inner: dict, event_id: str = "Ev1") -> None:
    body = event(inner, event_id)
    response = await http.post("/slack/events", content=body, headers=signed(body))
    assert response.status_code == 200, response.text


def test_markup_is_resolved_on_the_way_in_people_channels_links_specials_and_escapes(slack) -> None:  # noqa: ANN001
    make, fake = slack
    text = ("<!here> <@W222> and <@U99> can't open &lt;VPN&gt; &amp; see <#C123|it-help> / <#C777>: "
            "<https://vpn.corp.example/status|status page>, <https://wiki.corp.example/vpn>, "
            "<mailto:bob@corp.example|bob@corp.example>, <!subteam^S0614TZR7|@it-team>, <!channel> <!everyone> "
            "&amp;lt;not markup&amp;gt;")

    async def scenario() -> None:
        inbox = Inbox()
        http = await make(inbox)
        await _post(http, _dm(text))
        [message] = inbox.messages.values()
        assert message.text == (
            "@here @Wes Grid and @Bob Brown can't open <VPN> & see #it-help / #vpn-outages: "
            "status page (https://vpn.corp.example/status), https://wiki.corp.example/vpn, "
            "bob@corp.example, @it-team, @channel @everyone &lt;not markup&gt;")
        await _post(http, _dm("and <@W222> again", ts="1700000000.000200"), "Ev2")
        # Each person and channel asked once: the caches hold them.
        assert [c["user"] for c in fake.posted("users.info")].count("W222") == 1
        assert [c["channel"] for c in fake.posted("conversations.info")] == ["C777"]

    asyncio.run(scenario())


def test_a_mention_loses_the_bots_own_mention_and_keeps_the_others_by_name(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.channels.clear()  # conversations.info answers channel_not_found: the id stays, nothing fails

    async def scenario() -> None:
        inbox = Inbox()
        http = await make(inbox)
        await _post(http, {"type": "app_mention", "channel": "CGEN", "user": "U42", "ts": "1700000001.000100",
                           "text": "<@UBOT> printer on 3rd floor jams, cc <@U99> <@UGONE> in <#C777>", "team": "T1"})
        [message] = inbox.messages.values()
        assert message.text == "printer on 3rd floor jams, cc @Bob Brown @UGONE in #C777"

    asyncio.run(scenario())


def test_a_file_shared_in_a_dm_is_fetched_with_the_bot_token_and_handed_over(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.files["screenshot.png"] = PNG

    async def scenario() -> None:
        inbox = Inbox()
        http = await make(inbox)
        await _post(http, _dm("the error I get", subtype="file_share", files=[_file(fake, "screenshot.png")],
                              upload=False, display_as_bot=False))
        [message] = inbox.messages.values()
        [attachment] = message.attachments
        assert (attachment.filename, attachment.content_type, attachment.content) == ("screenshot.png", "image/png",
                                                                                      PNG)
        assert message.text == "the error I get"
        assert fake.file_gets == [("screenshot.png", f"Bearer {TOKEN}")]
        assert TOKEN not in message.raw

    asyncio.run(scenario())


def test_files_that_cannot_be_fetched_go_over_empty_with_their_size_and_external_ones_as_links(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.files["small.txt"] = b"log line\n"

    async def scenario() -> None:
        inbox = Inbox()
        http = await make(inbox, max_file_bytes=1000)
        files = [
            _file(fake, "small.txt", mimetype="text/plain"),
            _file(fake, "gone.pdf", size=500, mimetype="application/pdf"),  # 404 at Slack
            _file(fake, "huge.mov", size=50_000_000, mimetype="video/quicktime"),  # over the limit: never fetched
            _file(fake, "deleted.png", size=10, mode="tombstone"),
            _file(fake, "elsewhere.png", size=10, url_private_download="https://attacker.example/x.png"),
            {"id": "F9", "name": "Budget.xlsx", "mode": "external", "is_external": True, "external_type": "gdrive",
             "url_private": "https://docs.google.com/spreadsheets/d/abc", "permalink": "https://docs.google.com/x"},
        ]
        await _post(http, _dm("", subtype="file_share", files=files))
        [message] = inbox.messages.values()
        got = {a.filename: (a.content, a.size) for a in message.attachments}
        assert got == {"small.txt": (b"log line\n", None), "gone.pdf": (b"", 500), "huge.mov": (b"", 50_000_000),
                       "deleted.png": (b"", 10), "elsewhere.png": (b"", 10)}
        assert message.text == "Budget.xlsx: https://docs.google.com/x"
        # Only Slack's own file URLs were asked, and never for the file over the limit.
        assert sorted(name for name, _ in fake.file_gets) == ["gone.pdf", "small.txt"]

    asyncio.run(scenario())


def test_slow_files_are_given_up_at_the_deadline_so_the_ack_stays_within_3_seconds(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.files["slow.png"] = PNG
    fake.file_delay = 5.0

    async def scenario() -> None:
        inbox = Inbox()
        http = await make(inbox, file_deadline=1.0)
        started = time.monotonic()
        await _post(http, _dm("see attached", files=[_file(fake, "slow.png")]))
        assert time.monotonic() - started < 3.0
        [message] = inbox.messages.values()
        assert [(a.filename, a.content, a.size) for a in message.attachments] == [("slow.png", b"", len(PNG))]

    asyncio.run(scenario())


def test_a_dm_thread_is_the_dm_conversation_answered_in_the_thread_a_top_level_dm_stays_top_level(slack) -> None:  # noqa: ANN001
    _, fake = slack

    async def scenario() -> None:
        inbox = Inbox()
        channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, api_url=fake.url)
        await channel.start(inbox.accept)
        app = FastAPI()
        app.include_router(channel.router())
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deskbot.test")
        await _post(http, _dm("my laptop is slow"), "Ev1")
        await _post(http, _dm("it is slow since the update", ts="1700000000.000300", thread_ts="1700000000.000100",
                              parent_user_id="U42"), "Ev2")
        top, threaded = inbox.messages.values()
        # One conversation with the person (a reply under the bot's ticket message follows that ticket up) ...
        assert top.conversation == threaded.conversation == ConversationRef("slack", "U42", "")
        assert top.reply_ref is None  # ... a top-level message is answered at top level, a threaded one in its thread
        assert threaded.reply_ref == ConversationRef("slack", "D42", "1700000000.000100")
        await channel.send(top.conversation, Reply("top-level answer"))
        await channel.send(threaded.reply_ref, Reply("answer in the thread"))
        first, second = fake.posted()
        assert (first["channel"], first.get("thread_ts")) == ("U42", None)
        assert (second["channel"], second["thread_ts"]) == ("D42", "1700000000.000100")

    asyncio.run(scenario())
