"""The web chat channel: a FastAPI router (page, verification, messages, files, Server-Sent Events)
and the ``ChannelAdapter`` that turns posts into ``InboundMessage`` and ``Reply`` into events.

It only translates: every message goes to ``on_message`` (the bot's inbox) and the HTTP
answer is given only after that returned; every reply the dispatcher hands to ``send``
is queued for the session in the injected ``ChatSessions`` and read from there by its open streams.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from bot.conversation import (
    Attachment,
    ChatSession,
    ChatSessions,
    ConversationRef,
    Identity,
    InboundMessage,
    OnMessage,
    RateLimit,
    RateLimiter,
    Reply,
    SendError,
    SessionEnd,
    VerificationProblem,
    VerificationRefused,
    Verifier,
)
from bot.rich_text import to_html, to_plain
from channels.webchat._files import file_name, read_file
from channels.webchat._http import (
    NO_STORE,
    Problem,
    api,
    client_ip,
    json_object,
    parse_event_id,
    too_many,
    too_many_problem,
)
from channels.webchat._limits import SignInLimits
from channels.webchat._page import render_page
from channels.webchat._sessions import (
    Streams,
    Waiter,
    digest_token,
    new_address,
    new_token,
)

log = logging.getLogger("channels.webchat")
T = TypeVar("T")

COOKIE_NAME = "deskbot_chat"
SESSION_HEADER = "X-Chat-Session"
MAX_TEXT = 4000
CODE_WINDOW = dt.timedelta(minutes=10)  # the rate-limit window for codes
CODES_PER_SESSION = 3  # codes per session per window (addresses, clients and all of them: SignInLimits)
_UNAVAILABLE = "the chat is not available right now: please try again in a moment"

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ACTION = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# How the verification service's refusals are answered: (status, the browser must start again).
_REFUSAL_STATUS = {
    VerificationProblem.NOT_SET_UP: (503, None), VerificationProblem.ADDRESS: (422, None),
    VerificationProblem.NOT_SENT: (503, None), VerificationProblem.BAD_FORMAT: (422, None),
    VerificationProblem.NO_CODE: (409, True), VerificationProblem.EXPIRED: (410, True),
    VerificationProblem.UNAVAILABLE: (503, None),
}


def reply_event(reply: Reply) -> str:
    """A reply as the data of one Server-Sent Event: the page shows "html" (rendered from the reply's Markdown,
    sanitised); "text" is its plain form."""
    return json.dumps(
        {
            "text": to_plain(reply.text),
            "html": to_html(reply.text),
            "buttons": [{"label": b.label, "value": b.value} for b in reply.buttons],
            "ticket_ref": reply.ticket_ref,
            "articles": [{"article_id": a.article_id, "title": a.title, "url": a.url} for a in reply.articles],
        },
        ensure_ascii=False,
    )


class WebChatChannel:
    """The web chat: mount ``router()`` on the app, hand the adapter to the bot.

    Sessions and the replies waiting for them are kept by ``sessions`` (deskbot: the desk), so any process on the
    database serves any session and a restart keeps them. The sign-in limits are counted by ``limiter``.

    Codes are the bot's one verification service (``verifier``): a code is issued for the identity
    ``webchat:<address>`` that the session will write as, and the session remembers which address it asked for.
    """

    name = "webchat"

    def __init__(
        self,
        *,
        verifier: Verifier,
        limiter: RateLimiter,
        limits: SignInLimits,
        sessions: ChatSessions,
        base_path: str = "/chat",
        keepalive_interval: float = 15.0,
        poll_interval: float = 1.0,
        max_streams: int = 3,
        max_file_bytes: int = 10 * 1024 * 1024,
        secure_cookies: bool = False,
    ) -> None:
        """``poll_interval``: how often an open stream looks for replies another process queued (this process's
        own wake it at once). ``secure_cookies``: Secure cookies even where a proxy in front speaks https."""
        base = "/" + base_path.strip("/")
        if base == "/" or any(c in base for c in "?#{}\"'<> "):
            raise ValueError(f"base_path must be a path like '/chat', not {base_path!r}")
        if min(max_streams, max_file_bytes) < 1 or keepalive_interval <= 0 or not 0 < poll_interval <= 1:
            raise ValueError("max_streams, max_file_bytes and keepalive_interval must be positive, "
                             "poll_interval at most 1 s")
        self._verifier = verifier
        self._limiter = limiter
        self._limits = limits
        self._sessions = sessions
        self._base = base
        self._keepalive = keepalive_interval
        self._poll = poll_interval
        self._max_streams = max_streams
        self._max_file_bytes = max_file_bytes
        self._secure_cookies = secure_cookies
        self._streams = Streams(per_session=max_streams)
        self._on_message: OnMessage | None = None
        self._stopped = False

    @property
    def files_path(self) -> str:
        """Where the page uploads files (its request bodies need room for a whole file)."""
        return f"{self._base}/api/files"

    # --- the ChannelAdapter protocol ---------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self._stopped = False

    async def send(self, ref: ConversationRef, reply: Reply) -> None:
        if ref.channel != self.name:
            raise SendError(f"web chat cannot deliver to a {ref.channel!r} conversation")
        if self._stopped:
            raise SendError("the web chat channel is stopped")
        data = reply_event(reply)
        try:
            queued = await self._sessions.add_reply(channel=self.name, address=ref.address, payload=data,
                                                    offers=reply.buttons)
        except Exception as exc:
            raise SendError(f"the web chat could not queue the reply for {ref.address!r}: {exc}") from exc
        if queued is None:
            raise SendError(f"no web chat session has conversation {ref.address!r} (it expired or ended)")
        self._streams.wake(ref.address)

    async def stop(self) -> None:
        """Refuse new messages and streams (503) and end the open streams."""
        self._stopped = True
        self._on_message = None
        self._streams.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while self._streams.count() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    @property
    def open_streams(self) -> int:
        """How many event streams are open in this process now (for health checks and tests)."""
        return self._streams.count()

    # --- HTTP --------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter()
        base = self._base
        router.add_api_route(base, self._page, methods=["GET"], include_in_schema=False, response_model=None)
        router.add_api_route(f"{base}/api/session", self._create_session, methods=["POST"], response_model=None)
        router.add_api_route(f"{base}/api/session", self._session_status, methods=["GET"], response_model=None)
        router.add_api_route(f"{base}/api/verify/start", self._verify_start, methods=["POST"], response_model=None)
        router.add_api_route(f"{base}/api/verify/confirm", self._verify_confirm, methods=["POST"], response_model=None)
        router.add_api_route(f"{base}/api/messages", self._post_message, methods=["POST"], response_model=None)
        router.add_api_route(self.files_path, self._post_file, methods=["POST"], response_model=None)
        router.add_api_route(f"{base}/api/events", self._events, methods=["GET"], response_model=None)
        return router

    async def _page(self, request: Request) -> Response:
        nonce = secrets.token_urlsafe(18)
        headers = {
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
                "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
        minutes = max(1, round(self._verifier.code_ttl.total_seconds() / 60))
        return HTMLResponse(render_page(base_path=self._base, nonce=nonce, code_minutes=minutes,
                                        max_file_bytes=self._max_file_bytes), headers=headers)

    async def _session(self, request: Request) -> ChatSession:
        token = request.headers.get(SESSION_HEADER) or request.cookies.get(COOKIE_NAME)
        found = await self._desk(self._sessions.find(digest=digest_token(token))) if token else SessionEnd.UNKNOWN
        if isinstance(found, ChatSession):
            return found
        if found is SessionEnd.IDLE:
            message = "this chat session has expired after a while without use: please sign in again"
        elif found is SessionEnd.LIFETIME:
            message = (f"this chat session has ended (a chat lasts at most {_duration(self._sessions.lifetime)}): "
                       "please sign in again")
        else:
            message = f"unknown or expired chat session: start one with POST {self._base}/api/session"
        raise Problem(401, message, restart=True, ended=found.value)

    async def _desk(self, call: Awaitable[T]) -> T:
        """Await the session store; a store that cannot answer is a 503, never a traceback."""
        try:
            return await call
        except Exception:
            log.exception("web chat: the session store did not answer")
            raise Problem(503, _UNAVAILABLE, retry=True) from None

    def _set_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE_NAME, token, max_age=int(self._sessions.lifetime.total_seconds()), path=self._base, httponly=True,
            samesite="strict", secure=self._secure_cookies or request.url.scheme == "https",
        )

    async def _count(self, limits: Sequence[RateLimit], refusal: str) -> None:
        """Count one event against ``limits``, or refuse the request (429) when one of them is reached."""
        wait = await self._ask_limiter(self._limiter.hit, limits)
        if wait is not None:
            too_many(refusal, wait)

    async def _ask_limiter(self, ask: Callable[[Sequence[RateLimit]], dt.timedelta | None],
                           limits: Sequence[RateLimit]) -> dt.timedelta | None:
        try:
            return await asyncio.to_thread(ask, limits)
        except Exception:
            # Limits that cannot be counted are no limits: refuse rather than let sign-ins through unchecked.
            log.exception("web chat: the sign-in limits could not be counted")
            raise Problem(503, _UNAVAILABLE, retry=True) from None

    @api
    async def _create_session(self, request: Request) -> Response:
        await self._count(self._limits.new_session(ip=client_ip(request)), "too many new chats")
        token = new_token()
        await self._desk(self._sessions.open(channel=self.name, digest=digest_token(token), address=new_address()))
        response = JSONResponse({"session": token}, headers=NO_STORE)
        self._set_cookie(request, response, token)
        return response

    @api
    async def _session_status(self, request: Request) -> Response:
        session = await self._session(request)
        return JSONResponse({"verified": session.verified, "email": session.email if session.verified else None},
                            headers=NO_STORE)

    @api
    async def _verify_start(self, request: Request) -> Response:
        session = await self._session(request)
        if session.verified:
            raise Problem(409, "this chat is already verified; start a new session to use another address",
                          verified=True, email=session.email)
        body, _ = await json_object(request)
        email = body.get("email")
        if not isinstance(email, str):
            raise Problem(422, "enter a valid work email address, like name@company.com")
        email = email.strip().lower()
        sent_before, window_left = await self._desk(self._sessions.codes_sent(session_id=session.id,
                                                                              window=CODE_WINDOW))
        if sent_before >= CODES_PER_SESSION:
            too_many("too many codes requested", window_left)
        try:
            sent = await self._verifier.send_code(channel=self.name, external_id=_identity(email), email=email,
                                                  also=self._limits.code_request(ip=client_ip(request)))
        except VerificationRefused as refused:
            raise _problem(refused) from None
        count = await self._desk(self._sessions.code_sent(session_id=session.id, external_id=_identity(sent.email),
                                                          email=sent.email, window=CODE_WINDOW))
        return JSONResponse({"sent": True, "email": sent.email, "expires_in": int(sent.expires_in.total_seconds()),
                             "codes_left": max(0, CODES_PER_SESSION - count)}, headers=NO_STORE)

    @api
    async def _verify_confirm(self, request: Request) -> Response:
        session = await self._session(request)
        if session.verified:
            raise Problem(409, "this chat is already verified", verified=True, email=session.email)
        body, _ = await json_object(request)
        code = body.get("code")
        code = code if isinstance(code, str) else ""
        email = session.email
        if email is None:
            raise Problem(409, "no code is waiting: ask for a new code", restart=True)
        try:
            verified = await self._verifier.check_code(channel=self.name, external_id=_identity(email), code=code,
                                                       also=self._limits.failed_code(ip=client_ip(request)))
        except VerificationRefused as refused:
            if refused.problem in (VerificationProblem.NO_CODE, VerificationProblem.EXPIRED) or (
                    refused.problem is VerificationProblem.WRONG and not refused.attempts_left):
                await self._desk(self._sessions.forget_pending(session_id=session.id))
            raise _problem(refused) from None
        token = new_token()  # a token seen before verification is worthless after it
        done = await self._desk(self._sessions.verified(session_id=session.id, external_id=_identity(verified),
                                                        email=verified, digest=digest_token(token)))
        if done is None:  # another request of this session verified meanwhile
            raise Problem(409, "this chat is already verified", verified=True, email=verified)
        response = JSONResponse({"verified": True, "email": done.email, "session": token}, headers=NO_STORE)
        self._set_cookie(request, response, token)
        return response

    async def _writer(self, request: Request) -> tuple[ChatSession, OnMessage]:
        session = await self._session(request)
        if not session.verified:
            raise Problem(403, "verify your email address before sending messages")
        on_message = self._on_message
        if on_message is None or self._stopped:
            raise Problem(503, _UNAVAILABLE, retry=True)
        return session, on_message

    @api
    async def _post_message(self, request: Request) -> Response:
        session, on_message = await self._writer(request)
        body, raw = await json_object(request)
        client_id = _client_id(body.get("id"))
        text, action = body.get("text"), body.get("action")
        if (text is None) == (action is None):
            raise Problem(422, "send either 'text' or 'action'")
        if action is not None:
            if not isinstance(action, str) or not _ACTION.fullmatch(action):
                raise Problem(422, "'action' must be the value of a button")
            label = await self._desk(self._sessions.offered_label(session_id=session.id, value=action))
            if label is None:
                raise Problem(422, "this button was not offered in this chat")
            text = label
        else:
            if not isinstance(text, str) or not text.strip():
                raise Problem(422, "the message is empty")
            text = text.strip()
            if len(text) > MAX_TEXT:
                raise Problem(422, f"the message is too long: at most {MAX_TEXT} characters ({len(text)} sent)")
            if "\x00" in text:
                raise Problem(422, "the message contains a NUL character")
        committed = await self._accept(on_message, self._message(session, client_id, text=text, action=action,
                                                                 raw=raw))
        return JSONResponse({"accepted": True, "duplicate": not committed}, status_code=202, headers=NO_STORE)

    @api
    async def _post_file(self, request: Request) -> Response:
        """One file, the request's body (``?id=<client id>&name=<file name>``, its type in Content-Type). It goes to
        the inbox like a mail's attachment: the bot keeps it or says in its reply why not."""
        session, on_message = await self._writer(request)
        client_id = _client_id(request.query_params.get("id"))
        name = file_name(request.query_params.get("name"))
        attachment = await read_file(request, name=name, max_bytes=self._max_file_bytes)
        raw = json.dumps({"id": client_id, "file": name, "content_type": attachment.content_type,
                          "bytes": len(attachment.content)}, ensure_ascii=False)
        message = self._message(session, client_id, text="", action=None, raw=raw, attachments=(attachment,))
        committed = await self._accept(on_message, message)
        return JSONResponse({"accepted": True, "duplicate": not committed, "file": name}, status_code=202,
                            headers=NO_STORE)

    def _message(self, session: ChatSession, client_id: str, *, text: str, action: str | None, raw: str,
                 attachments: tuple[Attachment, ...] = ()) -> InboundMessage:
        assert session.email is not None
        return InboundMessage(
            key=f"webchat:{session.address}:{client_id}",
            conversation=ConversationRef(self.name, address=session.address, thread=""),
            sender=Identity(self.name, external_id=_identity(session.email), display_name=session.email,
                            email=session.email, email_verified=True),
            text=text, action=action, attachments=attachments, received_at=dt.datetime.now(dt.UTC), raw=raw)

    async def _accept(self, on_message: OnMessage, message: InboundMessage) -> bool:
        try:
            # shielded: a browser that goes away mid-commit does not cancel the commit half way
            return await asyncio.shield(on_message(message))
        except Exception:
            log.exception("web chat: the inbox did not take message %s", message.key)
            raise Problem(503, "the message could not be saved: please send it again", retry=True) from None

    @api
    async def _events(self, request: Request) -> Response:
        session = await self._session(request)
        if not session.verified:
            raise Problem(403, "verify your email address before reading replies")
        if self._stopped:
            raise Problem(503, _UNAVAILABLE, retry=True)
        if self._streams.full(session.address):
            raise Problem(429, f"this chat is open in too many windows (at most {self._max_streams}): close one and "
                               "reload")
        after = parse_event_id(request.headers.get("last-event-id"))
        if after is None:
            after = parse_event_id(request.query_params.get("last_event_id"))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(self._stream(session, after), media_type="text/event-stream", headers=headers)

    async def _stream(self, session: ChatSession, after: int | None) -> AsyncIterator[str]:
        waiter = Waiter()
        if not self._streams.open(session.address, waiter):
            return  # two streams raced past the check in _events: this one ends, its reconnect gets the 429
        last = 0 if after is None else after  # a stream without Last-Event-ID gets all that is kept
        loop = asyncio.get_running_loop()
        keepalive_at = loop.time() + self._keepalive
        try:
            yield "retry: 3000\n\n"
            while not self._stopped:
                waiter.event.clear()
                batch = await self._sessions.replies_after(session_id=session.id, after=last)
                if batch is None or self._stopped:  # the session ended, or stop() woke us
                    break
                for event_id, data in batch:
                    yield f"id: {event_id}\ndata: {data}\n\n"
                    last = event_id
                if batch:
                    continue
                try:
                    await asyncio.wait_for(waiter.event.wait(), timeout=min(self._poll, keepalive_at - loop.time()))
                except TimeoutError:
                    if loop.time() >= keepalive_at:
                        yield ": keep-alive\n\n"
                        keepalive_at = loop.time() + self._keepalive
                        if not await self._sessions.touch(session_id=session.id):
                            break
        except Exception:
            # The store failed mid-stream: end it, the browser reconnects (and gets a 503 while it is down).
            log.exception("web chat: the reply stream of %s ended on an error", session.address)
        finally:
            self._streams.close(session.address, waiter)


def _duration(span: dt.timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}{'s' if seconds != size else ''}"
    return f"{seconds:g} seconds"


def _client_id(value: object) -> str:
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise Problem(422, "'id' is required: a client-generated id (a UUID) of at most 64 letters, digits, '-' or '_'")
    return value

def _identity(email: str) -> str:
    """The web chat identity of a verified address: the one its messages come from and its code is issued for."""
    return f"webchat:{email}"


def _problem(refused: VerificationRefused) -> Problem:
    if refused.problem is VerificationProblem.TOO_MANY:
        return too_many_problem(refused.message, refused.retry_after or dt.timedelta(minutes=1))
    if refused.problem is VerificationProblem.WRONG:
        left = refused.attempts_left or 0
        return Problem(400, refused.message, attempts_left=left, restart=left == 0)
    status, restart = _REFUSAL_STATUS[refused.problem]
    extra = {"restart": restart} if restart is not None else {}
    if refused.problem is VerificationProblem.UNAVAILABLE:
        extra["retry"] = True
    return Problem(status, refused.message, **extra)

