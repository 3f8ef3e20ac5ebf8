"""The Slack channel: a slack-bolt ``AsyncApp`` over HTTP (mounted in deskbot's app) or Socket Mode.

Employees write in a DM, mention the bot in a channel, use ``/it`` or the message shortcut;
agents get new tickets in their group's channel with buttons. The app's manifest is
``channels/slack/manifest.yaml``.
"""

from channels.slack._app import REPLY_CALLBACK, SHORTCUT_CALLBACK
from channels.slack._users import UserDirectory
from channels.slack._blocks import home_view, reply_blocks
from channels.slack._channel import PATHS, SLACK_API_URL, SlackChannel

__all__ = ["PATHS", "REPLY_CALLBACK", "SHORTCUT_CALLBACK", "SLACK_API_URL", "SlackChannel", "UserDirectory",
           "home_view", "reply_blocks"]
