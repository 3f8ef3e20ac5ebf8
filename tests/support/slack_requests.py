"""Signed Slack requests and a stand-in inbox for the channel tests (tests/channels/test_slack*.py): the inbox,
like the real one, refuses a key it has seen."""

from __future__ import annotations

import json
import time

from slack_sdk.signature import SignatureVerifier

from bot.conversation import InboundMessage

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"


class Inbox:
    def __init__(self, fail: bool = False):
        self.messages: dict[str, InboundMessage] = {}
        self.fail = fail

    async def accept(self, message: InboundMessage) -> bool:
        if self.fail:
            raise RuntimeError("database down")
        if message.key in self.messages:
            return False
        self.messages[message.key] = message
        return True


def signed(body: str, *, secret: str = SECRET, at: float | None = None, retry: int | None = None,
           content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(at if at is not None else time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return headers


def event(inner: dict, event_id: str = "Ev1") -> str:
    return json.dumps({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": inner})
