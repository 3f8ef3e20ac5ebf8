"""Deskbot served with Slack on (a fake Slack Web API on loopback, an SMTP sink for mail), and ``SlackDesk``: a
client that signs its Events API and interactivity requests for real. The ``desk`` fixture of the Slack end-to-end
tests (tests/bot/test_slack*_e2e.py), SQLite and PostgreSQL through ``uow``."""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from urllib.parse import urlencode

import httpx
from loopback import wait_for
from slack_sdk.signature import SignatureVerifier
from smtp_sink import Sink

from bot.composition import Deskbot
from bot.worker import Pipeline
from channels.email import EmailChannel
from desk import people
from desk.taxonomy import packaged_taxonomy

SECRET, TOKEN = "e2e-signing-secret", "xoxb-e2e-token"
LEGACY = "legacy-verification-token-e2e"  # the ``token`` field Slack still puts in every payload
AGENTS = "CAGENTS"
SUPPORT = "support@deskbot.example"


class SlackDesk:
    """A signed-request client for deskbot's Slack endpoints, and the fakes around it."""

    def __init__(self, base: str, fake, sink: Sink, email: EmailChannel, pipeline: Pipeline):  # noqa: ANN001
        self.http = httpx.Client(base_url=base, timeout=30)
        self.fake, self.sink, self.email, self.pipeline = fake, sink, email, pipeline
        self._n = 0

    def post(self, path: str, body: str, *, content_type: str = "application/json", retry: int | None = None,
             secret: str = SECRET, at: float | None = None) -> httpx.Response:
        ts = str(int(at if at is not None else time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}
        if retry is not None:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return self.http.post(path, content=body, headers=headers)

    def event(self, inner: dict, *, event_id: str | None = None, retry: int | None = None) -> httpx.Response:
        self._n += 1
        body = json.dumps({"token": LEGACY, "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                           "event_id": event_id or f"Ev{self._n}", "event_time": int(time.time()), "event": inner})
        return self.post("/slack/events", body, retry=retry)

    def dm(self, text: str, *, user: str = "U42", ts: str | None = None) -> str:
        self._n += 1
        ts = ts or f"17000{self._n:05d}.000100"
        response = self.event({"type": "message", "channel": "D42", "channel_type": "im", "user": user,
                               "text": text, "ts": ts})
        assert response.status_code == 200, response.text
        return ts

    def say(self, text: str, *, user: str, channel: str, ts: str, thread_ts: str | None = None, mention: bool = False,
            **fields: str) -> None:
        """A message in a channel: a mention of the bot (``app_mention``) or a reply in a thread, overheard."""
        inner = {"type": "app_mention" if mention else "message", "channel": channel, "user": user, "ts": ts,
                 "text": f"<@UBOT> {text}" if mention else text, **({"thread_ts": thread_ts} if thread_ts else {}),
                 **({} if mention else {"channel_type": "channel"}), **fields}
        response = self.event(inner)
        assert response.status_code == 200, response.text

    def click(self, value: str, *, channel: str, message_ts: str, user: str, thread_ts: str | None = None) -> httpx.Response:
        message = {"ts": message_ts, "text": "...", **({"thread_ts": thread_ts} if thread_ts else {})}
        payload = {"type": "block_actions", "user": {"id": user}, "trigger_id": f"trig-{value}", "team": {"id": "T1"},
                   "api_app_id": "A1", "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                   "channel": {"id": channel}, "message": message,
                   "actions": [{"type": "button", "action_id": f"deskbot:0:{value}", "block_id": "deskbot_actions",
                                "value": value, "text": {"type": "plain_text", "text": value},
                                "action_ts": str(time.time())}]}
        return self.post("/slack/interactivity", urlencode({"payload": json.dumps(payload)}),
                         content_type="application/x-www-form-urlencoded")

    def choose(self, menu: dict, label: str, *, channel: str, message_ts: str, user: str) -> httpx.Response:
        """Pick ``label`` in a select menu of a posted message, as Slack sends it."""
        [option] = [o for o in menu["options"] if o["text"]["text"] == label]
        payload = {"type": "block_actions", "user": {"id": user}, "trigger_id": "trig-menu", "team": {"id": "T1"},
                   "api_app_id": "A1", "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                   "channel": {"id": channel}, "message": {"ts": message_ts, "text": "..."},
                   "actions": [{"type": "static_select", "action_id": menu["action_id"], "block_id": "deskbot_actions",
                                "selected_option": option, "action_ts": str(time.time())}]}
        return self.post("/slack/interactivity", urlencode({"payload": json.dumps(payload)}),
                         content_type="application/x-www-form-urlencoded")

    def posts_to(self, channel: str) -> list[dict]:
        return [p for p in self.fake.posted() if p["channel"] == channel]

    def wait_posts(self, channel: str, n: int) -> list[dict]:
        return wait_for(lambda: (lambda p: p if len(p) >= n else None)(self.posts_to(channel)),
                        f"{n} post(s) to {channel}")  # type: ignore[return-value]

    def mail(self, subject: str, body: str, *, message_id: str, sender: str) -> None:
        m = EmailMessage()
        m["Authentication-Results"] = "mx.corp.example; dmarc=pass header.from=corp.example"
        m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, SUPPORT, subject, message_id
        m.set_content(body)
        with smtplib.SMTP("127.0.0.1", self.email.port) as client:
            client.send_message(m)


def buttons_of(post: dict) -> list[dict]:
    return [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def menus_of(post: dict) -> list[dict]:
    return [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "static_select"]


@contextmanager
def slack_desk(uow, analyzer, fake_slack, desk_settings, serving, **settings_changes) -> Iterator[SlackDesk]:  # noqa: ANN001, ANN003
    """The service with Slack and email on, for a test's ``desk`` fixture (its arguments are the fixtures of
    the same names); ``settings_changes`` go into its settings."""
    fake_slack.users.update({"U42": ("Ana Silva", "ana@corp.example"), "UAMY": ("Amy Adams", "amy@corp.example"),
                             "UBOB": ("Bob Brown", "bob@corp.example"), "UEVE": ("Eve Evans", "eve@corp.example")})
    with uow() as s:
        for name in packaged_taxonomy().groups:
            people.set_group_notifications(session=s, name=name, targets={"slack": AGENTS})
        people.add_user(session=s, username="amy", display_name="Amy Adams", email="amy@corp.example",
                        groups=["Service Desk", "Identity & Access"])
    sink = Sink()
    # Behind the company's MTA (on loopback here), which vouches for its senders: Bob by mail is Bob in Slack.
    settings = desk_settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake_slack.url,
                             email_addresses=[SUPPORT], smtp_max_bytes=200_000, smtp_relay_host="127.0.0.1",
                             smtp_relay_port=sink.port, smtp_trusted_relays=["127.0.0.1/32"],
                             email_verification="authentication-results", email_authserv_ids=["mx.corp.example"],
                             email_company_domains=["corp.example"], **settings_changes)
    try:
        with serving(Deskbot(settings, analyzer=analyzer)) as running:
            service = running.service
            yield SlackDesk(running.url, fake_slack, sink, service.adapters["email"], service.pipeline)
    finally:
        sink.close()
