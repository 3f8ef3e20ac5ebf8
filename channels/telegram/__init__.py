"""The Telegram channel: a python-telegram-bot ``Application`` behind deskbot's HTTP app (``/telegram/webhook``,
the secret token checked on every update) or polling the Bot API, and replies in Telegram's HTML parse mode
with inline keyboards. Employees write to the bot in a private chat or mention it in a group; /start, /help,
/new, /status and /link are its commands (``setMyCommands``).
"""

from channels.telegram._channel import API_URL, FILE_URL, SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from channels.telegram._inbound import COMMANDS
from channels.telegram._render import MAX_MESSAGE, render, shown, split

__all__ = ["API_URL", "COMMANDS", "FILE_URL", "MAX_MESSAGE", "SECRET_HEADER", "WEBHOOK_PATH", "TelegramChannel",
           "render", "shown", "split"]
