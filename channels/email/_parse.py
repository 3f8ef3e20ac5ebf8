"""Reading one inbound mail: the new text only, the thread it belongs to, and whether a machine sent it."""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from bot.conversation import Attachment

LOOP_HEADER = "X-Loop"
LOOP_VALUE = "deskbot"
_MACHINE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(\+.*)?@", re.I)
# Where the quoted history starts (matched at the start of a stripped line): one pattern, one try a line.
# A dash or underscore run is entered only at its first character: tried inside it too, each try would
# take the rest of the run (quadratic in the run's length).
_QUOTE_START = re.compile(
    r"(?<!-)-{2,}\s*(?:Original Message|Message d'origine)\s*-{2,}"
    r"|On .{4,200}wrote:\s*$"
    r"|Le .{4,200}a écrit\s?:\s*$"
    r"|(?:From|De)\s?:\s.+"  # Outlook's header block of the quoted mail
    r"|(?<!_)_{10,}\s*$"
    r"|Begin forwarded message:",
    re.I,
)
# Where a forwarded mail starts (Gmail, Outlook, Apple Mail; English and French): what was forwarded is part of
# the message (a forwarded phishing mail is the report), so it is kept after FORWARD_MARK, not cut as history.
_FORWARD_START = re.compile(r"(?<!-)-{2,}\s*(?:Forwarded message|Message transféré)\s*-{2,}"
                            r"|Begin forwarded message:|Début du message réexpédié\s?:", re.I)
_FORWARD_HEADER = re.compile(r"^(From|De|Date|Sent|Envoyé|To|À|Cc|Reply-To|Subject|Objet)\s?:", re.I)
FORWARD_MARK = "---------- Forwarded message ----------"
_SIGNATURE = re.compile(r"^(--|-- |—)\s*$|^(Sent from (my )?[\w .-]{2,40}|Envoyé (de|depuis|à partir de) .{2,40})$", re.I)
_CLOSING = re.compile(r"^(kind |best |warm |many )?(regards|thanks|thank you|cheers|cordialement|bien à vous|"
                      r"merci|bonne journée|sincerely)[,.!]?$", re.I)
_ATTRIBUTION = re.compile(r"^(On .{4,200}|Le .{4,200})(wrote|a écrit)\s?:\s*$", re.I)
_BLANK_RUN = re.compile(r"\n{3,}")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_C1_CONTROL = re.compile("[\x80-\x9f]")
# "[" is excluded inside too: with it, "[cid:[cid:[cid:..." rescanned to the end from every "[cid:".
_INLINE_IMAGE = re.compile(r"\[cid:[^\[\]]+\]")
_SUBJECT_TICKET = re.compile(r"\[#(\d{3,18})\]")
# RFC 5322's line limit: a longer subject is cut here, so nothing longer is stored, matched or echoed.
MAX_SUBJECT_CHARS = 998
# What of a header's raw value is decoded. The email package's header parser grows faster than linearly
# (an 80 KB subject took 0.2 s and a burst of garbage collection, 320 KB took 1.4 s); 8 KB holds any
# 998-character subject even as encoded words of 4-byte characters (about 6.2 KB with folding), and the
# first of a References list, which is the one read.
MAX_HEADER_CHARS = 8 * 1024


class _BoundedHeaders(EmailPolicy):
    """policy.default, decoding at most MAX_HEADER_CHARS of each header value, each distinct value once.

    The email package parses a header anew on every read, and reads Content-Type about ten times a mail
    (get_body, get_content_type): half of a small mail's parse. Its header objects are immutable strings, so
    one parse serves every read of the same value (the cache holds at most 512 values of at most 8 KB)."""

    def header_fetch_parse(self, name: str, value: str):  # noqa: ANN201 - as EmailPolicy's
        return _parsed_header(self, name, value[:MAX_HEADER_CHARS])


@functools.lru_cache(maxsize=512)
def _parsed_header(policy: EmailPolicy, name: str, value: str):  # noqa: ANN202 - the header registry's type
    return EmailPolicy.header_fetch_parse(policy, name, value)


_POLICY = _BoundedHeaders()


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without angle brackets; a content hash when the mail has none
    sender: str  # lower-cased address
    sender_name: str
    subject: str
    text: str  # the new text, quotes and signature removed
    full_text: str
    thread_root: str  # the first message of the thread (References, then In-Reply-To, then itself)
    automated: str | None
    attachments: tuple[Attachment, ...] = field(default=())
    ticket_ref: int | None = None  # "[#1234]" in the subject
    # Message-IDs this mail says it answers: In-Reply-To and References, and for a bounce the Message-ID
    # of the original mail it reports on. Only a whole Message-ID that deskbot itself sent proves anything.
    cites: tuple[str, ...] = ()


class _TextFromHtml(HTMLParser):
    _SKIP = {"script", "style", "head", "title"}
    _BREAK = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _stray_angles_escaped(markup: str) -> str:
    """Every ``<`` with no ``>`` before the next ``<`` is text, not a tag: written as ``&lt;``.

    Python 3.11's HTMLParser rescans to the end of the input for each such ``<`` (50,000 of
    them took 9 s); after this one linear pass every ``<`` it sees closes before the next one.
    """
    first, *rest = markup.split("<")
    return first + "".join(("<" if ">" in part else "&lt;") + part for part in rest)


def html_to_text(markup: str) -> str:
    parser = _TextFromHtml()
    try:
        parser.feed(_stray_angles_escaped(markup))
        parser.close()
    except Exception:  # noqa: BLE001 - broken HTML still yields what was read
        pass
    text = html.unescape("".join(parser.parts)).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def new_text(full: str) -> str:
    """The part of a mail its author just wrote: above the quoted history and the signature; of a forward, what
    the forwarder says, then FORWARD_MARK and what they forwarded (its subject, then its own new text).

    A bottom-posted reply (the new text under the quote) is found too.
    """
    lines = full.splitlines()
    at = next((i for i, line in enumerate(lines) if _FORWARD_START.match(line.strip())), None)
    if at is None:
        return _own_text(full)
    return "\n".join(p for p in (_own_text("\n".join(lines[:at])), FORWARD_MARK, forwarded_text(lines[at + 1:])) if p)


def forwarded_text(lines: list[str]) -> str:
    """A forwarded mail's text: its header block gives only its subject, then its body's new text."""
    subject, start = "", 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not _FORWARD_HEADER.match(stripped):
            break
        if stripped.lower().startswith(("subject:", "objet:", "objet :")):
            subject = stripped.split(":", 1)[1].strip()
        start = i + 1
    body = _own_text("\n".join(lines[start:]))
    return "\n".join(p for p in (subject, body) if p)


def _own_text(full: str) -> str:
    lines = [line.replace("\ufeff", "") for line in full.splitlines()]
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:  # nothing starts at a blank line, and its joined form begins with a space
            kept.append("")
            continue
        joined = f"{stripped} {lines[i + 1].strip()}" if i + 1 < len(lines) else stripped  # a wrapped "wrote:"
        if (_QUOTE_START.match(stripped) or _ATTRIBUTION.match(joined)
                or _SIGNATURE.match(stripped)):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    text = _without_closing("\n".join(kept).strip())
    if text:
        return text
    below = [ln for ln in lines if not ln.strip().startswith(">") and not _ATTRIBUTION.match(ln.strip())]
    cut = next((i for i, ln in enumerate(below) if _SIGNATURE.match(ln.strip())), len(below))
    return _without_closing("\n".join(below[:cut]).strip())


def _without_closing(text: str) -> str:
    """Drop a signature block that follows a closing line ("Kind regards," and a few short lines)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if _CLOSING.match(lines[i].strip()):
            if len(lines) - i <= 12 and i > 0:
                return "\n".join(lines[:i]).strip()
            break
    return text


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def machine_reason(message: EmailMessage, own_addresses: frozenset[str]) -> str | None:
    """Why this mail must not be answered, or None for a person's mail (RFC 3834 and common practice)."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if str(message.get(LOOP_HEADER, "")).strip().lower() == LOOP_VALUE:
        return "our own X-Loop header"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if message.get("X-Auto-Response-Suppress"):
        return "X-Auto-Response-Suppress"
    if message.get("List-Id") or message.get("List-Unsubscribe"):
        return "mailing list"
    if message.get_content_type() == "multipart/report":
        return "delivery status notification"
    if "Return-Path" in message and str(message["Return-Path"]).strip() in ("<>", ""):
        return "empty Return-Path"
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if _MACHINE_SENDERS.match(sender):
        return f"machine sender {sender}"
    if sender in own_addresses:
        return "our own address"
    return None


def _body_text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001
        body = None
    if body is None:
        return ""
    try:
        content = body.get_content()
    except Exception:  # noqa: BLE001 - undecodable: keep the raw payload as text
        payload = body.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
    if _C1_CONTROL.search(content):  # labelled ISO-8859-1, written as Windows-1252
        try:
            content = content.encode("latin-1").decode("cp1252")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    if body.get_content_type() == "text/html":
        content = html_to_text(content)
    content = _INLINE_IMAGE.sub("", content)  # where an inline image sat
    return content.replace("\r\n", "\n").strip()


def _attachments(message: EmailMessage) -> tuple[Attachment, ...]:
    found = []
    for part in message.iter_attachments() if message.is_multipart() else ():
        try:
            content = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001
            content = b""
        if part.get_content_type() == "message/rfc822":  # an attached mail: its payload is the mail itself
            inner = _attached_mail(part)
            content = inner.as_bytes() if inner is not None else b""
        if isinstance(content, bytes) and content:
            found.append(Attachment(part.get_filename() or "attachment", part.get_content_type(), content))
    return tuple(found)


def _attached_mail(part: EmailMessage) -> EmailMessage | None:
    try:
        payload = part.get_payload()
        return payload[0] if isinstance(payload, list) and payload else None
    except Exception:  # noqa: BLE001
        return None


def _forwarded_attachments(message: EmailMessage) -> str:
    """The mails attached as message/rfc822 (a forward "as attachment"), each after FORWARD_MARK."""
    texts = []
    for part in message.iter_attachments() if message.is_multipart() else ():
        inner = _attached_mail(part) if part.get_content_type() == "message/rfc822" else None
        if inner is not None:
            subject = " ".join(str(inner.get("Subject", "")).split())[:MAX_SUBJECT_CHARS]
            texts.append("\n".join(p for p in (FORWARD_MARK, subject, _own_text(_body_text(inner))) if p))
    return "\n".join(texts)


def parse_mail(raw: bytes, *, own_addresses: frozenset[str] = frozenset()) -> ParsedMail:
    """Never raises on bad MIME: what can be read is returned."""
    message = message_from_bytes(raw, policy=_POLICY)
    try:
        subject = " ".join(str(message.get("Subject", "")).split())
    except Exception:  # noqa: BLE001
        subject = ""
    # The tag sits at the end of a long subject, past the cuts: looked for in the raw header too.
    raw_subject = next((str(value) for name, value in message.raw_items() if name.lower() == "subject"), "")
    subject_ticket = _SUBJECT_TICKET.search(subject) or _SUBJECT_TICKET.search(raw_subject)
    subject = subject[:MAX_SUBJECT_CHARS].rstrip()
    try:
        name, sender = getaddresses([str(message.get("From", ""))])[0]
    except Exception:  # noqa: BLE001
        name, sender = "", ""
    ids = _ids(str(message.get("Message-ID", "")))
    message_id = ids[0] if ids else "sha256-" + hashlib.sha256(raw).hexdigest()
    references = _ids(str(message.get("References", ""))) or _ids(str(message.get("In-Reply-To", "")))
    full = _body_text(message)
    ref = subject_ticket
    automated = machine_reason(message, own_addresses)
    cites = [*references[-50:], *_ids(str(message.get("In-Reply-To", "")))[:5]]
    if automated:
        cites += _reported_message_ids(message)
    return ParsedMail(
        message_id=message_id, sender=sender.lower(), sender_name=name, subject=subject,
        text="\n".join(p for p in (new_text(full), _forwarded_attachments(message)) if p), full_text=full, thread_root=references[0] if references else message_id,
        automated=automated, attachments=_attachments(message),
        ticket_ref=int(ref.group(1)) if ref else None, cites=tuple(dict.fromkeys(cites)),
    )


_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*message-id:[ \t]*<([^<>\s]{1,250})>", re.I | re.M)


def _reported_message_ids(message: EmailMessage) -> list[str]:
    """The Message-IDs of the mail a bounce or auto-reply reports on: the headers of its message/rfc822 or
    text/rfc822-headers part (RFC 3464), or a quoted "Message-ID:" line in its text."""
    found: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        try:
            if kind == "message/rfc822":
                for inner in part.get_payload() if isinstance(part.get_payload(), list) else ():
                    found += _ids(str(inner.get("Message-ID", "")))
            elif kind in ("text/rfc822-headers", "text/plain", "message/delivery-status"):
                payload = part.get_payload(decode=True) or b""
                text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
                found += _QUOTED_MESSAGE_ID.findall(text[:200_000])
        except Exception:  # noqa: BLE001 - a broken report proves nothing; the rest is still read
            continue
    return found
