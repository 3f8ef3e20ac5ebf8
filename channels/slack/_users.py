"""Who a Slack user is, and whether Slack vouches for their profile email.

Only a full member of the workspace the app is installed in (or of its Enterprise Grid
organisation) has a verified email. Guests, Slack Connect users of other organisations,
bots and deactivated accounts keep their name but lose the email: an address the desk may
not use to link identities or recognise an agent is one it should not hold at all (a later
code path could trust it, and it would end up in agents' hints). When such a user becomes a
full member, ``users.info`` says so after the cache's TTL and the email links then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation import Identity

log = logging.getLogger("deskbot.slack")

CHANNEL = "slack"

# users.info flags that mean "not one of the workspace's own full members", with what to call them in the log.
_OUTSIDER_FLAGS = (("is_restricted", "a guest"), ("is_ultra_restricted", "a single-channel guest"),
                   ("is_stranger", "a Slack Connect user"), ("is_bot", "a bot"), ("is_app_user", "an app"),
                   ("deleted", "deactivated"))


@dataclass(frozen=True)
class Workspace:
    """The organisation the app is installed in, as ``auth.test`` names it (None fields: not known)."""

    team_id: str | None
    enterprise_id: str | None = None

    def includes(self, team: str | None) -> bool:
        """True for the workspace's own team id or its Grid organisation's id."""
        return bool(team) and team in (self.team_id, self.enterprise_id)


def outsider_reason(user: Mapping[str, Any], *, home: Workspace) -> str | None:
    """Why ``users.info``'s ``user`` is not a full member of ``home``, or None when they are one."""
    for flag, what in _OUTSIDER_FLAGS:
        if user.get(flag):
            return what
    enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
    if enterprise:  # Enterprise Grid: any workspace of the same organisation is the company
        return None if enterprise == home.enterprise_id else f"of another organisation ({enterprise})"
    team = user.get("team_id")
    return None if home.includes(team) else f"of another workspace ({team or 'none given'})"


def foreign_team(teams: tuple[str | None, ...], *, home: Workspace) -> str | None:
    """The first of a payload's team fields (``user_team``, ``team``...) that names another organisation."""
    return next((team for team in teams if team and not home.includes(team)), None)


def unverified(identity: Identity) -> Identity:
    return Identity(identity.channel, identity.external_id, identity.display_name)


class UserDirectory:
    """``users.info`` with an in-process TTL cache: the Slack identity, with the profile's email if it is vouched for."""

    def __init__(self, client: AsyncWebClient, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic,
                 timeout: float = 1.5):
        self.client, self.ttl, self.clock = client, ttl, clock
        self.timeout = timeout  # users.info runs before the ack: Slack's 3 seconds are never spent waiting on it
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._by_email: dict[str, tuple[float, str | None]] = {}

    async def identity(self, user_id: str, *, home: Workspace) -> Identity:
        now = self.clock()
        hit = self._cache.get(user_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id), self.timeout)
        except (SlackApiError, OSError, TimeoutError, asyncio.TimeoutError) as exc:
            # Without the profile the message still counts; the identity links to the email on a later message.
            log.warning("users.info %s failed: %s", user_id, exc)
            return Identity(CHANNEL, user_id)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("real_name") or profile.get("display_name") or user.get("real_name") or user.get("name") or ""
        identity = Identity(CHANNEL, user_id, name)
        email = profile.get("email") or None
        outsider = outsider_reason(user, home=home)
        if email and outsider:
            log.info("Slack user %s is %s: their profile email is not trusted", user_id, outsider)
        elif email:
            identity = Identity(CHANNEL, user_id, name, email, email_verified=True)
        self._cache[user_id] = (now, identity)
        return identity

    async def user_id_for_email(self, email: str) -> str | None:
        now = self.clock()
        hit = self._by_email.get(email)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            response = await self.client.users_lookupByEmail(email=email)
            found = (response.get("user") or {}).get("id")
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise
            found = None
        self._by_email[email] = (now, found)
        return found
