"""Which attachments the desk keeps: refused types (executables, scripts) and oversized files become a note.

Channel-neutral: a channel hands every attachment over as it came; the bot decides here, so
the rule is the same for mail, chat and Slack, and the message itself is never refused for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.conversation import Attachment, DropAttachments, InboundMessage

# Executables and scripts: the file extensions and their usual MIME types.
DEFAULT_REFUSED_TYPES: tuple[str, ...] = (
    ".exe", ".bat", ".cmd", ".com", ".scr", ".js", ".vbs", ".ps1", ".msi", ".jar",
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec", "application/vnd.microsoft.portable-executable",
    "application/x-executable", "application/x-bat", "application/x-msi", "application/x-ms-installer",
    "application/javascript", "application/x-javascript", "text/javascript",
    "application/ecmascript", "text/vbscript", "application/x-vbscript", "application/x-powershell",
    "application/java-archive", "application/x-java-archive",
)


@dataclass(frozen=True)
class Refused:
    attachment: Attachment
    reason: str

    def describe(self) -> str:
        a = self.attachment
        return f"{a.filename!r} ({a.content_type}, {len(a.content):,} bytes): {self.reason}"


def check_types(types: Iterable[str]) -> list[str]:
    """Normalise a refused-types list: ".ext" entries and "type/subtype" entries, lower-case."""
    out = []
    for raw in types:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry.startswith("."):
            if len(entry) < 2 or "/" in entry:
                raise ValueError(f"{raw!r} is neither a file extension like '.exe' nor a MIME type like 'text/x-sh'")
        elif entry.count("/") != 1 or entry.startswith("/") or entry.endswith("/"):
            raise ValueError(f"{raw!r} is neither a file extension like '.exe' nor a MIME type like 'text/x-sh'")
        out.append(entry)
    return out


def screen(attachments: Sequence[Attachment], *, refused_types: Iterable[str], max_bytes: int
           ) -> tuple[list[Attachment], list[Refused]]:
    """(kept, refused): a refused type, a Windows program under any name, or more than ``max_bytes``."""
    types = set(check_types(refused_types))
    extensions = tuple(t for t in types if t.startswith("."))
    kept: list[Attachment] = []
    refused: list[Refused] = []
    for a in attachments:
        name = a.filename.strip().lower().rstrip(". ")  # "setup.exe." and "setup.exe " run as setup.exe on Windows
        content_type = a.content_type.strip().lower()
        extension = next((e for e in extensions if name.endswith(e)), None)
        if extension is not None:
            refused.append(Refused(a, f"{extension} files are not accepted (executables and scripts)"))
        elif content_type in types:
            refused.append(Refused(a, f"{content_type} files are not accepted (executables and scripts)"))
        elif ".exe" in types and a.content[:2] == b"MZ":
            refused.append(Refused(a, "it is a Windows program whatever its name says; programs are not accepted"))
        elif len(a.content) > max_bytes:
            refused.append(Refused(a, f"it is larger than the {max_bytes:,}-byte limit for attachments"))
        else:
            kept.append(a)
    return kept, refused


def without_refused(message: InboundMessage, refused: Sequence[Refused], *,
                    drop_from_raw: DropAttachments | None) -> InboundMessage:
    """The message as it may be stored: no refused file's bytes in its attachments nor in its raw payload
    (``drop_from_raw`` is the channel's own rewriting of it; a channel without one keeps no file bytes there)."""
    gone = [r.attachment for r in refused]
    raw = drop_from_raw(message.raw, [(r.attachment, r.reason) for r in refused]) if drop_from_raw else message.raw
    return replace(message, attachments=tuple(a for a in message.attachments if a not in gone), raw=raw)
