"""The Telegram channel: the real PTB ``Application`` against a fake Bot API on loopback, its webhook route on a
real uvicorn server, driven with httpx like Telegram.

``on_message`` stands in for the bot's inbox: it records the message and says whether its key was new (or
fails, like a database that is down). No database here: /link through the desk is in
tests/bot/test_telegram_e2e.py.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from collections.abc import Coroutine, Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot.conversation import ArticleLink, Button, ConversationRef, InboundMessage, RateLimited, Reply, SendError, \
    Undeliverable
from bot.rich_text import quote
from channels.telegram import COMMANDS, MAX_MESSAGE, SECRET_HEADER, TelegramChannel, shown, split
from loopback import free_port

SECRET = "webhook-secret_42"
USER = {"id": 555, "is_bot": False, "first_name": "Ann", "last_name": "Lee"}
PRIVATE = {"id": 555, "type": "private", "first_name": "Ann"}
GROUP = {"id": -100777, "type": "supergroup", "title": "Field staff"}


class Served:
    """The channel on an event loop of its own, its router on uvicorn in that loop, and a recording inbox."""

    def __init__(self, fake, *, polling: bool = False, max_file_bytes: int = 10 * 1024 * 1024) -> None:  # noqa: ANN001
        self.fake = fake
        self.messages: list[InboundMessage] = []
        self.keys: set[str] = set()
        self.failures = 0  # the next n commits fail
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self.run(self._build(polling, max_file_bytes))
        app = FastAPI()
        app.include_router(self.channel.router())
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off", timeout_graceful_shutdown=2))
        self.serving = asyncio.run_coroutine_threadsafe(self.server.serve(), self.loop)
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        self.run(self.channel.start(self.on_message))

    async def _build(self, polling: bool, max_file_bytes: int) -> TelegramChannel:
        return TelegramChannel(token=self.fake.TOKEN, api_url=self.fake.api_url, file_url=self.fake.file_url,
                               verifier=None, polling=polling, webhook_secret=None if polling else SECRET,
                               webhook_url="https://desk.corp.example/telegram/webhook",
                               max_file_bytes=max_file_bytes, poll_timeout=1)

    async def on_message(self, message: InboundMessage) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the inbox database is down")
        self.messages.append(message)
        if message.key in self.keys:
            return False
        self.keys.add(message.key)
        return True

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(20)

    def post(self, update: dict, secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return self.http.post("/telegram/webhook", json=update, headers=headers)

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.serving.result(10)
        self.run(self.channel.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def telegram(fake_telegram) -> Iterator[Served]:  # noqa: ANN001
    served = Served(fake_telegram)
    yield served
    served.close()


def message(update_id: int, text: str = "", *, chat: dict = PRIVATE, user: dict = USER, **fields: Any) -> dict:
    body = {"message_id": 10 + update_id, "date": int(time.time()), "chat": chat, "from": user, **fields}
    if text:
        body["text"] = text
    return {"update_id": update_id, "message": body}


def wait_for(check, what: str, timeout: float = 10.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- start-up ----------------------------------------------------------------------------------------


def test_start_registers_the_commands_and_the_webhook_with_its_secret(telegram: Served) -> None:
    [commands] = telegram.fake.sent("setMyCommands")
    assert [c["command"] for c in commands["commands"]] == [name for name, _ in COMMANDS]
    assert [c["command"] for c in commands["commands"]] == ["start", "help", "new", "status", "link"]
    [hook] = telegram.fake.sent("setWebhook")
    assert hook["url"] == "https://desk.corp.example/telegram/webhook" and hook["secret_token"] == SECRET
    assert hook["allowed_updates"] == ["message", "callback_query"]


def test_webhook_mode_needs_a_secret(fake_telegram) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="secret"):
        TelegramChannel(token=fake_telegram.TOKEN, api_url=fake_telegram.api_url, verifier=None)


# --- the webhook ------------------------------------------------------------------------------------------


def test_a_wrong_or_missing_secret_gets_403_and_stores_nothing(telegram: Served) -> None:
    for secret in (None, "", "webhook-secret_4", SECRET + "x"):
        refused = telegram.post(message(1, "my VPN is down"), secret=secret)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert telegram.messages == []
    assert telegram.post(message(1, "my VPN is down")).status_code == 200
    [stored] = telegram.messages
    assert stored.key == "telegram:1" and stored.text == "my VPN is down"
    assert stored.conversation == ConversationRef("telegram", "555", "")
    assert (stored.sender.channel, stored.sender.external_id, stored.sender.display_name) == ("telegram", "555", "Ann Lee")
    assert stored.sender.authenticated and not stored.sender.email_verified and stored.private_ref is None


def test_the_200_waits_for_the_commit_and_a_failed_commit_is_a_500_telegram_delivers_again(telegram: Served) -> None:
    telegram.failures = 1
    failed = telegram.post(message(2, "printer jammed"))
    assert failed.status_code == 500 and telegram.messages == []
    assert telegram.post(message(2, "printer jammed")).status_code == 200  # Telegram's redelivery
    assert telegram.post(message(2, "printer jammed")).status_code == 200  # a replay: the inbox says "seen"
    assert [m.key for m in telegram.messages] == ["telegram:2", "telegram:2"] and telegram.keys == {"telegram:2"}


def test_a_body_that_is_no_update_is_a_400(telegram: Served) -> None:
    response = telegram.http.post("/telegram/webhook", content=b"not json", headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_commands_new_and_status_go_to_the_inbox_start_is_answered_here(telegram: Served) -> None:
    entity = [{"type": "bot_command", "offset": 0, "length": 4}]
    assert telegram.post(message(3, "/new my monitor flickers", entities=entity)).status_code == 200
    assert telegram.post(message(4, "/status", entities=[{"type": "bot_command", "offset": 0, "length": 7}])).status_code == 200
    assert telegram.post(message(5, "/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}])).status_code == 200
    new, status = telegram.messages
    assert (new.action, new.text) == ("open_ticket", "my monitor flickers")
    assert status.action == "ticket_status"
    [welcome] = telegram.fake.sent()
    assert "/link" in welcome["text"] and welcome["parse_mode"] == "HTML" and welcome["chat_id"] == "555"


def test_in_a_group_only_a_mention_or_a_reply_to_the_bot_is_read(telegram: Served) -> None:
    colleague = {"id": 556, "is_bot": False, "first_name": "Bo"}
    telegram.post(message(6, "lunch at noon?", chat=GROUP, user=colleague))
    telegram.post(message(7, "@helpdesk_bot the wifi on floor 2 is down", chat=GROUP,
                          entities=[{"type": "mention", "offset": 0, "length": 13}]))
    bot_message = {"message_id": 3, "date": int(time.time()), "chat": GROUP, "from": telegram.fake.BOT, "text": "Hi"}
    telegram.post(message(8, "still down", chat=GROUP, user=colleague, reply_to_message=bot_message))
    mention, reply = telegram.messages
    assert mention.text == "the wifi on floor 2 is down"
    assert mention.conversation == ConversationRef("telegram", "-100777", "555")  # Ann's own conversation there
    assert mention.private_ref == ConversationRef("telegram", "555")
    assert reply.text == "still down" and reply.conversation.thread == "556"


def test_a_button_click_is_an_action_and_is_answered(telegram: Served) -> None:
    shown = {"message_id": 77, "date": int(time.time()), "chat": PRIVATE, "from": telegram.fake.BOT, "text": "Did it?",
             "reply_markup": {"inline_keyboard": [[{"text": "Yes, solved", "callback_data": "yes"},
                                                   {"text": "No, I need help", "callback_data": "no"}]]}}
    click = {"update_id": 9, "callback_query": {"id": "cb1", "from": USER, "chat_instance": "ci", "data": "no",
                                                 "message": shown}}
    assert telegram.post(click).status_code == 200
    again = {**click, "update_id": 10, "callback_query": {**click["callback_query"], "id": "cb2"}}
    assert telegram.post(again).status_code == 200  # a double click
    first, second = telegram.messages
    assert (first.action, first.text) == ("no", "No, I need help") and first.key == second.key == "telegram:action:555:77:no:555"
    assert [a["callback_query_id"] for a in telegram.fake.sent("answerCallbackQuery")] == ["cb1", "cb2"]
    assert telegram.fake.sent("editMessageReplyMarkup")  # the buttons go once clicked


def test_a_photo_is_fetched_with_getfile_and_a_50_mb_document_is_not(telegram: Served) -> None:
    telegram.fake.files["photo-big"] = b"\xff\xd8\xff fake jpeg"
    photo = [{"file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 10},
             {"file_id": "photo-big", "file_unique_id": "b", "width": 900, "height": 900, "file_size": 13}]
    telegram.post(message(11, photo=photo, caption="the error on my screen"))
    document = {"file_id": "doc-1", "file_unique_id": "d1", "file_name": "dump.zip", "mime_type": "application/zip",
                "file_size": 50 * 1024 * 1024}
    telegram.post(message(12, document=document))
    with_photo, with_document = telegram.messages
    [picture] = with_photo.attachments
    assert with_photo.text == "the error on my screen"
    assert (picture.filename, picture.content_type, picture.content) == ("photo-b.jpg", "image/jpeg",
                                                                         b"\xff\xd8\xff fake jpeg")
    [dump] = with_document.attachments
    assert (dump.filename, dump.content, dump.size) == ("dump.zip", b"", 50 * 1024 * 1024)
    assert [f["file_id"] for f in telegram.fake.sent("getFile")] == ["photo-big"]  # the 50 MB one was never asked for


# --- replies -------------------------------------------------------------------------------------------


def test_a_reply_is_html_with_everything_escaped_and_an_inline_keyboard(telegram: Served) -> None:
    reply = Reply("**Try this:** " + quote("<b>bold</b> *star* _under_ [x](javascript:alert(1)) & more"),
                  buttons=(Button("Yes, solved", "yes"), Button("No, I need help", "no")),
                  articles=(ArticleLink("KB-0001", "Reset <your> password", "http://127.0.0.1:8080/kb/KB-0001?a=1&b=2"),
                            ArticleLink("KB-0666", "Evil", "javascript:alert(1)")))
    native = telegram.run(telegram.channel.send(ConversationRef("telegram", "555"), reply))
    [sent] = telegram.fake.sent()
    assert native is not None and sent["parse_mode"] == "HTML"
    text = sent["text"]
    assert text.startswith("<b>Try this:</b> &lt;b&gt;bold&lt;/b&gt; *star* _under_ [x](javascript:alert(1)) &amp; more")
    assert '<a href="http://127.0.0.1:8080/kb/KB-0001?a=1&amp;b=2">KB-0001 Reset &lt;your&gt; password</a>' in text
    assert 'href="javascript' not in text and "KB-0666 Evil: javascript:alert(1)" in text
    assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "Yes, solved", "callback_data": "yes"},
                                                         {"text": "No, I need help", "callback_data": "no"}]]}


def test_a_long_reply_is_split_at_paragraphs_and_the_buttons_go_with_the_last_piece(telegram: Served) -> None:
    paragraphs = [f"Step {i}: " + ("open the settings & check <this> " * 40).strip() for i in range(12)]
    paragraphs[5] = "Step 5: " + "🙂" * 2100  # two UTF-16 units each: 4,200 of them, a paragraph of its own
    reply = Reply("\n\n".join(paragraphs), buttons=(Button("Yes, solved", "yes"),))
    telegram.run(telegram.channel.send(ConversationRef("telegram", "555"), reply))
    sent = telegram.fake.sent()
    assert len(sent) > 1
    assert all(shown(s["text"]) <= MAX_MESSAGE for s in sent)
    assert all(s["text"].startswith(("Step ", "🙂")) for s in sent)  # at a paragraph (or in the one too long)
    assert not any(s["text"].rstrip().endswith("&") for s in sent)  # no escape cut in two
    assert [bool(s.get("reply_markup")) for s in sent] == [False] * (len(sent) - 1) + [True]
    joined = "".join(s["text"] for s in sent)
    unescaped = joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped.replace("\n", "").replace(" ", "") == reply.text.replace("\n", "").replace(" ", "")


def test_one_huge_word_is_cut_without_breaking_an_escape() -> None:
    pieces = split(html.escape("&" * 5000))
    assert len(pieces) == 2 and "".join(pieces) == "&amp;" * 5000
    assert [shown(p) for p in pieces] == [MAX_MESSAGE, 5000 - MAX_MESSAGE]  # Telegram counts "&amp;" as one "&"


def test_a_split_never_breaks_an_entity_a_tag_open_at_a_cut_is_closed_and_reopened(telegram: Served) -> None:
    bold = "**" + " ".join(f"word{i} & <more>" for i in range(900)) + "**"  # one bold run of about 14,000 characters
    code = "```\n" + "\n".join(f"line {i} <b>x</b>" for i in range(400)) + "\n```"
    link = "[" + "label " * 900 + "](https://kb.example.com/KB-0001?a=1&b=2)"
    reply = Reply(f"{bold}\n\n{code}\n\n{link}", buttons=(Button("Yes, solved", "yes"),))
    telegram.run(telegram.channel.send(ConversationRef("telegram", "555"), reply))
    sent = telegram.fake.sent()
    assert len(sent) >= 5 and all(shown(s["text"]) <= MAX_MESSAGE for s in sent)
    for piece in sent:
        assert entities_balanced(piece["text"]), piece["text"][:200]
    texts = [s["text"] for s in sent]
    assert texts[0].startswith("<b>word0 &amp; &lt;more&gt;") and texts[1].startswith("<b>word")  # reopened
    assert any(t.startswith("<pre>") and t.endswith("</pre>") and "&lt;b&gt;x&lt;/b&gt;" in t for t in texts)
    linked = [t for t in texts if "label" in t]
    assert len(linked) >= 2 and all(t.startswith('<a href="https://kb.example.com/KB-0001?a=1&amp;b=2">')
                                    for t in linked)
    assert [bool(s.get("reply_markup")) for s in sent] == [False] * (len(sent) - 1) + [True]


def entities_balanced(markup: str) -> bool:
    """Every tag opened in ``markup`` is closed in order, and every ``&`` starts a whole escape."""
    stack: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert stack and stack.pop() == tag, f"</{tag}> closes nothing open"

    Checker(convert_charrefs=True).feed(markup)
    return not stack and all(re.match(r"&(amp|lt|gt|quot);", markup[m.start():]) for m in re.finditer("&", markup))


def test_429_is_rate_limited_403_blocked_is_undeliverable_5xx_is_retried(telegram: Served) -> None:
    to = ConversationRef("telegram", "555")
    telegram.fake.fail["sendMessage"] = [(429, "Too Many Requests: retry after 7", 7),
                                         (403, "Forbidden: bot was blocked by the user", None),
                                         (502, "Bad Gateway", None)]
    with pytest.raises(RateLimited) as limited:
        telegram.run(telegram.channel.send(to, Reply("hi")))
    assert limited.value.retry_after == 7
    with pytest.raises(Undeliverable, match="bot was blocked by the user"):
        telegram.run(telegram.channel.send(to, Reply("hi")))
    with pytest.raises(SendError) as failed:
        telegram.run(telegram.channel.send(to, Reply("hi")))
    assert not isinstance(failed.value, Undeliverable)
    assert telegram.run(telegram.channel.send(to, Reply("hi"))) is not None


# --- polling -------------------------------------------------------------------------------------------


def test_polling_moves_past_an_update_only_once_it_is_committed(fake_telegram) -> None:  # noqa: ANN001
    fake_telegram.updates = [message(20, "my VPN is down"), message(21, "and the printer")]
    served = Served(fake_telegram, polling=True)
    try:
        served.failures = 2  # the first update's commit fails twice: it is tried again, not skipped
        wait_for(lambda: len(served.messages) >= 2, "both updates")
        assert [m.key for m in served.messages[:2]] == ["telegram:20", "telegram:21"]
        assert fake_telegram.sent("deleteWebhook") and not fake_telegram.sent("setWebhook")
    finally:
        served.close()
