"""The Slack channel alone: the real Bolt app behind the real FastAPI routes (httpx over ASGI), requests
signed for real, a fake Slack Web API on loopback for users.info / chat.postMessage / views.*.

The bot's inbox is stood in for by a recorder that, like the real one, refuses a key it has seen.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from bot.conversation import AgentAction, ArticleLink, Button, ConversationRef, InboundMessage, RateLimited, Reply, SendError
from channels.slack import SlackChannel
from slack_requests import SECRET, TOKEN, Inbox, event, signed

def dm(text: str, ts: str = "1700000000.000100") -> dict:
    return {"type": "message", "channel": "D42", "channel_type": "im", "user": "U42", "text": text, "ts": ts}


def interactive(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})


@pytest.fixture
def slack(fake_slack):  # noqa: ANN001, ANN201
    fake_slack.users["U42"] = ("Ana Silva", "ana@corp.example")
    fake_slack.users["UAMY"] = ("Amy Adams", "amy@corp.example")

    async def make(inbox: Inbox) -> tuple[SlackChannel, httpx.AsyncClient]:
        channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, api_url=fake_slack.url)
        await channel.start(inbox.accept)
        app = FastAPI()
        app.include_router(channel.router())
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deskbot.test")
        return channel, http

    return make, fake_slack


def test_a_signed_dm_is_stored_with_the_profile_email_and_a_retry_storm_stores_it_once(slack) -> None:  # noqa: ANN001
    make, fake = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        body = event(dm("I forgot my password"))
        first = await http.post("/slack/events", content=body, headers=signed(body))
        assert first.status_code == 200
        for retry in range(1, 5):  # Slack's retries: the same event_id and body, with retry headers
            again = await http.post("/slack/events", content=body, headers=signed(body, retry=retry))
            assert again.status_code == 200
        [message] = inbox.messages.values()
        assert message.key == "slack:D42:1700000000.000100"
        assert message.conversation == ConversationRef("slack", "U42", "")
        assert (message.sender.email, message.sender.email_verified, message.sender.display_name) == (
            "ana@corp.example", True, "Ana Silva")
        assert message.text == "I forgot my password" and not message.overheard
        assert len(fake.posted("users.info")) == 1  # cached

    asyncio.run(scenario())


def test_bad_signature_stale_timestamp_and_malformed_payloads_are_refused_and_store_nothing(slack) -> None:  # noqa: ANN001
    make, _ = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        body = event(dm("hello"))
        bad = await http.post("/slack/events", content=body, headers=signed(body, secret="not-the-secret"))
        assert bad.status_code == 401
        stale = await http.post("/slack/events", content=body, headers=signed(body, at=time.time() - 600))
        assert stale.status_code == 401
        unsigned = await http.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
        garbage = '{"type": "event_callback", "event": '
        assert (await http.post("/slack/events", content=garbage, headers=signed(garbage))).status_code == 400
        no_user = event({"type": "message", "channel": "D42", "channel_type": "im", "text": "hi", "ts": "1.2"})
        assert (await http.post("/slack/events", content=no_user, headers=signed(no_user))).status_code == 400
        not_slack = json.dumps({"hello": "world"})
        assert (await http.post("/slack/events", content=not_slack, headers=signed(not_slack))).status_code >= 400
        assert inbox.messages == {}

    asyncio.run(scenario())


def test_a_slow_users_info_never_delays_the_ack_past_slacks_3_seconds(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.delay["users.info"] = 5.0

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        body = event(dm("my screen flickers"))
        started = time.monotonic()
        assert (await http.post("/slack/events", content=body, headers=signed(body))).status_code == 200
        assert time.monotonic() - started < 3.0
        [message] = inbox.messages.values()  # stored without the profile; a later message links the email
        assert message.sender.external_id == "U42" and message.sender.email is None

    asyncio.run(scenario())


def test_the_request_url_check_slack_makes_at_install_is_answered(slack) -> None:  # noqa: ANN001
    make, _ = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        body = json.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"})
        response = await http.post("/slack/events", content=body, headers=signed(body))
        assert response.status_code == 200 and "c-123" in response.text and inbox.messages == {}

    asyncio.run(scenario())


def test_when_the_inbox_cannot_store_slack_gets_a_500_and_delivers_again(slack) -> None:  # noqa: ANN001
    make, _ = slack

    async def scenario() -> None:
        _, http = await make(Inbox(fail=True))
        body = event(dm("my vpn drops"))
        assert (await http.post("/slack/events", content=body, headers=signed(body))).status_code == 500

    asyncio.run(scenario())


def test_a_mention_arrives_twice_and_is_one_message_answered_in_its_thread(slack) -> None:  # noqa: ANN001
    make, _ = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        inner = {"channel": "CGEN", "user": "U42", "text": "<@UBOT> the printer on floor 2 jams", "ts": "1700000001.000100"}
        mention = event({"type": "app_mention", **inner}, "Ev2")
        message = event({"type": "message", "channel_type": "channel", **inner}, "Ev3")
        for body in (mention, message):
            assert (await http.post("/slack/events", content=body, headers=signed(body))).status_code == 200
        [stored] = inbox.messages.values()
        assert stored.conversation == ConversationRef("slack", "CGEN", "1700000001.000100")
        assert stored.text == "the printer on floor 2 jams" and not stored.overheard
        # A reply in that thread without a mention is overheard: the bot decides whether it knows the thread.
        reply = event({"type": "message", "channel_type": "channel", "channel": "CGEN", "user": "U42", "text": "still jams",
                       "ts": "1700000002.000100", "thread_ts": "1700000001.000100"}, "Ev4")
        assert (await http.post("/slack/events", content=reply, headers=signed(reply))).status_code == 200
        overheard = inbox.messages["slack:CGEN:1700000002.000100"]
        assert overheard.overheard and overheard.conversation.thread == "1700000001.000100"
        # A plain channel message (no thread, no mention) is nothing for the desk.
        chatter = event({"type": "message", "channel_type": "channel", "channel": "CGEN", "user": "U42", "text": "lunch?",
                         "ts": "1700000003.000100"}, "Ev5")
        assert (await http.post("/slack/events", content=chatter, headers=signed(chatter))).status_code == 200
        assert len(inbox.messages) == 2

    asyncio.run(scenario())


def test_clicks_command_shortcut_and_home(slack) -> None:  # noqa: ANN001
    make, fake = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        form = {"Content-Type": "application/x-www-form-urlencoded"}

        def click(value: str, channel: str, user: str = "U42", ts: str = "1700000005.000100") -> str:
            return interactive({
                "type": "block_actions", "user": {"id": user}, "trigger_id": "trig-1", "team": {"id": "T1"},
                "api_app_id": "A1", "container": {"type": "message", "message_ts": ts, "channel_id": channel},
                "channel": {"id": channel}, "message": {"ts": ts, "text": "..."},
                "actions": [{"type": "button", "action_id": f"deskbot:0:{value}", "block_id": "deskbot_actions",
                             "value": value, "text": {"type": "plain_text", "text": "Yes, solved"},
                             "action_ts": "1700000006.1"}]})

        yes = click("yes", "D42")
        for _ in range(2):  # a double click is one click
            response = await http.post("/slack/interactivity", content=yes, headers=signed(yes, **{"content_type": form["Content-Type"]}))
            assert response.status_code == 200
        [answer] = inbox.messages.values()
        assert answer.action == "yes" and answer.conversation == ConversationRef("slack", "U42", "")

        assign = click(AgentAction("assign", 1042).as_value(), "CAGENTS", user="UAMY")
        assert (await http.post("/slack/interactivity", content=assign,
                                headers=signed(assign, content_type=form["Content-Type"]))).status_code == 200
        agent_click = [m for m in inbox.messages.values() if m.agent is not None][0]
        assert agent_click.agent == AgentAction("assign", 1042) and agent_click.action is None
        assert agent_click.conversation == ConversationRef("slack", "CAGENTS", "1700000005.000100")
        assert agent_click.sender.email == "amy@corp.example"

        reply = click(AgentAction("reply", 1042).as_value(), "CAGENTS", user="UAMY")
        assert (await http.post("/slack/interactivity", content=reply,
                                headers=signed(reply, content_type=form["Content-Type"]))).status_code == 200
        [opened] = fake.posted("views.open")
        view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
        assert view["callback_id"] == "deskbot_reply" and len(inbox.messages) == 2  # the text comes with the form
        submission = interactive({
            "type": "view_submission", "user": {"id": "UAMY"}, "team": {"id": "T1"}, "api_app_id": "A1",
            "view": {"id": "V1", "type": "modal", "callback_id": "deskbot_reply", "private_metadata": view["private_metadata"],
                     "state": {"values": {"reply": {"text": {"type": "plain_text_input", "value": "Done, try now"}}}}}})
        assert (await http.post("/slack/interactivity", content=submission,
                                headers=signed(submission, content_type=form["Content-Type"]))).status_code == 200
        sent = inbox.messages["slack:view:V1"]
        assert sent.agent == AgentAction("reply", 1042) and sent.text == "Done, try now"
        assert sent.conversation == ConversationRef("slack", "CAGENTS", "1700000005.000100")

        command = urlencode({"command": "/it", "text": "my laptop will not start", "user_id": "U42", "channel_id": "CGEN",
                             "trigger_id": "trig-cmd", "team_id": "T1", "token": "x", "response_url": "http://127.0.0.1:9/x"})
        response = await http.post("/slack/commands", content=command, headers=signed(command, content_type=form["Content-Type"]))
        assert response.status_code == 200 and "direct messages" in response.text
        assert inbox.messages["slack:command:trig-cmd"].text == "my laptop will not start"
        assert inbox.messages["slack:command:trig-cmd"].new_request  # /it is an entry for new requests

        shortcut = interactive({"type": "message_action", "callback_id": "deskbot_create_ticket", "trigger_id": "trig-s",
                                "user": {"id": "U42"}, "team": {"id": "T1"}, "channel": {"id": "CGEN"},
                                "message": {"ts": "1700000009.000100", "text": "Outlook crashes when I open the calendar"},
                                "action_ts": "1700000010.1"})
        assert (await http.post("/slack/interactivity", content=shortcut,
                                headers=signed(shortcut, content_type=form["Content-Type"]))).status_code == 200
        ticket_request = inbox.messages["slack:shortcut:CGEN:1700000009.000100:U42"]
        assert ticket_request.action == "open_ticket" and ticket_request.conversation == ConversationRef("slack", "U42", "")
        assert ticket_request.new_request

        home = event({"type": "app_home_opened", "user": "U42", "channel": "D42", "tab": "home"}, "EvHome")
        assert (await http.post("/slack/events", content=home, headers=signed(home))).status_code == 200
        assert inbox.messages["slack:EvHome"].conversation == ConversationRef("slack", "U42", "home")

    asyncio.run(scenario())


def test_send_renders_block_kit_returns_the_ts_and_maps_429_and_errors(slack) -> None:  # noqa: ANN001
    make, fake = slack

    async def scenario() -> None:
        channel, _ = await make(Inbox())
        reply = Reply("Reset your password\n\n1. Go to the portal", buttons=(Button("Yes, solved", "yes"),
                                                                          Button("No, I need help", "no")),
                      articles=(ArticleLink("KB-0001", "Reset your password", "http://127.0.0.1:8080/kb/KB-0001"),),
                      mentions=("amy@corp.example",))
        ts = await channel.send(ConversationRef("slack", "C1", "1700000000.000100"), reply)
        [post] = fake.posted()
        assert ts and post["channel"] == "C1" and post["thread_ts"] == "1700000000.000100"
        assert post["text"].startswith("<@UAMY> Reset your password")
        kinds = [b["type"] for b in post["blocks"]]
        assert kinds == ["section", "context", "actions"]
        buttons = post["blocks"][-1]["elements"]
        assert [(b["text"]["text"], b["value"]) for b in buttons] == [("Yes, solved", "yes"), ("No, I need help", "no")]
        assert "<http://127.0.0.1:8080/kb/KB-0001|KB-0001 Reset your password>" in post["blocks"][1]["elements"][0]["text"]

        fake.rate_limit["chat.postMessage"] = 1
        with pytest.raises(RateLimited) as limited:
            await channel.send(ConversationRef("slack", "C1"), Reply("hi"))
        assert limited.value.retry_after == 7
        fake.users.clear()
        with pytest.raises(SendError):
            await channel.send(ConversationRef("email", "a@b.example"), Reply("hi"))
        await channel.send(ConversationRef("slack", "U42", "home"), Reply("You have no open IT tickets."))
        [published] = fake.posted("views.publish")
        assert published["user_id"] == "U42"

    asyncio.run(scenario())


def test_api_errors_become_send_errors(fake_slack) -> None:  # noqa: ANN001
    async def scenario() -> None:
        channel = SlackChannel(bot_token="xoxp-wrong-kind", signing_secret=SECRET, api_url=fake_slack.url)
        with pytest.raises(SendError, match="not_authed"):
            await channel.send(ConversationRef("slack", "C1"), Reply("hi"))
        dead = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, api_url="http://127.0.0.1:9/api/", timeout=2)
        with pytest.raises(SendError, match="unreachable"):
            await dead.send(ConversationRef("slack", "C1"), Reply("hi"))

    asyncio.run(scenario())


def test_socket_mode_receives_an_event_over_the_websocket_and_acks_it_after_storing(fake_slack) -> None:  # noqa: ANN001
    """Socket Mode against a WebSocket server on loopback that speaks Slack's envelope protocol."""
    from aiohttp import WSMsgType, web

    fake_slack.users["U42"] = ("Ana Silva", "ana@corp.example")

    async def scenario() -> None:
        acks: list[dict] = []
        acked = asyncio.Event()
        inbox = Inbox()

        async def link(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoping=True)
            await ws.prepare(request)
            await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                                "connection_info": {"app_id": "A1"}})
            await ws.send_json({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                                "retry_attempt": 0, "retry_reason": "",
                                "payload": json.loads(event(dm("my vpn drops every hour"), "EvSock"))})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    acks.append(json.loads(msg.data))
                    acked.set()
            return ws

        web_app = web.Application()
        web_app.router.add_get("/link", link)
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        fake_slack.socket_url = f"ws://127.0.0.1:{port}/link"
        channel = SlackChannel(bot_token=TOKEN, signing_secret=SECRET, api_url=fake_slack.url,
                               app_token="xapp-test", socket_mode=True)
        await channel.start(inbox.accept)
        try:
            await asyncio.wait_for(acked.wait(), 20)
        finally:
            await channel.stop()
            await runner.cleanup()
        assert acks[0]["envelope_id"] == "env-1"
        [message] = inbox.messages.values()  # stored before the ack went back
        assert message.text == "my vpn drops every hour" and message.sender.email == "ana@corp.example"

    asyncio.run(scenario())


# --- whose profile email Slack vouches for ------------------------------------------------------------

OUTSIDERS = {  # users.info fields of people whose profile email must not count, each with the CEO's address
    "UGUEST": {"is_restricted": True},
    "USINGLE": {"is_restricted": True, "is_ultra_restricted": True},
    "UEXT": {"is_stranger": True, "team_id": "TOTHER"},
    "UT2": {"team_id": "T2"},  # another workspace, no flag at all
    "UGRID": {"team_id": "T9", "enterprise_user": {"enterprise_id": "EOTHER", "teams": ["T9"]}},
    "UGONE": {"deleted": True},
    "UAPP": {"is_bot": True},
    "UNOTEAM": {"team_id": None},  # no word on the team: not vouched for either
}


def test_guests_slack_connect_users_bots_and_other_workspaces_get_no_verified_email(slack) -> None:  # noqa: ANN001
    make, fake = slack
    fake.users["UCEO"] = ("Carla Chief", "ceo@corp.example")
    for user, fields in OUTSIDERS.items():
        fake.users[user] = (f"Someone {user}", "ceo@corp.example")
        fake.user_fields[user] = fields

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        for n, user in enumerate(["UCEO", *OUTSIDERS]):
            inner = {**dm("what's the status of my tickets", ts=f"1700000100.{n:06d}"), "user": user}
            body = event(inner, f"Ev{user}")
            assert (await http.post("/slack/events", content=body, headers=signed(body))).status_code == 200
        senders = {m.sender.external_id: m.sender for m in inbox.messages.values()}
        assert (senders["UCEO"].email, senders["UCEO"].email_verified) == ("ceo@corp.example", True)
        for user in OUTSIDERS:
            assert (senders[user].email, senders[user].email_verified) == (None, False), user
            assert senders[user].display_name == f"Someone {user}"  # the name is still theirs to show
        assert len(fake.posted("auth.test")) == 1  # the workspace's id: asked once, by Bolt, for all requests

    asyncio.run(scenario())


def test_a_payload_naming_another_team_is_unverified_whatever_users_info_says(slack) -> None:  # noqa: ANN001
    """Slack Connect: the event's ``user_team`` (or an interactivity payload's ``user.team_id``) names the sender's
    organisation; a profile that looks like a member's does not outweigh it, and the cache is not poisoned."""
    make, _ = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        connect = event({**dm("status of my tickets?", ts="1700000200.000100"), "user_team": "TOTHER",
                         "source_team": "TOTHER"}, "EvConnect")
        team_field = event({"type": "app_mention", "channel": "CSHARED", "user": "U42", "team": "TOTHER",
                            "text": "<@UBOT> my tickets?", "ts": "1700000201.000100"}, "EvTeam")
        home = event(dm("and from home", ts="1700000202.000100"), "EvHome")
        click = interactive({
            "type": "block_actions", "user": {"id": "UAMY", "team_id": "TOTHER"}, "trigger_id": "trig-x",
            "team": {"id": "T1"}, "api_app_id": "A1",
            "container": {"type": "message", "message_ts": "1700000203.000100", "channel_id": "CAGENTS"},
            "channel": {"id": "CAGENTS"}, "message": {"ts": "1700000203.000100", "text": "..."},
            "actions": [{"type": "button", "action_id": "deskbot:0:agent:assign:1042", "block_id": "deskbot_actions",
                         "value": "agent:assign:1042", "text": {"type": "plain_text", "text": "Assign to me"},
                         "action_ts": "1700000204.1"}]})
        for body in (connect, team_field, home):
            assert (await http.post("/slack/events", content=body, headers=signed(body))).status_code == 200
        assert (await http.post("/slack/interactivity", content=click,
                                headers=signed(click, content_type="application/x-www-form-urlencoded"))).status_code == 200
        by_key = {k: m.sender for k, m in inbox.messages.items()}
        assert by_key["slack:D42:1700000200.000100"].email is None
        assert by_key["slack:CSHARED:1700000201.000100"].email is None
        assert by_key["slack:D42:1700000202.000100"].email_verified  # the same user from their own workspace
        agent_click = by_key["slack:action:CAGENTS:1700000203.000100:agent:assign:1042:UAMY"]
        assert (agent_click.email, agent_click.email_verified) == (None, False)

    asyncio.run(scenario())


def test_enterprise_grid_members_of_the_same_organisation_are_vouched_for() -> None:
    from channels.slack._users import Workspace, outsider_reason

    grid = Workspace("T1", "EACME")
    assert outsider_reason({"team_id": "T7", "enterprise_user": {"enterprise_id": "EACME"}}, home=grid) is None
    assert outsider_reason({"team_id": "EACME"}, home=grid) is None
    assert outsider_reason({"team_id": "T1", "enterprise_user": {"enterprise_id": "EEVIL"}}, home=grid)
    assert outsider_reason({"team_id": "T7", "enterprise_user": {"enterprise_id": "EACME"}, "is_restricted": True},
                           home=grid) == "a guest"
    assert outsider_reason({"team_id": "T1"}, home=Workspace(None)) is not None  # auth.test unknown: nobody


# --- what is stored, and where private answers go ----------------------------------------------------

LEGACY = "legacy-verification-token-0123456789"


def test_stored_payloads_hold_no_legacy_verification_token_and_name_the_senders_dm(slack) -> None:  # noqa: ANN001
    make, _ = slack

    async def scenario() -> None:
        inbox = Inbox()
        _, http = await make(inbox)
        form = "application/x-www-form-urlencoded"
        mention = json.dumps({"token": LEGACY, "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                              "event_id": "EvTok", "event_time": int(time.time()),
                              "event": {"type": "app_mention", "channel": "CGEN", "user": "U42",
                                        "text": "<@UBOT> what's the status of my tickets", "ts": "1700000300.000100"}})
        command = urlencode({"token": LEGACY, "command": "/it", "text": "my laptop will not start", "user_id": "U42",
                             "channel_id": "CGEN", "trigger_id": "trig-tok", "team_id": "T1",
                             "response_url": "http://127.0.0.1:9/x"})
        click = interactive({
            "type": "block_actions", "token": LEGACY, "user": {"id": "U42"}, "trigger_id": "trig-y",
            "team": {"id": "T1"}, "api_app_id": "A1",
            "container": {"type": "message", "message_ts": "1700000301.000100", "channel_id": "D42"},
            "channel": {"id": "D42"}, "message": {"ts": "1700000301.000100", "text": "..."},
            "actions": [{"type": "button", "action_id": "deskbot:0:yes", "block_id": "deskbot_actions", "value": "yes",
                         "text": {"type": "plain_text", "text": "Yes"}, "action_ts": "1700000302.1"}]})
        assert (await http.post("/slack/events", content=mention, headers=signed(mention))).status_code == 200
        assert (await http.post("/slack/commands", content=command, headers=signed(command, content_type=form))
                ).status_code == 200
        assert (await http.post("/slack/interactivity", content=click, headers=signed(click, content_type=form))
                ).status_code == 200
        assert len(inbox.messages) == 3
        for message in inbox.messages.values():
            stored = message.to_json()
            assert LEGACY not in stored and '"token"' not in message.raw
            assert message.private_ref == ConversationRef("slack", "U42", "")
            assert InboundMessage.from_json(stored) == message
        asked = inbox.messages["slack:CGEN:1700000300.000100"]
        assert json.loads(asked.raw)["event"]["ts"] == "1700000300.000100"  # the rest of the payload is kept
        assert asked.conversation == ConversationRef("slack", "CGEN", "1700000300.000100")

    asyncio.run(scenario())


def test_an_inbox_payload_from_before_private_refs_still_reads() -> None:
    old = json.dumps({"key": "slack:D42:1.1", "conversation": {"channel": "slack", "address": "U42", "thread": ""},
                      "sender": {"channel": "slack", "external_id": "U42"}, "text": "hi",
                      "received_at": "2024-05-01T10:00:00+00:00"})
    assert InboundMessage.from_json(old).private_ref is None
