"""The web chat channel: a FastAPI router (page, verification, messages, Server-Sent Events)
and the ``ChannelAdapter`` that turns posts into ``InboundMessage`` and ``Reply`` into events.

It only translates: every message goes to ``on_message`` (the bot's inbox) and the HTTP
answer is given only after that returned; every reply the dispatcher hands to ``send``
is buffered for the session and pushed to its open streams.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from bot.conversation import (
    ConversationRef,
    Identity,
    InboundMessage,
    OnMessage,
    RateLimit,
    RateLimiter,
    Reply,
    SendError,
    VerificationProblem,
    VerificationRefused,
    Verifier,
)
from bot.rich_text import to_html, to_plain
from channels.webchat._http import (
    NO_STORE,
    Problem,
    api,
    client_ip,
    parse_event_id,
    json_object,
    too_many,
    too_many_problem,
)
from channels.webchat._limits import SignInLimits
from channels.webchat._page import render_page
from channels.webchat._sessions import (
    Session,
    SessionStore,
    StoreFull,
    Waiter,
)

log = logging.getLogger("channels.webchat")

COOKIE_NAME = "deskbot_chat"
SESSION_HEADER = "X-Chat-Session"
MAX_TEXT = 4000
CODE_WINDOW = 600.0  # seconds: the rate-limit window for codes
CODES_PER_SESSION = 3  # codes per session per window (addresses, clients and all of them: SignInLimits)
UNVERIFIED_IDLE = 1800.0  # seconds before an idle, unverified session is forgotten

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ACTION = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# How the verification service's refusals are answered: (status, the browser must start again).
_REFUSAL_STATUS = {
    VerificationProblem.NOT_SET_UP: (503, None), VerificationProblem.ADDRESS: (422, None),
    VerificationProblem.NOT_SENT: (503, None), VerificationProblem.BAD_FORMAT: (422, None),
    VerificationProblem.NO_CODE: (409, True), VerificationProblem.EXPIRED: (410, True),
    VerificationProblem.UNAVAILABLE: (503, None),
}


def _seconds(value: dt.timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


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

    Sessions are in memory (see ``channels.webchat._sessions``): run one HTTP process, or
    route each browser to the same process (sticky sessions). The sign-in limits are counted
    by ``limiter``, which deskbot keeps in its database.

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
        base_path: str = "/chat",
        keepalive_interval: float = 15.0,
        buffer_size: int = 200,
        session_idle_timeout: dt.timedelta | float = dt.timedelta(hours=24),
        session_lifetime: dt.timedelta | float = dt.timedelta(hours=12),
        max_streams: int = 3,
        max_sessions: int = 10_000,
    ) -> None:
        base = "/" + base_path.strip("/")
        if base == "/" or any(c in base for c in "?#{}\"'<> "):
            raise ValueError(f"base_path must be a path like '/chat', not {base_path!r}")
        if min(buffer_size, max_sessions, max_streams) < 1 or keepalive_interval <= 0:
            raise ValueError("buffer_size, max_sessions, max_streams and keepalive_interval must be positive")
        self._verifier = verifier
        self._limiter = limiter
        self._limits = limits
        self._max_streams = max_streams
        self._base = base
        self._keepalive = keepalive_interval
        self._idle = _seconds(session_idle_timeout)
        self._store = SessionStore(
            buffer_size=buffer_size,
            idle_timeout=self._idle,
            unverified_idle_timeout=min(UNVERIFIED_IDLE, self._idle),
            lifetime=_seconds(session_lifetime),
            max_sessions=max_sessions,
        )
        self._on_message: OnMessage | None = None
        self._stopped = False
        self._open_streams = 0

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
        with self._store.lock:
            session = self._store.by_address(ref.address)
            if session is None:
                raise SendError(f"no web chat session has conversation {ref.address!r} (it expired or the server restarted)")
            event_id = session.next_event_id
            session.next_event_id += 1
            session.replies.append((event_id, data))
            for button in reply.buttons:
                session.offer(button.value, button.label)
            waiters = list(session.waiters)
        for waiter in waiters:
            waiter.wake()

    async def stop(self) -> None:
        """Refuse new messages and streams (503) and end the open streams."""
        self._stopped = True
        self._on_message = None
        self._wake_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while self._open_streams and loop.time() < deadline:
            await asyncio.sleep(0.01)

    @property
    def open_streams(self) -> int:
        """How many event streams are open now (for health checks and tests)."""
        return self._open_streams

    def _wake_all(self) -> None:
        with self._store.lock:
            waiters = [w for s in self._store.all() for w in s.waiters]
        for waiter in waiters:
            waiter.wake()

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
        return HTMLResponse(render_page(base_path=self._base, nonce=nonce, code_minutes=max(1, round(self._verifier.code_ttl.total_seconds() / 60))),
                            headers=headers)

    def _session(self, request: Request) -> Session:
        token = request.headers.get(SESSION_HEADER) or request.cookies.get(COOKIE_NAME)
        with self._store.lock:
            session = self._store.get(token) if token else None
        if session is None:
            raise Problem(401, f"unknown or expired chat session: start one with POST {self._base}/api/session", restart=True)
        return session

    def _set_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE_NAME, token, max_age=int(min(self._idle, self._store.lifetime)), path=self._base, httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
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
            raise Problem(503, "the chat is not available right now: please try again in a moment", retry=True) from None

    @api
    async def _create_session(self, request: Request) -> Response:
        await self._count(self._limits.new_session(ip=client_ip(request)), "too many new chats")
        try:
            with self._store.lock:
                token, _ = self._store.create()
        except StoreFull:
            raise Problem(503, "the chat is full right now: please try again in a few minutes") from None
        response = JSONResponse({"session": token}, headers=NO_STORE)
        self._set_cookie(request, response, token)
        return response

    @api
    async def _session_status(self, request: Request) -> Response:
        session = self._session(request)
        return JSONResponse({"verified": session.verified, "email": session.email}, headers=NO_STORE)

    @api
    async def _verify_start(self, request: Request) -> Response:
        session = self._session(request)
        if session.verified:
            raise Problem(409, "this chat is already verified; start a new session to use another address",
                           verified=True, email=session.email)
        body, _ = await json_object(request)
        email = body.get("email")
        if not isinstance(email, str):
            raise Problem(422, "enter a valid work email address, like name@company.com")
        email = email.strip().lower()
        store = self._store
        with store.lock:
            session_times = _window(session.code_times, store.clock())
            if len(session_times) >= CODES_PER_SESSION:
                oldest_ends = CODE_WINDOW - (store.clock() - session_times[0])
                too_many("too many codes requested", dt.timedelta(seconds=oldest_ends))
        try:
            sent = await self._verifier.send_code(channel=self.name, external_id=_identity(email), email=email,
                                                  also=self._limits.code_request(ip=client_ip(request)))
        except VerificationRefused as refused:
            raise _problem(refused) from None
        with store.lock:
            session_times.append(store.clock())
            codes_left = max(0, CODES_PER_SESSION - len(session_times))
            session.pending_email = sent.email
        return JSONResponse({"sent": True, "email": sent.email, "expires_in": int(sent.expires_in.total_seconds()),
                             "codes_left": codes_left}, headers=NO_STORE)

    @api
    async def _verify_confirm(self, request: Request) -> Response:
        session = self._session(request)
        if session.verified:
            raise Problem(409, "this chat is already verified", verified=True, email=session.email)
        body, _ = await json_object(request)
        code = body.get("code")
        code = code if isinstance(code, str) else ""
        email = session.pending_email
        if email is None:
            raise Problem(409, "no code is waiting: ask for a new code", restart=True)
        try:
            verified = await self._verifier.check_code(channel=self.name, external_id=_identity(email), code=code,
                                                       also=self._limits.failed_code(ip=client_ip(request)))
        except VerificationRefused as refused:
            if refused.problem in (VerificationProblem.NO_CODE, VerificationProblem.EXPIRED) or (
                    refused.problem is VerificationProblem.WRONG and not refused.attempts_left):
                with self._store.lock:
                    session.pending_email = None
            raise _problem(refused) from None
        with self._store.lock:
            if session.verified:  # another request of this session verified meanwhile
                raise Problem(409, "this chat is already verified", verified=True, email=session.email)
            session.pending_email = None
            session.email = verified
            session.code_times.clear()
            token = self._store.rotate(session)
        response = JSONResponse({"verified": True, "email": session.email, "session": token}, headers=NO_STORE)
        self._set_cookie(request, response, token)
        return response

    @api
    async def _post_message(self, request: Request) -> Response:
        session = self._session(request)
        if not session.verified:
            raise Problem(403, "verify your email address before sending messages")
        on_message = self._on_message
        if on_message is None or self._stopped:
            raise Problem(503, "the chat is not available right now: please try again in a moment", retry=True)
        body, raw = await json_object(request)
        client_id = body.get("id")
        if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
            raise Problem(422, "'id' is required: a client-generated id (a UUID) of at most 64 letters, digits, '-' or '_'")
        text, action = body.get("text"), body.get("action")
        if (text is None) == (action is None):
            raise Problem(422, "send either 'text' or 'action'")
        if action is not None:
            if not isinstance(action, str) or not _ACTION.fullmatch(action):
                raise Problem(422, "'action' must be the value of a button")
            with self._store.lock:
                label = session.actions.get(action)
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
        assert session.email is not None
        message = InboundMessage(
            key=f"webchat:{session.key_id}:{client_id}",
            conversation=ConversationRef(self.name, address=session.address, thread=""),
            sender=Identity(self.name, external_id=_identity(session.email), display_name=session.email,
                            email=session.email, email_verified=True),
            text=text,
            action=action,
            received_at=dt.datetime.now(dt.UTC),
            raw=raw,
        )
        try:
            # shielded: a browser that goes away mid-commit does not cancel the commit half way
            committed = await asyncio.shield(on_message(message))
        except Exception:
            log.exception("web chat: the inbox did not take message %s", message.key)
            raise Problem(503, "the message could not be saved: please send it again", retry=True) from None
        return JSONResponse({"accepted": True, "duplicate": not committed}, status_code=202, headers=NO_STORE)

    @api
    async def _events(self, request: Request) -> Response:
        session = self._session(request)
        if not session.verified:
            raise Problem(403, "verify your email address before reading replies")
        if self._stopped:
            raise Problem(503, "the chat is not available right now: please try again in a moment", retry=True)
        with self._store.lock:
            streams = len(session.waiters)
        if streams >= self._max_streams:
            raise Problem(429, f"this chat is open in too many windows (at most {self._max_streams}): close one and "
                                "reload")
        after = parse_event_id(request.headers.get("last-event-id"))
        if after is None:
            after = parse_event_id(request.query_params.get("last_event_id"))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(self._stream(session, after), media_type="text/event-stream", headers=headers)

    async def _stream(self, session: Session, after: int | None) -> AsyncIterator[str]:
        waiter = Waiter()
        lock = self._store.lock
        with lock:
            if len(session.waiters) >= self._max_streams:
                return  # two streams raced past the check in _events: this one ends, its reconnect gets the 429
            session.waiters.add(waiter)
            self._open_streams += 1
            last = 0 if after is None else after  # a stream without Last-Event-ID gets all that is buffered
        try:
            yield "retry: 3000\n\n"
            while not self._stopped and not self._store.ended(session):
                with lock:
                    waiter.event.clear()
                    if self._stopped:  # stop() may have woken us just before the clear
                        break
                    batch = [(n, data) for n, data in session.replies if n > last]
                for event_id, data in batch:
                    yield f"id: {event_id}\ndata: {data}\n\n"
                    last = event_id
                if batch:
                    continue
                try:
                    await asyncio.wait_for(waiter.event.wait(), timeout=self._keepalive)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            with lock:
                session.waiters.discard(waiter)
                session.last_seen = self._store.clock()
                self._open_streams -= 1


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


def _window(times: collections.deque[float], now: float) -> collections.deque[float]:
    while times and now - times[0] >= CODE_WINDOW:
        times.popleft()
    return times
