"""Which attachments the desk keeps: refused types (programs, scripts, macro documents, disk images, and zip
archives holding any of them) and oversized files become a note.

Channel-neutral: a channel hands every attachment over as it came; the bot decides here, so
the rule is the same for mail, chat and Slack, and the message itself is never refused for it.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.conversation import Attachment, DropAttachments, InboundMessage

# What mail filters usually block: programs, scripts, shortcuts, macro-enabled Office files and disk
# images (which carry programs past the filters that do not open them); the extensions and their MIME types.
DEFAULT_REFUSED_TYPES: tuple[str, ...] = (
    ".exe", ".bat", ".cmd", ".com", ".scr", ".pif", ".cpl", ".msi", ".msp", ".msc", ".jar", ".application",
    ".js", ".jse", ".vbs", ".vbe", ".wsf", ".wsh", ".hta", ".ps1", ".psm1", ".reg", ".lnk", ".chm",
    ".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".pptm", ".ppam",
    ".iso", ".img", ".vhd", ".vhdx",
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec", "application/vnd.microsoft.portable-executable",
    "application/x-ms-dos-executable", "application/x-executable", "application/x-bat", "application/x-msi",
    "application/x-ms-installer", "application/x-ms-application", "application/x-ms-shortcut", "application/hta",
    "application/javascript", "application/x-javascript", "text/javascript",
    "application/ecmascript", "text/vbscript", "application/x-vbscript", "application/x-powershell",
    "application/java-archive", "application/x-java-archive", "text/x-ms-regedit", "application/vnd.ms-htmlhelp",
    "application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-word.template.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12", "application/vnd.ms-excel.template.macroenabled.12",
    "application/vnd.ms-excel.addin.macroenabled.12", "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    "application/vnd.ms-powerpoint.addin.macroenabled.12",
    "application/x-iso9660-image", "application/x-cd-image", "application/x-raw-disk-image",
    "application/x-vhd-disk", "application/x-vhdx-disk",
)
# A zip is opened by its central directory only (nothing is extracted). A real archive of documents has far
# fewer entries; more is a zip bomb or a hiding place. Zips inside a zip are read (bounded by the attachment
# size limit) and checked too; deeper nesting only hides things.
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_DEPTH = 2
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip"})
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_REFUSED_WHY = "files that can run code"
_PROGRAM = "a Windows program whatever its name says; programs are not accepted"
# What a broken archive raises while its directory or a member is read.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
               NotImplementedError, RuntimeError)


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


@dataclass(frozen=True)
class _Rules:
    types: frozenset[str]
    extensions: tuple[str, ...]
    programs: bool  # a Windows program (MZ header) is refused under any name while ".exe" is listed

    @classmethod
    def of(cls, refused_types: Iterable[str]) -> _Rules:
        types = frozenset(check_types(refused_types))
        return cls(types, tuple(t for t in types if t.startswith(".")), ".exe" in types)

    def extension_of(self, filename: str) -> str | None:
        # "setup.exe." and "setup.exe " run as setup.exe on Windows
        name = filename.strip().lower().rstrip(". ")
        return next((e for e in self.extensions if name.endswith(e)), None)


class _Budget:
    """Bytes that may still be decompressed to look inside zips within a zip (one attachment's worth)."""

    def __init__(self, remaining: int):
        self.remaining = remaining

    def read(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes | None:
        """The member's bytes, or None when they would exceed what is left (whatever its header claims)."""
        if member.file_size > self.remaining:
            return None
        with archive.open(member) as handle:
            data = handle.read(self.remaining + 1)
        if len(data) > self.remaining:
            return None
        self.remaining -= len(data)
        return data


def screen(attachments: Sequence[Attachment], *, refused_types: Iterable[str], max_bytes: int
           ) -> tuple[list[Attachment], list[Refused]]:
    """(kept, refused): a refused type, a Windows program under any name, more than ``max_bytes``, or a zip
    holding a refused type (or one that cannot be checked)."""
    rules = _Rules.of(refused_types)
    kept: list[Attachment] = []
    refused: list[Refused] = []
    for a in attachments:
        reason = _refusal(a, rules=rules, max_bytes=max_bytes)
        if reason is None:
            kept.append(a)
        else:
            refused.append(Refused(a, reason))
    return kept, refused


def without_refused(message: InboundMessage, refused: Sequence[Refused], *,
                    drop_from_raw: DropAttachments | None) -> InboundMessage:
    """The message as it may be stored: no refused file's bytes in its attachments nor in its raw payload
    (``drop_from_raw`` is the channel's own rewriting of it; a channel without one keeps no file bytes there)."""
    gone = [r.attachment for r in refused]
    raw = drop_from_raw(message.raw, [(r.attachment, r.reason) for r in refused]) if drop_from_raw else message.raw
    return replace(message, attachments=tuple(a for a in message.attachments if a not in gone), raw=raw)


def _refusal(a: Attachment, *, rules: _Rules, max_bytes: int) -> str | None:
    content_type = a.content_type.strip().lower()
    if (extension := rules.extension_of(a.filename)) is not None:
        return f"{extension} files are not accepted ({_REFUSED_WHY})"
    if content_type in rules.types:
        return f"{content_type} files are not accepted ({_REFUSED_WHY})"
    if rules.programs and a.content[:2] == b"MZ":
        return f"it is {_PROGRAM}"
    if max(len(a.content), a.size or 0) > max_bytes:
        return f"it is larger than the {max_bytes:,}-byte limit for attachments"
    if a.size is not None and not a.content:
        return f"the platform would not hand over a file of {a.size:,} bytes"
    is_zip = (a.filename.strip().lower().endswith(".zip") or content_type in _ZIP_TYPES
              or a.content.startswith(_ZIP_MAGIC))
    return _zip_refusal(a.content, rules=rules, depth=1, budget=_Budget(max_bytes)) if is_zip else None


def _zip_refusal(content: bytes, *, rules: _Rules, depth: int, budget: _Budget, path: str = "") -> str | None:
    """Why a zip is refused, or None when nothing in it is. ``depth`` 1 is the attachment itself;
    ``path`` names a zip inside it ("inner.zip/")."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_ENTRIES:
                return _about(path, f"a zip archive of more than {MAX_ZIP_ENTRIES:,} files, too many to check")
            for member in members:
                reason = None if member.is_dir() else _member_refusal(archive, member, rules=rules, depth=depth,
                                                                      budget=budget, path=path)
                if reason is not None:
                    return reason
    except _ZIP_ERRORS:
        return _about(path, "a damaged zip archive that cannot be checked")
    return None


def _about(path: str, what: str) -> str:
    """The reason, said of the attachment (``path`` empty) or of the zip inside it at ``path``."""
    return f"it is a zip archive holding {path.rstrip('/')!r}, {what}" if path else f"it is {what}"


def _member_refusal(archive: zipfile.ZipFile, member: zipfile.ZipInfo, *, rules: _Rules, depth: int,
                    budget: _Budget, path: str) -> str | None:
    inside = f"it is a zip archive holding {path + member.filename!r}"
    if (extension := rules.extension_of(member.filename)) is not None:
        return f"{inside}: {extension} files are not accepted ({_REFUSED_WHY})"
    encrypted = bool(member.flag_bits & 0x1)
    head = b"" if encrypted else _head(archive, member)
    if rules.programs and head[:2] == b"MZ":
        return f"{inside}, {_PROGRAM}"
    if not (member.filename.lower().endswith(".zip") or head.startswith(_ZIP_MAGIC)):
        return None
    if depth >= MAX_ZIP_DEPTH:
        return f"{inside}: zip archives nested more than {MAX_ZIP_DEPTH} deep are not accepted"
    if encrypted:
        return f"{inside}, an encrypted zip archive that cannot be checked"
    nested = budget.read(archive, member)
    if nested is None:
        return f"{inside}, a zip archive too large to check"
    return _zip_refusal(nested, rules=rules, depth=depth + 1, budget=budget, path=f"{path}{member.filename}/")


def _head(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A member's first four bytes: only its first block is decompressed (b"" for a compression zipfile lacks)."""
    try:
        with archive.open(member) as handle:
            return handle.read(4)
    except NotImplementedError:
        return b""
