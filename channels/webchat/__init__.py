"""The web chat channel: a page, email verification by one-time code, messages over HTTP
and replies over Server-Sent Events. Mount ``WebChatChannel(...).router()`` on the app and
hand the channel to the bot like any ``ChannelAdapter``.

Sessions are kept in memory: a deployment with several HTTP processes needs sticky sessions.
One-time codes are the bot's verification service (an injected ``Verifier``, codes kept in the desk);
the chat's own sign-in limits (``SignInLimits``) are counted by an injected ``RateLimiter``.
"""

from channels.webchat._channel import COOKIE_NAME, SESSION_HEADER, WebChatChannel
from channels.webchat._limits import SignInLimits

__all__ = ["COOKIE_NAME", "SESSION_HEADER", "SignInLimits", "WebChatChannel"]
