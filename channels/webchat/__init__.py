"""The web chat channel: a page, email verification by one-time code, messages over HTTP
and replies over Server-Sent Events. Mount ``WebChatChannel(...).router()`` on the app and
hand the channel to the bot like any ``ChannelAdapter``.

State is kept in memory: a deployment with several HTTP processes needs sticky sessions.
"""

from channels.webchat._channel import COOKIE_NAME, SESSION_HEADER, WebChatChannel

__all__ = ["COOKIE_NAME", "SESSION_HEADER", "WebChatChannel"]
