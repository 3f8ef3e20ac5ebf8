"""Slack end to end: signed Events API and interactivity requests -> the real Bolt app mounted in a FastAPI
app on a real uvicorn server -> the service as ``deskbot serve`` builds and runs it (workers, one dispatcher
per channel) -> the desk; replies go to a fake Slack Web API on loopback, mail to an SMTP sink.

SQLite and PostgreSQL, the plumbing NLP.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from bot.policy import labels
from desk import Direction, ResolutionCode, Status, people, tickets
from desk.domain import QueueStatus
from desk.models import AgentThread, Identity, InboxRow, Message, OutboxRow
from loopback import free_port, wait_for
from slack_desk import AGENTS, LEGACY, SECRET, TOKEN, SlackDesk, buttons_of, menus_of, slack_desk


@pytest.fixture
def desk(uow, analyzer, fake_slack, desk_settings, serving):  # noqa: ANN001, ANN201
    with slack_desk(uow, analyzer, fake_slack, desk_settings, serving) as served:
        yield served


def test_a_dm_gets_a_block_kit_answer_and_yes_closes_the_request(desk, uow) -> None:  # noqa: ANN001
    started = time.monotonic()
    desk.dm("I forgot my password and can't log in")
    assert time.monotonic() - started < 3.0  # acked once stored; the answer comes from the worker
    [answer] = desk.wait_posts("U42", 1)
    assert "KB-0001" in json.dumps(answer["blocks"]) and "Did this solve it?" in answer["text"]
    buttons = buttons_of(answer)
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [("Yes, solved", "yes"), ("No", "no")]

    response = desk.click("yes", channel="D42", message_ts="1700000000.000200", user="U42")
    assert response.status_code == 200
    closing = desk.wait_posts("U42", 2)[1]
    assert "glad" in closing["text"]
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s, statuses=None)
        assert (ticket.status, ticket.resolution_code) == (Status.RESOLVED, ResolutionCode.SELF_SERVICE)
        assert ticket.requester.email == "ana@corp.example"
    assert not desk.posts_to(AGENTS)  # solved by the article: nothing for the agents


def test_no_opens_a_ticket_posted_to_the_agents_channel_assign_to_me_and_sla_in_its_thread(desk, uow) -> None:  # noqa: ANN001
    desk.dm("I forgot my password")
    desk.wait_posts("U42", 1)
    assert desk.click("no", channel="D42", message_ts="1700000000.000200", user="U42").status_code == 200
    [post] = desk.wait_posts(AGENTS, 1)
    handed = desk.wait_posts("U42", 2)[1]
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number, ref = ticket.number, ticket.ref
    assert ref in handed["text"]
    text = post["text"]
    assert f"New ticket {ref}" in text and "Service Desk" in text and ticket.priority.value in text
    assert "SLA: resolution by" in text and "Analysis: intent password_reset" in text
    assert "Tried by the requester without success: KB-0001" in text and "Suggested articles: KB-" in text
    labels = [b["text"]["text"] for b in buttons_of(post)]
    assert labels[0] == "Assign to me" and labels[1].startswith("Send KB-") and "KB-0001" not in labels[1]
    assert labels[2:] == ["Reply to requester", "Open in console"]
    # The settings' public URL (the default here) and the console's ticket page.
    assert buttons_of(post)[3]["url"] == f"http://127.0.0.1:8080/console/tickets/{number}"
    post_ts = wait_for(lambda: _agent_thread(uow, number), "the agent thread's ts")

    # Someone who is not an agent cannot take it; Amy can.
    desk.click(f"agent:assign:{number}", channel=AGENTS, message_ts=post_ts, user="UEVE")
    refused = desk.wait_posts(AGENTS, 2)[1]
    assert refused["thread_ts"] == post_ts and "Only desk agents" in refused["text"]
    with uow() as s:
        assert tickets.get_ticket(session=s, number=number).assignee.username == "amy"  # routing gave it to her
    desk.click(f"agent:assign:{number}", channel=AGENTS, message_ts=post_ts, user="UAMY")
    done = desk.wait_posts(AGENTS, 3)[2]
    assert done["thread_ts"] == post_ts and "assigned to Amy Adams" in done["text"]
    with uow() as s:
        assert tickets.get_ticket(session=s, number=number).assignee.username == "amy"

    # An SLA breach goes into the ticket's thread and mentions the assignee.
    with uow() as s:  # the clock runs out: its resolution target lies in the past
        t = tickets.get_ticket(session=s, number=number)
        t.resolution_warn_at = t.resolution_due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert desk.pipeline.scan_sla() >= 1
    sla_posts = wait_for(lambda: [p for p in desk.posts_to(AGENTS) if "SLA" in p["text"] and "breached" in p["text"]],
                         "an SLA post")
    assert all(p["thread_ts"] == post_ts for p in sla_posts)  # type: ignore[union-attr]
    assert sla_posts[0]["text"].startswith("<@UAMY>")  # type: ignore[index]


def _agent_thread(uow, number: int) -> str | None:  # noqa: ANN001
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        return s.scalar(select(AgentThread.thread).where(AgentThread.ticket_id == ticket.id)) or None


def test_a_retry_storm_makes_one_ticket_and_one_reply(desk, uow) -> None:  # noqa: ANN001
    inner = {"type": "message", "channel": "D42", "channel_type": "im", "user": "U42",
             "text": "My laptop will not start at all, the screen stays black", "ts": "1700000100.000100"}
    results: list[int] = []

    def deliver(retry: int | None) -> None:
        results.append(desk.event(inner, event_id="EvStorm", retry=retry).status_code)

    first = threading.Thread(target=deliver, args=(None,))
    first.start()
    storm = [threading.Thread(target=deliver, args=(n,)) for n in range(1, 5)]
    for t in storm:
        t.start()
    for t in (first, *storm):
        t.join()
    assert results == [200] * 5
    desk.wait_posts("U42", 1)
    time.sleep(1.5)  # time for a second reply, were there one
    assert len(desk.posts_to("U42")) == 1
    with uow() as s:
        assert len(tickets.list_tickets(session=s, statuses=None)) == 1
        from sqlalchemy import func, select

        assert s.scalar(select(func.count()).select_from(InboxRow)) == 1


def test_an_agents_reply_reaches_an_email_requester_and_an_internal_note_does_not(desk, uow) -> None:  # noqa: ANN001
    desk.mail("SAP access", "Please give me access to SAP for the new finance project.", message_id="<sap1@corp.example>",
              sender="Bob Brown <bob@corp.example>")
    wait_for(lambda: desk.sink.mails, "the acknowledgement mail")
    [post] = desk.wait_posts(AGENTS, 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number = ticket.number
    post_ts = wait_for(lambda: _agent_thread(uow, number), "the agent thread's ts")
    mails_before = len(desk.sink.mails)

    def thread_message(text: str, ts: str, user: str = "UAMY") -> None:
        response = desk.event({"type": "message", "channel": AGENTS, "channel_type": "channel", "user": user,
                               "text": text, "ts": ts, "thread_ts": post_ts})
        assert response.status_code == 200

    thread_message("checked with the SAP team: the licence is approved", "1700000200.000100")
    thread_message("!reply Access granted: sign out and in again, SAP will be on your start page.", "1700000201.000100")
    mail = wait_for(lambda: desk.sink.mails[mails_before:], "the agent's reply by mail")[0]  # type: ignore[index]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert mail["To"] == "bob@corp.example" and mail["In-Reply-To"] == "<sap1@corp.example>"
    assert f"[#{number}]" in mail["Subject"] and "Amy Adams (IT service desk): Access granted" in body
    assert "licence" not in body
    confirmation = wait_for(lambda: [p for p in desk.posts_to(AGENTS) if "Sent to the requester" in p["text"]],
                            "the confirmation in the thread")
    assert confirmation[0]["thread_ts"] == post_ts  # type: ignore[index]

    # The reply form ("Reply to requester" button -> modal -> submission) goes the same way.
    submission = {"type": "view_submission", "user": {"id": "UAMY"}, "team": {"id": "T1"}, "api_app_id": "A1",
                  "view": {"id": "VREPLY1", "type": "modal", "callback_id": "deskbot_reply",
                           "private_metadata": json.dumps({"ticket": number, "channel": AGENTS, "thread": post_ts}),
                           "state": {"values": {"reply": {"text": {"type": "plain_text_input",
                                                                   "value": "Did it work for you?"}}}}}}
    assert desk.post("/slack/interactivity", urlencode({"payload": json.dumps(submission)}),
                     content_type="application/x-www-form-urlencoded").status_code == 200
    second = wait_for(lambda: desk.sink.mails[mails_before + 1:], "the form's reply by mail")[0]  # type: ignore[index]
    assert "Did it work for you?" in second.get_body(preferencelist=("plain",)).get_content()
    time.sleep(1.0)
    assert len(desk.sink.mails) == mails_before + 2  # the internal note never left
    with uow() as s:
        t = tickets.get_ticket(session=s, number=number)
        thread = tickets.thread(session=s, ticket=t)
        notes = [m for m in thread if m.direction is Direction.NOTE and "licence" in m.text]
        public = [m for m in thread if m.direction is Direction.OUTBOUND and m.author_user_id is not None]
        assert len(notes) == 1 and notes[0].author_user_id is not None
        assert len(public) == 2 and t.first_response_at is not None
        # Bob writing in Slack is the same requester as Bob by mail: he sees his ticket.
    desk.dm("any news on my tickets?", user="UBOB")
    news = desk.wait_posts("UBOB", 1)[0]
    assert f"#{number}" in news["text"]


def test_bad_signature_stale_timestamp_and_malformed_payloads_store_nothing(desk, uow) -> None:  # noqa: ANN001
    body = json.dumps({"type": "event_callback", "event_id": "EvBad", "event": {
        "type": "message", "channel": "D42", "channel_type": "im", "user": "U42", "text": "hi", "ts": "1.1"}})
    assert desk.post("/slack/events", body, secret="wrong").status_code == 401
    assert desk.post("/slack/events", body, at=time.time() - 600).status_code == 401
    assert desk.post("/slack/events", '{"type": "event_callback", "event": ').status_code == 400
    no_user = json.dumps({"type": "event_callback", "event_id": "EvNoUser", "event": {
        "type": "message", "channel": "D42", "channel_type": "im", "text": "hi", "ts": "1.2"}})
    assert desk.post("/slack/events", no_user).status_code == 400
    time.sleep(0.5)
    with uow() as s:
        from sqlalchemy import func, select

        for model in (InboxRow, OutboxRow, Message):
            assert s.scalar(select(func.count()).select_from(model)) == 0
    assert not desk.fake.posted()


def test_deskbot_serve_runs_slack_from_its_settings(plumbing_nlp, fake_slack, tmp_path) -> None:  # noqa: ANN001
    """The real ``deskbot serve`` process with Slack configured by environment: health says on, a signed DM
    is answered through the fake Web API, and a new ticket is posted to the group's channel."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    from pathlib import Path

    deskbot = str(Path(sys.executable).with_name("deskbot"))
    shutil.copytree(plumbing_nlp.registry.root, tmp_path / "var" / "models")
    shutil.copytree(plumbing_nlp.kb_dir, tmp_path / "var" / "kb_index")
    fake_slack.users["U42"] = ("Ana Silva", "ana@corp.example")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(DESKBOT_HTTP_PORT=str(port), DESKBOT_KB_DIR=str(plumbing_nlp.kb_articles), DESKBOT_NLP_BACKEND="hashing",
               COLUMNS="200", DESKBOT_EMAIL_ENABLED="false", DESKBOT_SLACK_BOT_TOKEN=TOKEN,
               DESKBOT_SLACK_SIGNING_SECRET=SECRET, DESKBOT_SLACK_API_URL=fake_slack.url)
    for args in (["db", "upgrade"], ["group", "notify", "Workplace", "--slack-channel", AGENTS]):
        subprocess.run([deskbot, *args], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([deskbot, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        desk = SlackDesk(f"http://127.0.0.1:{port}", fake_slack, None, None, None)  # type: ignore[arg-type]
        health = wait_for(lambda: _health(desk.http), "the server", 90)
        assert health["channels"]["Slack"]["on"] is True  # type: ignore[index]
        desk.dm("My laptop will not start at all, the screen stays black")
        [reply] = desk.wait_posts("U42", 1)
        assert "#1000" in reply["text"]
        [post] = desk.wait_posts(AGENTS, 1)
        assert "New ticket #1000" in post["text"] and "Workplace" in post["text"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        reader.join(5)
    assert server.returncode == 0, "".join(log)[-2000:]
    assert "Slack: on, events at" in "".join(log)


def _health(http: httpx.Client) -> dict | None:
    try:
        return http.get("/health").json()
    except httpx.TransportError:
        return None


# --- identities Slack does not vouch for, and answers that are nobody else's business ----------------------

CEO = "ceo@corp.example"


def _handled(uow, ts: str) -> bool:  # noqa: ANN001
    """The message with Slack ts ``ts`` is done (handled or dropped by the worker)."""

    with uow() as s:
        return s.scalar(select(InboxRow.status).where(InboxRow.key.endswith(f":{ts}"))) is QueueStatus.DONE


def _requester_of(uow, user: str) -> int | None:  # noqa: ANN001
    with uow() as s:
        return s.scalar(select(Identity.requester_id).where(Identity.channel == "slack", Identity.external_id == user))


def test_a_slack_guest_or_connect_user_with_the_ceos_email_sees_and_resolves_none_of_her_tickets(desk, uow) -> None:  # noqa: ANN001
    desk.fake.users.update({"UCEO": ("Carla Chief", CEO), "UGUEST": ("Carla Chief", CEO), "UEXT": ("Carla Chief", CEO)})
    desk.fake.user_fields.update({"UGUEST": {"is_restricted": True}, "UEXT": {"is_stranger": True, "team_id": "TOTHER"}})
    with uow() as s:  # the CEO has tickets from an identity that was verified (her mail)
        ceo = people.resolve_requester(session=s, channel="email", external_id=CEO, display_name="Carla Chief",
                                       email=CEO, email_verified=True)
        board = tickets.open_ticket(session=s, requester_id=ceo.id, subject="Board deck: merger numbers locked",
                                    channel="email", actor="bot")
        ceo_id, board_ref = ceo.id, board.ref
    # She mentions the bot in a public channel; the ticket's conversation is that thread.
    desk.say("My laptop will not start at all, the screen stays black", user="UCEO", channel="CGEN",
             ts="1700000400.000100", mention=True)
    wait_for(lambda: desk.posts_to("CGEN"), "the answer in the CEO's thread")
    with uow() as s:
        mine = {t.ref: t for t in tickets.open_tickets_of(session=s, requester_id=ceo_id)}
    assert len(mine) == 2 and _requester_of(uow, "UCEO") == ceo_id  # a full member links: the control case
    laptop_ref = next(ref for ref in mine if ref != board_ref)

    # The guest, and a Slack Connect user whose event names their own organisation, both with her email.
    for n, (user, fields) in enumerate((("UGUEST", {}), ("UEXT", {"user_team": "TOTHER"}))):
        desk.event({"type": "message", "channel": f"D{user}", "channel_type": "im", "user": user, **fields,
                    "text": "what's the status of my tickets", "ts": f"17000005{n}0.000100"})
        desk.event({"type": "message", "channel": f"D{user}", "channel_type": "im", "user": user, **fields,
                    "text": "it works now", "ts": f"17000005{n}1.000100"})
        desk.say("it works now, thanks", user=user, channel="CGEN", ts=f"17000005{n}2.000100",
                 thread_ts="1700000400.000100", **fields)
        for last in range(3):
            wait_for(lambda: _handled(uow, f"17000005{n}{last}.000100"), f"{user}'s message {last}")
        answers = desk.wait_posts(user, 2)
        assert "You have no open tickets" in answers[0]["text"]
        said = json.dumps(answers)
        assert board_ref not in said and laptop_ref not in said and "merger" not in said and "laptop" not in said
        assert _requester_of(uow, user) not in (None, ceo_id)
    time.sleep(1.0)
    assert len(desk.posts_to("CGEN")) == 1  # nothing more in her thread: the guests' words there were dropped
    with uow() as s:
        still = {t.ref: t.status for t in tickets.open_tickets_of(session=s, requester_id=ceo_id)}
        assert set(still) == {board_ref, laptop_ref} and Status.RESOLVED not in still.values()
        stored = list(s.scalars(select(InboxRow.payload)))
        assert stored and not any(LEGACY in payload for payload in stored)  # the legacy token is never kept

    # The CEO herself, in her DM: both of her tickets.
    desk.dm("what's the status of my tickets", user="UCEO", ts="1700000600.000100")
    [status] = desk.wait_posts("UCEO", 1)
    assert board_ref in status["text"] and laptop_ref in status["text"]


def test_a_guest_with_an_agents_email_cannot_assign_or_reply_as_that_agent(desk, uow) -> None:  # noqa: ANN001
    desk.fake.users["UFAKE"] = ("Amy Adams", "amy@corp.example")
    desk.fake.user_fields["UFAKE"] = {"is_restricted": True}
    desk.mail("SAP access", "Please give me access to SAP for the new finance project.", message_id="<sap2@corp.example>",
              sender="Bob Brown <bob@corp.example>")
    wait_for(lambda: desk.sink.mails, "the acknowledgement mail")
    desk.wait_posts(AGENTS, 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number, assignee = ticket.number, ticket.assignee_id
    post_ts = wait_for(lambda: _agent_thread(uow, number), "the agent thread's ts")
    mails_before = len(desk.sink.mails)

    desk.click(f"agent:assign:{number}", channel=AGENTS, message_ts=post_ts, user="UFAKE")
    desk.say("!reply Access granted, your password is in the attachment", user="UFAKE", channel=AGENTS,
             ts="1700000700.000100", thread_ts=post_ts)
    refusals = wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(
        [p for p in desk.posts_to(AGENTS) if "Only desk agents" in p["text"]]), "two refusals")
    assert all(p["thread_ts"] == post_ts and "amy@corp.example" not in p["text"] for p in refusals)  # type: ignore[union-attr]
    time.sleep(1.0)
    assert len(desk.sink.mails) == mails_before  # nothing reached Bob
    with uow() as s:
        t = tickets.get_ticket(session=s, number=number)
        assert t.assignee_id == assignee
        thread = tickets.thread(session=s, ticket=t)
        assert not [m for m in thread if m.direction is Direction.OUTBOUND and m.author_user_id is not None]
        assert not [m for m in thread if "from Slack" in m.text]  # no "assigned to ... from Slack"


def test_ticket_status_asked_in_a_channel_goes_to_the_senders_dm_and_in_the_dm_stays_there(desk, uow) -> None:  # noqa: ANN001
    desk.say("My laptop will not start at all, the screen stays black", user="U42", channel="CGEN",
             ts="1700000800.000100", mention=True)
    [opened] = desk.wait_posts("CGEN", 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        ref = ticket.ref
    assert ref in opened["text"] and opened["thread_ts"] == "1700000800.000100"

    # In her ticket's thread (a reply the bot overhears), then a fresh mention in a private channel.
    desk.say("what's the status of my tickets?", user="U42", channel="CGEN", ts="1700000801.000100",
             thread_ts="1700000800.000100")
    desk.say("what's the status of my tickets?", user="U42", channel="GPRIVATE", ts="1700000802.000100", mention=True)
    answers = desk.wait_posts("U42", 2)
    assert all(ref in a["text"] and "Your open tickets" in a["text"] and not a.get("thread_ts") for a in answers)
    time.sleep(1.0)
    assert desk.posts_to("CGEN") == [opened] and desk.posts_to("GPRIVATE") == []

    desk.dm("what's the status of my tickets?", user="U42", ts="1700000803.000100")
    in_dm = desk.wait_posts("U42", 3)[2]
    assert ref in in_dm["text"]
    assert {p["channel"] for p in desk.fake.posted()} == {"CGEN", "U42", AGENTS}


def test_a_colleague_mentioning_the_bot_in_someones_thread_neither_reads_nor_resolves_their_ticket(
        desk, uow) -> None:  # noqa: ANN001
    desk.say("My laptop will not start at all, the screen stays black", user="U42", channel="CGEN",
             ts="1700000900.000100", mention=True)
    [opened] = desk.wait_posts("CGEN", 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number, owner = ticket.number, ticket.requester_id
    desk.say("it works now, thanks", user="UEVE", channel="CGEN", ts="1700000901.000100",
             thread_ts="1700000900.000100", mention=True)
    [answer] = desk.wait_posts("UEVE", 1)  # answered in Eve's own DM, not in Ana's thread
    assert f"#{number}" not in answer["text"]
    time.sleep(1.0)
    assert desk.posts_to("CGEN") == [opened]
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        assert ticket.status is not Status.RESOLVED and ticket.requester_id == owner
        assert [m.text for m in tickets.thread(session=s, ticket=ticket) if m.direction is Direction.INBOUND] == [
            "My laptop will not start at all, the screen stays black"]


def test_an_agent_corrects_the_intent_from_the_ticket_post_and_the_audit_names_her(desk, uow) -> None:  # noqa: ANN001
    desk.dm("I forgot my password")
    desk.wait_posts("U42", 1)
    desk.click("no", channel="D42", message_ts="1700000000.000200", user="U42")
    [post] = desk.wait_posts(AGENTS, 1)
    with uow() as s:
        [ticket] = tickets.list_tickets(session=s)
        number = ticket.number
    [menu] = menus_of(post)
    assert menu["placeholder"]["text"] == "Correct intent" and len(menu["options"]) == len(labels())
    post_ts = wait_for(lambda: _agent_thread(uow, number), "the agent thread's ts")
    assert desk.choose(menu, "account_locked", channel=AGENTS, message_ts=post_ts, user="UAMY").status_code == 200
    told = wait_for(lambda: [p for p in desk.posts_to(AGENTS) if "intent account_locked recorded" in p["text"]],
                    "the confirmation")
    assert told[0]["thread_ts"] == post_ts and "Amy Adams" in told[0]["text"]  # type: ignore[index]
    with uow() as s:
        ticket = tickets.get_ticket(session=s, number=number)
        assert ticket.confirmed_intent == "account_locked"
        assert ("user:amy", "confirmed_intent") in [(a.actor, a.field) for a in tickets.audit_trail(session=s, ticket=ticket)]


def test_a_vpn_problem_typed_with_it_beside_an_open_ticket_is_asked_about_and_answered_as_new(desk, uow) -> None:  # noqa: ANN001
    desk.dm("Please give me access to SAP for the new finance project.")
    [opened] = desk.wait_posts("U42", 1)
    with uow() as s:
        [first] = tickets.list_tickets(session=s)
    assert first.ref in opened["text"]
    command = urlencode({"command": "/it", "text": "I can't connect to the VPN from home", "user_id": "U42",
                         "channel_id": "CGEN", "trigger_id": "trig-vpn", "team_id": "T1", "token": "x",
                         "response_url": "http://127.0.0.1:9/x"})
    assert desk.post("/slack/commands", command, content_type="application/x-www-form-urlencoded").status_code == 200
    question = desk.wait_posts("U42", 2)[1]
    assert f"Is this about {first.ref}" in question["text"] and "new problem" in question["text"]
    assert [b["value"] for b in buttons_of(question)] == ["same", "new"]
    assert desk.click("new", channel="D42", message_ts="1700000000.000300", user="U42").status_code == 200
    answer = desk.wait_posts("U42", 3)[2]
    assert "Did this solve it?" in answer["text"]  # the VPN article, not "added to #1000"
    with uow() as s:
        mine = tickets.list_tickets(session=s, statuses=None)
        assert sorted(t.intent for t in mine) == ["software_access", "vpn_connection"]
