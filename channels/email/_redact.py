"""Taking refused attachments out of a stored raw mail: each one's MIME part becomes a short text part
naming the file and why it was removed, so the stored mail keeps its shape but not the file's bytes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email import message_from_string, policy
from email.message import EmailMessage

from bot.conversation import Attachment

log = logging.getLogger("deskbot.email")


def drop_attachments(raw: str, refused: Sequence[tuple[Attachment, str]]) -> str:
    """``raw`` without the parts whose file name and decoded content are one of ``refused`` (attachment, reason).

    A mail the email package cannot write back keeps only its headers: the bytes must go either way.
    """
    if not refused:
        return raw
    try:
        message = message_from_string(raw, policy=policy.default)
        for part in message.walk():
            reason = _refusal(part, refused)
            if reason is not None:
                name = part.get_filename() or "attachment"
                # named after the file, so whoever reads the stored mail sees what stood there
                part.set_content(f"[The attachment {name!r} was removed by the IT service desk: {reason}]\n",
                                 disposition="inline", filename=f"{name}.removed.txt")
        return message.as_string()
    except Exception:  # noqa: BLE001 - malformed MIME of every kind; the fallback below is safe for all
        log.warning("could not rewrite a raw mail without its refused attachments; keeping its headers only",
                    exc_info=True)
        head = raw.replace("\r\n", "\n").split("\n\n", 1)[0]
        return f"{head}\n\n[The body was removed by the IT service desk: it held a refused attachment.]\n"


def _refusal(part: EmailMessage, refused: Sequence[tuple[Attachment, str]]) -> str | None:
    if part.is_multipart():
        return None
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes) or not content:
        return None
    name = part.get_filename() or "attachment"  # as channels.email._parse names an attachment
    return next((reason for attachment, reason in refused if (attachment.filename, attachment.content) == (name, content)),
                None)
