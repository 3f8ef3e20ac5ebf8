"""Telegram end to end: updates POSTed to the real PTB-backed webhook of the service ``deskbot serve`` builds
(``build_service``: the channel registry's Telegram entry, its verification from the composition, worker and
dispatcher) on uvicorn -> the desk; replies go to a fake Bot API on loopback, /link codes through the real
email relay to an SMTP sink. SQLite and PostgreSQL, the real packaged model; and ``deskbot serve`` itself in
polling mode.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from bot.composition import Deskbot
from desk import Level, people, tickets
from desk.domain import QueueStatus
from desk.models import InboxRow, OutboxRow, Ticket
from smtp_sink import Sink as MailSink
from loopback import free_port, wait_for

SECRET = "e2e-webhook-secret"
ANN = {"id": 555, "is_bot": False, "first_name": "Ann", "last_name": "Lee"}
CHAT = {"id": 555, "type": "private", "first_name": "Ann"}
EMAIL = "ann@corp.example"


class Sink(MailSink):
    """The relay's mails, and the sign-in codes in them."""

    def code(self, count: int) -> str:
        """The code in the ``count``-th mail."""
        wait_for(lambda: len(self.mails) >= count, f"mail {count}")
        found = re.search(r"\b(\d{6})\b", self.mails[count - 1].get_body(("plain",)).get_content())
        assert found, self.mails[count - 1]
        return found.group(1)


class Phone:
    """Telegram's side: updates to the webhook, and what the bot sent back through the fake Bot API."""

    def __init__(self, base: str, fake) -> None:  # noqa: ANN001
        self.http = httpx.Client(base_url=base, timeout=30)
        self.fake = fake
        self._update = 0

    def post(self, update: dict, secret: str | None = SECRET) -> httpx.Response:
        return self.http.post("/telegram/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {})

    def update(self, text: str = "", **fields: object) -> dict:
        self._update += 1
        body = {"message_id": 100 + self._update, "date": int(time.time()), "chat": CHAT, "from": ANN, **fields}
        if text:
            body["text"] = text
            if text.startswith("/"):
                body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self._update, "message": body}

    def say(self, text: str = "", replies: int = 1, **fields: object) -> list[dict]:
        before = len(self.fake.sent())
        response = self.post(self.update(text, **fields))
        assert response.status_code == 200, response.text
        wait_for(lambda: len(self.fake.sent()) >= before + replies, f"{replies} answer(s) to {text!r}")
        return self.fake.sent()[before:]

    def click(self, shown: dict, value: str) -> list[dict]:
        before = len(self.fake.sent())
        self._update += 1
        message = {"message_id": 9000 + self._update, "date": int(time.time()), "chat": CHAT,
                   "from": self.fake.BOT, "text": shown["text"], "reply_markup": shown["reply_markup"]}
        response = self.post({"update_id": self._update, "callback_query": {
            "id": f"cb{self._update}", "from": ANN, "chat_instance": "ci", "data": value, "message": message}})
        assert response.status_code == 200, response.text
        wait_for(lambda: len(self.fake.sent()) > before, f"the answer to {value!r}")
        return self.fake.sent()[before:]


@pytest.fixture
def phone(desk_settings, serving, analyzer, fake_telegram) -> Iterator[Phone]:  # noqa: ANN001
    sink = Sink()
    # Webhook mode needs a public https URL (where Telegram is told to deliver); the test posts to loopback.
    settings = desk_settings(
        email_enabled=False, public_url="https://desk.corp.example", email_addresses=["support@corp.example"],
        smtp_relay_host="127.0.0.1", smtp_relay_port=sink.port, telegram_bot_token=fake_telegram.TOKEN,
        telegram_api_url=fake_telegram.api_url, telegram_file_url=fake_telegram.file_url,
        telegram_webhook_secret=SECRET, max_attachment_bytes=1024 * 1024)
    try:
        with serving(Deskbot(settings, analyzer=analyzer)) as running:
            assert "telegram" in running.service.adapters
            client = Phone(running.url, fake_telegram)
            client.sink = sink  # type: ignore[attr-defined]
            yield client
    finally:
        sink.close()


def _count(uow, model) -> int:  # noqa: ANN001
    with uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"#\d{4}", text))


def test_an_answer_has_an_inline_keyboard_i_need_help_opens_a_ticket_and_status_lists_it(phone: Phone, uow) -> None:  # noqa: ANN001
    [answer] = phone.say("I forgot my password and can't log in")
    assert answer["parse_mode"] == "HTML" and answer["chat_id"] == "555"
    keyboard = answer["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in keyboard[0]] == ["yes", "no"]
    [opened] = phone.click(answer, "no")
    wait_for(lambda: phone.fake.sent("answerCallbackQuery"), "the click answered")
    [number] = _numbers(opened["text"])
    [status] = phone.say("/status")
    assert number in status["text"]


def test_link_with_the_mailed_code_joins_the_persons_tickets_wrong_codes_do_not(phone: Phone, uow) -> None:  # noqa: ANN001
    with uow() as s:  # Ann's ticket from email, where her address is verified
        ann = people.resolve_requester(session=s, channel="email", external_id=EMAIL, email=EMAIL, email_verified=True)
        by_mail = tickets.open_ticket(session=s, requester_id=ann.id, subject="Docking station dead", description="",
                                      channel="email", actor="bot", impact=Level.LOW, urgency=Level.LOW).ref
    [opened] = phone.say("/new the VPN drops every hour")
    [here] = _numbers(opened["text"])
    [before] = phone.say("/status")
    assert here in before["text"] and by_mail not in before["text"]  # unverified: only what was opened here

    [sent] = phone.say(f"/link {EMAIL}")
    assert EMAIL in sent["text"]
    code = phone.sink.code(1)  # type: ignore[attr-defined]
    assert phone.sink.mails[0]["To"] == EMAIL  # type: ignore[attr-defined]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    [refused] = phone.say(f"/link {wrong}")
    assert "Wrong code: 4 attempts left" in refused["text"]
    [still] = phone.say("/status")
    assert by_mail not in still["text"]
    [linked] = phone.say(code)  # the bare code, as people type it
    assert f"now {EMAIL}" in linked["text"]
    [after] = phone.say("/status")
    assert {here, by_mail} <= _numbers(after["text"])
    [reused] = phone.say(f"/link {code}")
    assert "No code is waiting" in reused["text"]


def test_a_replayed_link_update_mails_no_second_code_and_gets_no_second_answer(phone: Phone) -> None:
    """Telegram delivers an update again when its 200 did not arrive (a slow relay, a restart): the update id holds
    for /link as it does for messages. A new /link (a new update) still gets its code."""
    update = phone.update(f"/link {EMAIL}")
    assert phone.post(update).status_code == 200
    [sent] = wait_for(lambda: phone.fake.sent() or None, "the answer to /link")
    assert EMAIL in sent["text"]
    phone.sink.code(1)  # type: ignore[attr-defined]
    for _ in range(3):
        assert phone.post(update).status_code == 200
    again = phone.say(f"/link {EMAIL}")  # a later /link of her own: answered and mailed
    assert EMAIL in again[0]["text"]
    phone.sink.code(2)  # type: ignore[attr-defined]
    assert len(phone.sink.mails) == 2  # type: ignore[attr-defined]
    assert [m["text"] for m in phone.fake.sent()] == [sent["text"], again[0]["text"]]


def test_the_sixth_try_is_refused_even_with_the_right_code(phone: Phone) -> None:
    phone.say(f"/link {EMAIL}")
    code = phone.sink.code(1)  # type: ignore[attr-defined]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [phone.say(f"/link {wrong}")[0]["text"] for _ in range(5)]
    assert answers[-1].startswith("Wrong code, and no attempts are left")
    [sixth] = phone.say(f"/link {code}")
    assert "No code is waiting" in sixth["text"]
    [status] = phone.say("/status")  # still unlinked: nothing of Ann's mail tickets (she has none here either)
    assert "no open tickets" in status["text"].lower()


def test_a_wrong_secret_stores_nothing_and_a_replayed_update_makes_nothing_new(phone: Phone, uow) -> None:  # noqa: ANN001
    update = phone.update("/new the printer on floor 3 is jammed")
    for secret in (None, "nope"):
        assert phone.post(update, secret=secret).status_code == 403
    assert _count(uow, InboxRow) == 0
    assert phone.post(update).status_code == 200
    wait_for(lambda: phone.fake.sent(), "the answer")
    for _ in range(3):
        assert phone.post(update).status_code == 200
    time.sleep(1.0)  # room for a second ticket or reply, if one were coming
    assert (_count(uow, InboxRow), _count(uow, Ticket), len(phone.fake.sent())) == (1, 1, 1)


def test_a_50_mb_document_is_refused_with_a_message(phone: Phone, uow) -> None:  # noqa: ANN001
    document = {"file_id": "big", "file_unique_id": "b1", "file_name": "crash.dmp", "mime_type": "application/octet-stream",
                "file_size": 50 * 1024 * 1024}
    [answer] = phone.say(document=document, caption="my laptop crashed, here is the dump")
    assert "could not keep your attachment: crash.dmp" in answer["text"]
    assert "larger than the 1,048,576-byte limit" in answer["text"]
    assert not phone.fake.sent("getFile")


def test_markup_in_a_message_arrives_as_literal_text(phone: Phone, uow) -> None:  # noqa: ANN001
    text = "/new <b>bold</b> *star* _under_ [x](javascript:alert(1)) & co"
    [answer] = phone.say(text)
    with uow() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket.description == text.removeprefix("/new ")
    assert not re.findall(r"<(?!/?a\b)", answer["text"])  # no tag but the bot's own links
    assert "javascript:" not in answer["text"]


def test_429_is_retried_after_retry_after_and_a_blocked_bot_parks_the_reply(phone: Phone, uow) -> None:  # noqa: ANN001
    phone.fake.fail["sendMessage"] = [(429, "Too Many Requests: retry after 1", 1)]
    started = time.monotonic()
    phone.say("/new my phone line is dead")
    assert time.monotonic() - started >= 1.0
    assert [m for m, _ in phone.fake.calls if m.startswith("sendMessage")] == ["sendMessage (429)", "sendMessage"]

    phone.fake.fail["sendMessage"] = [(403, "Forbidden: bot was blocked by the user", None)]
    phone.post(phone.update("/new my monitor is black"))

    def parked() -> OutboxRow | None:
        with uow() as s:
            return s.scalar(select(OutboxRow).where(OutboxRow.status == QueueStatus.FAILED))

    row = wait_for(parked, "the reply parked")
    assert "bot was blocked by the user" in row.error and row.attempts == 1  # type: ignore[union-attr]


def test_deskbot_serve_in_polling_mode_answers_a_message(plumbing_nlp, fake_telegram, tmp_path) -> None:  # noqa: ANN001
    """The real ``deskbot serve`` process with only the Telegram token (and the fake's URLs) set: it polls,
    and a message is answered end to end."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    from pathlib import Path

    deskbot = str(Path(sys.executable).with_name("deskbot"))
    shutil.copytree(plumbing_nlp.registry.root, tmp_path / "var" / "models")
    shutil.copytree(plumbing_nlp.kb_dir, tmp_path / "var" / "kb_index")
    fake_telegram.updates = [{"update_id": 1, "message": {
        "message_id": 10, "date": int(time.time()), "chat": CHAT, "from": ANN,
        "text": "/new my laptop will not start at all", "entities": [{"type": "bot_command", "offset": 0, "length": 4}]}}]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(DESKBOT_HTTP_PORT=str(free_port()), DESKBOT_KB_DIR=str(plumbing_nlp.kb_articles), COLUMNS="200",
               DESKBOT_NLP_BACKEND="hashing",
               DESKBOT_EMAIL_ENABLED="false", DESKBOT_TELEGRAM_BOT_TOKEN=fake_telegram.TOKEN,
               DESKBOT_TELEGRAM_API_URL=fake_telegram.api_url, DESKBOT_TELEGRAM_FILE_URL=fake_telegram.file_url)
    subprocess.run([deskbot, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([deskbot, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        [reply] = wait_for(lambda: fake_telegram.sent(), "the answer", 120)  # type: ignore[misc]
        assert reply["chat_id"] == "555" and "#1000" in reply["text"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        reader.join(5)
    assert server.returncode == 0, "".join(log)[-2000:]
    assert "Telegram: on, polling" in "".join(log)
