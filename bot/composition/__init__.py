"""The composition root: the one place that builds engines, services and channels from settings.

``Deskbot`` builds the parts, ``CHANNELS`` is the channel registry (one entry per adapter) and
``build_service`` puts together what ``deskbot serve`` runs, the end-to-end tests included."""

from bot.composition._channels import (
    CHANNELS,
    Availability,
    BuiltChannel,
    Capabilities,
    ChannelEntry,
    ChannelState,
    CodeDelivery,
    channel_states,
    code_delivery,
    enabled_channels,
)
from bot.composition._deskbot import Deskbot, DeskRateLimiter
from bot.composition._service import Service, build_service

__all__ = ["CHANNELS", "Availability", "BuiltChannel", "Capabilities", "ChannelEntry", "ChannelState", "CodeDelivery",
           "DeskRateLimiter", "Deskbot", "Service", "build_service", "channel_states", "code_delivery",
           "enabled_channels"]
