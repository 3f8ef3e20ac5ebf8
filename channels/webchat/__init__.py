"""The web chat channel: a page, email verification by one-time code, messages and files over HTTP
and replies over Server-Sent Events. Mount ``WebChatChannel(...).router()`` on the app and
hand the channel to the bot like any ``ChannelAdapter``.

Sessions and the replies waiting for them are kept by an injected ``ChatSessions`` (deskbot: the desk), so
several HTTP processes on one database need no sticky sessions and a restart forgets nothing.
One-time codes are the bot's verification service (an injected ``Verifier``, codes kept in the desk);
the chat's own sign-in limits (``SignInLimits``) are counted by an injected ``RateLimiter``.
"""

from channels.webchat._channel import COOKIE_NAME, SESSION_HEADER, WebChatChannel
from channels.webchat._limits import SignInLimits

__all__ = ["COOKIE_NAME", "SESSION_HEADER", "SignInLimits", "WebChatChannel"]
