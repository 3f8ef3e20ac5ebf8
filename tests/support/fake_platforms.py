"""Fake Slack and Telegram servers on loopback: each answers its platform's HTTP API like the real one and records every
call. The fixtures in conftest.py (``fake_slack``, ``fake_telegram``) start and stop them."""

from __future__ import annotations

import json
import threading
import time


class FakeSlack:
    """Answers ``POST /api/<method>`` like Slack's Web API and records every call.

    ``users`` maps user ids to (name, email) for ``users.info``/``users.lookupByEmail``, all full members of
    the workspace ``TEAM`` unless ``user_fields[id]`` says otherwise (``{"is_restricted": True}``, ``{"team_id": ...}``);
    ``rate_limit[method] = n`` answers the next n calls of that method with 429 and ``Retry-After``;
    ``channels`` maps channel ids to names for ``conversations.info``. ``files[name] = bytes`` are served at
    ``file_url(name)`` (GET with the bot token, like ``url_private_download``; ``file_delay`` seconds late) and
    every fetch is recorded in ``file_gets`` as (name, Authorization header).
    """

    TEAM = "T1"  # the workspace the app is installed in (auth.test)

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list[tuple[str, dict]] = []
        self.users: dict[str, tuple[str, str | None]] = {}
        self.user_fields: dict[str, dict] = {}  # users.info fields beyond name and email (guest flags, team_id)
        self.rate_limit: dict[str, int] = {}
        self.retry_after = 7
        self.delay: dict[str, float] = {}  # seconds a method takes to answer (a slow Slack)
        self.socket_url = ""  # what apps.connections.open hands out (a test's WebSocket server)
        self.channels: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.file_delay = 0.0
        self.file_gets: list[tuple[str, str | None]] = []
        self._ts = 1_700_000_000_000_100
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs

                method = self.path.split("?", 1)[0].rsplit("/", 1)[-1]  # Bolt's auth.test has ?team_id=... on the URL
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if "json" in self.headers.get("Content-Type", ""):
                    args = json.loads(raw) if raw else {}
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                self._answer(method, args)

            def do_GET(self) -> None:  # noqa: N802 - users.info and a few others are GETs
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                if parts.path.startswith(FakeSlack.FILES_PATH):
                    self._file(parts.path[len(FakeSlack.FILES_PATH):])
                    return
                self._answer(parts.path.rsplit("/", 1)[-1], {k: v[0] for k, v in parse_qs(parts.query).items()})

            def _file(self, name: str) -> None:
                auth = self.headers.get("Authorization")
                with fake._lock:
                    fake.file_gets.append((name, auth))
                    content = fake.files.get(name)
                if fake.file_delay:
                    time.sleep(fake.file_delay)
                if not (auth or "").startswith("Bearer xoxb-"):  # Slack sends the unsigned-in to its sign-in page
                    status, data, kind = 302, b"", "text/html"
                elif content is None:
                    status, data, kind = 404, b"file not found", "text/plain"
                else:
                    status, data, kind = 200, content, "application/octet-stream"
                try:
                    self.send_response(status)
                    if status == 302:
                        self.send_header("Location", "https://slack.com/signin")
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # a client that gave up waiting
                    pass

            def _answer(self, method: str, args: dict) -> None:

                status, body, headers = fake.answer(method, args, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    FILES_PATH = "/files-pri/T1-F1/download/"

    def file_url(self, name: str) -> str:
        """Where ``files[name]`` is served, as a file object's ``url_private_download``."""
        return self.url.removesuffix("/api/") + self.FILES_PATH + name

    def answer(self, method: str, args: dict, auth: str | None) -> tuple[int, dict, dict]:
        if self.delay.get(method):
            time.sleep(self.delay[method])
        with self._lock:
            if self.rate_limit.get(method):
                self.rate_limit[method] -= 1
                self.calls.append((f"{method} (429)", args))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)}
            self.calls.append((method, args))
            if method == "apps.connections.open":  # Socket Mode: the app-level token asks for a WebSocket URL
                if not (auth or "").startswith("Bearer xapp-") or not self.socket_url:
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
                return 200, {"ok": True, "url": self.socket_url}, {}
            if auth is None or not auth.startswith("Bearer xoxb-"):
                return 200, {"ok": False, "error": "not_authed"}, {}
            if method == "auth.test":
                return 200, {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": self.TEAM, "user": "deskbot"}, {}
            if method == "users.info":
                user = args.get("user", "")
                if user not in self.users:
                    return 200, {"ok": False, "error": "user_not_found"}, {}
                name, email = self.users[user]
                return 200, {"ok": True, "user": {"id": user, "name": name, "is_bot": False, "team_id": self.TEAM,
                                                  "profile": {"real_name": name, "email": email},
                                                  **self.user_fields.get(user, {})}}, {}
            if method == "conversations.info":
                channel = args.get("channel", "")
                if channel not in self.channels:
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                return 200, {"ok": True, "channel": {"id": channel, "name": self.channels[channel]}}, {}
            if method == "users.lookupByEmail":
                found = next((uid for uid, (_, email) in self.users.items() if email == args.get("email")), None)
                if found is None:
                    return 200, {"ok": False, "error": "users_not_found"}, {}
                return 200, {"ok": True, "user": {"id": found}}, {}
            if method == "chat.postMessage":
                self._ts += 100
                ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
                return 200, {"ok": True, "channel": args.get("channel"), "ts": ts,
                             "message": {"text": args.get("text"), "ts": ts}}, {}
            return 200, {"ok": True}, {}

    def posted(self, method: str = "chat.postMessage") -> list[dict]:

        with self._lock:
            found = [dict(args) for m, args in self.calls if m == method]
        for args in found:  # form-encoded clients send blocks as a JSON string
            if isinstance(args.get("blocks"), str):
                args["blocks"] = json.loads(args["blocks"])
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeTelegram:
    """Answers ``POST /bot<token>/<method>`` like the Bot API and serves ``GET /file/bot<token>/<path>``.

    ``updates`` are handed out by getUpdates from its ``offset``; ``files[file_id] = bytes`` backs getFile;
    ``fail[method]`` is a list of (status, description, retry_after) answered to the next calls of that method.
    Every call is recorded in ``calls`` as (method, arguments), JSON-encoded arguments decoded.
    """

    TOKEN = "123456:TEST-TOKEN"
    BOT = {"id": 123456, "is_bot": True, "first_name": "Helpdesk", "username": "helpdesk_bot"}

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list[tuple[str, dict]] = []
        self.updates: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, list[tuple[int, str, int | None]]] = {}
        self._message_id = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs

                _, token, method = self.path.split("/", 2)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if "json" in self.headers.get("Content-Type", ""):
                    args = json.loads(raw) if raw else {}
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                for key, value in list(args.items()):
                    if isinstance(value, str) and value[:1] in "[{":
                        args[key] = json.loads(value)
                status, body = fake.answer(method, args) if token == f"bot{fake.TOKEN}" else (
                    401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                self._send(status, json.dumps(body).encode(), "application/json")

            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import unquote

                path, prefix = unquote(self.path), f"/file/bot{fake.TOKEN}/"  # PTB quotes the token's ':'
                content = fake.files.get(path[len(prefix):]) if path.startswith(prefix) else None
                if content is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, content, "application/octet-stream")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # a long poll the client gave up
                    pass

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{port}/bot"
        self.file_url = f"http://127.0.0.1:{port}/file/bot"

    def answer(self, method: str, args: dict) -> tuple[int, dict]:
        with self._lock:
            if self.fail.get(method):
                status, description, retry_after = self.fail[method].pop(0)
                self.calls.append((f"{method} ({status})", args))
                body = {"ok": False, "error_code": status, "description": description}
                if retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                return status, body
            if method != "getUpdates":
                self.calls.append((method, args))
            if method == "getMe":
                return 200, {"ok": True, "result": self.BOT}
            if method == "getUpdates":
                offset = int(args.get("offset") or 0)
                pending = [u for u in self.updates if u["update_id"] >= offset]
            elif method == "sendMessage":
                self._message_id += 1
                return 200, {"ok": True, "result": {
                    "message_id": self._message_id, "date": int(time.time()), "from": self.BOT, "text": args["text"],
                    "chat": {"id": int(args["chat_id"]), "type": "private"}}}
            elif method == "getFile":
                file_id = args["file_id"]
                return 200, {"ok": True, "result": {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                                                    "file_size": len(self.files.get(file_id, b"")), "file_path": file_id}}
            else:  # setMyCommands, setWebhook, deleteWebhook, answerCallbackQuery, editMessageReplyMarkup
                return 200, {"ok": True, "result": True}
        if not pending:
            time.sleep(0.2)  # a short long poll
        return 200, {"ok": True, "result": pending}

    def sent(self, method: str = "sendMessage") -> list[dict]:
        with self._lock:
            return [dict(args) for m, args in self.calls if m == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
