"""The agent service layer (see ``bot.agents._service``): what agents and admins do, one function each."""

from bot.agents._service import (
    Actor,
    Article,
    answered_before,
    assign,
    assign_to_group,
    confirm_intent,
    link_to_problem,
    merge,
    note,
    record_csat,
    reply,
    requester_ref,
    send_article,
    set_priority,
    set_status,
    signed,
)

from bot.agents._channel_actions import AgentDesk  # noqa: E402 - it calls the functions above

__all__ = ["AgentDesk", "Actor", "Article", "answered_before", "assign", "assign_to_group", "confirm_intent", "link_to_problem", "merge", "note",
           "record_csat", "reply", "requester_ref", "send_article", "set_priority", "set_status", "signed"]
