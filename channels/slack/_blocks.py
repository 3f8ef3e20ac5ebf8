"""Reply -> Block Kit: the text (Markdown, ``bot.rich_text``) as mrkdwn in sections, the articles as links, the
buttons in one actions block."""

from __future__ import annotations

from typing import Any

from bot.conversation import Reply
from bot.rich_text import to_slack

ACTION_PREFIX = "deskbot:"  # every button's action_id starts so; the value travels in the button's value
SECTION_LIMIT = 3000  # characters of one section's text
FALLBACK_LIMIT = 3900  # characters of a message's top-level text Slack shows in full
MAX_BUTTONS = 25  # elements of one actions block
MAX_OPTIONS = 100  # options of one select menu


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (the only three it asks to escape)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, size: int) -> int:
    """Where to end a piece of at most ``size`` characters of mrkdwn: at a paragraph, a line or a space where there
    is one, and never inside a ``<url|text>`` link or an ``&amp;`` escape."""
    cut = next((at for at in (text.rfind(s, 0, size) for s in ("\n\n", "\n", " ")) if at > 0), size)
    for opening, closing in (("&", ";"), ("<", ">")):  # an escape may sit inside a link, not the other way
        start = text.rfind(opening, 0, cut)
        if start > 0 and text.find(closing, start, cut) < 0:
            cut = start
    return cut


def _chunks(text: str, size: int = SECTION_LIMIT) -> list[str]:
    out: list[str] = []
    while text:
        if len(text) <= size:
            out.append(text)
            break
        cut = _cut(text, size)
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return out


def fallback_text(reply: Reply, mentions: str = "") -> str:
    """The notification text (and what clients without blocks show), in mrkdwn; a long one is cut where a section
    would be."""
    text = to_slack(reply.text)
    if len(text) > FALLBACK_LIMIT:
        text = text[:_cut(text, FALLBACK_LIMIT - 1)].rstrip() + "…"
    return f"{mentions}{text}" if mentions else text


def reply_blocks(reply: Reply, mentions: str = "") -> list[dict[str, Any]]:
    """``mentions`` is ready-made mrkdwn (``<@U123> ``) put before the text; the text is Markdown, shown as mrkdwn
    (``**bold**`` becomes ``*bold*``, ``[text](url)`` becomes ``<url|text>``)."""
    text = mentions + to_slack(reply.text)
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
