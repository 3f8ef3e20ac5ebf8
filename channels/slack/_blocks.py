"""Reply -> Block Kit: the text in sections, the articles as links, the buttons in one actions block."""

from __future__ import annotations

from typing import Any

from bot.conversation import Reply

ACTION_PREFIX = "deskbot:"  # every button's action_id starts so; the value travels in the button's value
SECTION_LIMIT = 3000  # characters of one section's text
MAX_BUTTONS = 25  # elements of one actions block
MAX_OPTIONS = 100  # options of one select menu


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (the only three it asks to escape)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chunks(text: str, size: int = SECTION_LIMIT) -> list[str]:
    out: list[str] = []
    while text:
        if len(text) <= size:
            out.append(text)
            break
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > 0 else size
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return out


def fallback_text(reply: Reply, mentions: str = "") -> str:
    """The notification text (and what clients without blocks show)."""
    text = escape(reply.text)
    text = text if len(text) <= 3900 else text[:3899] + "…"
    return f"{mentions}{text}" if mentions else text


def reply_blocks(reply: Reply, mentions: str = "") -> list[dict[str, Any]]:
    """``mentions`` is ready-made mrkdwn (``<@U123> ``) put before the text; ``*bold*`` in the text stays bold."""
    text = mentions + escape(reply.text)  # the bot's and agents' text is shown as written, never as markup
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                                    for chunk in _chunks(text or " ")]
    if reply.articles:
        links = "  ·  ".join(f"<{a.url}|{escape(a.article_id)} {escape(a.title)}>" for a in reply.articles)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links[:SECTION_LIMIT]}]})
    if reply.buttons or reply.menus:
        elements = []
        for i, button in enumerate(reply.buttons[:MAX_BUTTONS]):
            element: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": button.label[:75]},
                                       "action_id": f"{ACTION_PREFIX}{i}:{button.value}"[:255]}
            if button.url:
                element["url"] = button.url
            else:
                element["value"] = button.value[:2000]
                if button.value == "yes":
                    element["style"] = "primary"
            elements.append(element)
        for i, menu in enumerate(reply.menus):
            elements.append({"type": "static_select", "action_id": f"{ACTION_PREFIX}menu:{i}",
                             "placeholder": {"type": "plain_text", "text": menu.label[:150]},
                             "options": [{"text": {"type": "plain_text", "text": o.label[:75]}, "value": o.value[:150]}
                                         for o in menu.options[:MAX_OPTIONS]]})
        blocks.append({"type": "actions", "block_id": "deskbot_actions", "elements": elements[:MAX_BUTTONS]})
    return blocks


def home_view(reply: Reply) -> dict[str, Any]:
    """The App Home tab: the reply's blocks under a header."""
    return {"type": "home", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "IT service desk"}},
                                       *reply_blocks(reply),
                                       {"type": "context", "elements": [{"type": "mrkdwn", "text":
                                        "Write to me here, mention me in a channel, or use `/it <problem>`."}]}]}


def reply_modal(*, private_metadata: str, ticket_ref: str) -> dict[str, Any]:
    """The form behind an agent's "Reply to requester" button."""
    return {
        "type": "modal", "callback_id": "deskbot_reply", "private_metadata": private_metadata[:3000],
        "title": {"type": "plain_text", "text": f"Reply on {ticket_ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Send"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": "reply", "label": {"type": "plain_text",
                                                                    "text": "Reply to the requester"},
                    "element": {"type": "plain_text_input", "action_id": "text", "multiline": True}},
                   {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    "Goes to the requester on the channel they used. Anything else you write in the "
                    "ticket's thread stays an internal note."}]}],
    }
