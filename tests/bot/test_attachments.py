"""Which attachments are kept: the fixtures' expectations, the settings list, sizes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from bot.attachments import DEFAULT_REFUSED_TYPES, MAX_ZIP_ENTRIES, screen
from bot.conversation import Attachment
from bot.settings import ConfigError, load_settings
from channels.email import parse_mail

FIXTURES = Path(__file__).resolve().parents[1] / "channels" / "email_fixtures"
CASES = [c for c in yaml.safe_load((FIXTURES / "expected.yaml").read_text(encoding="utf-8")) if "refused" in c]


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_fixture_attachments_refused_by_default(case: dict) -> None:
    mail = parse_mail((FIXTURES / case["file"]).read_bytes())
    kept, refused = screen(mail.attachments, refused_types=DEFAULT_REFUSED_TYPES, max_bytes=10 * 1024 * 1024)
    assert [r.attachment.filename for r in refused] == case["refused"]
    assert [a.filename for a in kept] == [n for n in case["attachments"] if n not in case["refused"]]


def test_names_sizes_and_a_custom_list() -> None:
    files = [Attachment("SETUP.EXE. ", "application/octet-stream", b"x"), Attachment("big.zip", "application/zip", b"0" * 11),
             Attachment("run.sh", "application/x-sh", b"#!/bin/sh"), Attachment("ok.txt", "text/plain", b"fine")]
    kept, refused = screen(files, refused_types=DEFAULT_REFUSED_TYPES, max_bytes=10)
    assert [a.filename for a in kept] == ["run.sh", "ok.txt"]
    assert [r.reason for r in refused] == ["'.exe' files are not accepted (files that can run code)".replace("'", ""),
                                           "it is larger than the 10-byte limit for attachments"]
    kept, _ = screen(files, refused_types=[".sh", "application/zip"], max_bytes=100)
    assert [a.filename for a in kept] == ["SETUP.EXE. ", "ok.txt"]


def test_a_bad_entry_in_the_setting_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKBOT_CONFIG", str(tmp_path / "deskbot.toml"))
    (tmp_path / "deskbot.toml").write_text('refused_attachment_types = [".exe", "exe"]\n')
    with pytest.raises(ConfigError, match="'exe' is neither a file extension"):
        load_settings()


# --- the usual dangerous types and zip archives ---------------------------------------------------------

DANGEROUS = [".hta", ".lnk", ".iso", ".img", ".docm", ".xlsm", ".wsf", ".cpl", ".scr", ".jse", ".vbe", ".msc", ".reg"]
DANGEROUS_MIME = ["application/hta", "application/x-ms-shortcut", "application/x-iso9660-image",
                  "application/vnd.ms-word.document.macroEnabled.12", "application/vnd.ms-excel.sheet.macroEnabled.12",
                  "application/x-msdownload"]


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _screen_one(attachment: Attachment) -> str | None:
    """The reason ``attachment`` is refused under the default list, or None when it is kept."""
    kept, refused = screen([attachment], refused_types=DEFAULT_REFUSED_TYPES, max_bytes=10 * 1024 * 1024)
    assert len(kept) + len(refused) == 1
    return refused[0].reason if refused else None


@pytest.mark.parametrize("extension", DANGEROUS)
def test_the_usual_dangerous_extensions_are_refused(extension: str) -> None:
    assert _screen_one(Attachment(f"Invoice{extension.upper()}", "application/octet-stream", b"data")) == (
        f"{extension} files are not accepted (files that can run code)")


@pytest.mark.parametrize("content_type", DANGEROUS_MIME)
def test_the_usual_dangerous_mime_types_are_refused(content_type: str) -> None:
    assert _screen_one(Attachment("attachment", content_type, b"data")) == (
        f"{content_type.lower()} files are not accepted (files that can run code)")


def test_a_zip_holding_a_refused_type_is_refused_and_one_of_documents_is_kept() -> None:
    documents = _zip({"report.pdf": b"%PDF-1.7 ...", "notes/minutes.txt": b"fine"})
    assert _screen_one(Attachment("docs.zip", "application/zip", documents)) is None
    shortcut = _zip({"report.pdf": b"%PDF-1.7 ...", "photos/holiday.jpg.lnk": b"L\0\0\0"})
    assert _screen_one(Attachment("docs.zip", "application/zip", shortcut)) == (
        "it is a zip archive holding 'photos/holiday.jpg.lnk': .lnk files are not accepted (files that can run code)")
    # A zip is known by its PK header too, whatever its name and type say.
    assert _screen_one(Attachment("scan.pdf", "application/pdf", _zip({"run.vbe": b"x"}))).startswith(
        "it is a zip archive holding 'run.vbe'")


def test_an_office_document_is_a_zip_and_is_kept() -> None:
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>", "_rels/.rels": b"<r/>"})
    assert _screen_one(Attachment("Budget.docx", "application/vnd.openxmlformats-officedocument."
                                                 "wordprocessingml.document", docx)) is None


def test_a_program_inside_a_zip_is_refused_under_any_name() -> None:
    archive = _zip({"readme.txt": b"MZ\x90\x00" + b"\0" * 100})
    assert _screen_one(Attachment("readme.zip", "application/zip", archive)) == (
        "it is a zip archive holding 'readme.txt', a Windows program whatever its name says; programs are not accepted")


def test_zips_in_a_zip_are_checked_two_levels_deep_and_refused_deeper() -> None:
    inner = _zip({"setup.hta": b"<script>"})
    assert _screen_one(Attachment("outer.zip", "application/zip", _zip({"inner.zip": inner}))) == (
        "it is a zip archive holding 'inner.zip/setup.hta': .hta files are not accepted (files that can run code)")
    harmless = _zip({"a.txt": b"fine"})
    assert _screen_one(Attachment("outer.zip", "application/zip", _zip({"inner.zip": harmless}))) is None
    deep = _zip({"middle.zip": _zip({"inner.zip": harmless})})
    assert _screen_one(Attachment("outer.zip", "application/zip", deep)) == (
        "it is a zip archive holding 'middle.zip/inner.zip': zip archives nested more than 2 deep are not accepted")


def test_a_zip_that_cannot_be_checked_is_refused_with_the_reason() -> None:
    assert _screen_one(Attachment("broken.zip", "application/zip", b"PK\x03\x04 not really a zip")) == (
        "it is a damaged zip archive that cannot be checked")
    many = _zip({f"f{i}.txt": b"" for i in range(MAX_ZIP_ENTRIES + 1)})
    assert _screen_one(Attachment("many.zip", "application/zip", many)) == (
        f"it is a zip archive of more than {MAX_ZIP_ENTRIES:,} files, too many to check")
    deep_many = _zip({"inner.zip": many})
    assert _screen_one(Attachment("outer.zip", "application/zip", deep_many)) == (
        f"it is a zip archive holding 'inner.zip', a zip archive of more than {MAX_ZIP_ENTRIES:,} files, "
        "too many to check")
    # zipfile writes no encryption: the "encrypted" flag of the member is set in both of its headers by hand.
    outer = bytearray(_zip({"secret.zip": _zip({"a.txt": b"x"})}, zipfile.ZIP_STORED))
    outer[6] |= 0x1  # the local file header's general purpose flags
    outer[outer.rindex(b"PK\x01\x02") + 8] |= 0x1  # the central directory's (the stored inner zip has one before)
    assert _screen_one(Attachment("outer.zip", "application/zip", bytes(outer))) == (
        "it is a zip archive holding 'secret.zip', an encrypted zip archive that cannot be checked")


def test_the_zip_nested_inside_is_read_within_the_attachment_limit() -> None:
    # A few KB holding a zip that inflates to 2 MB: more than the limit, so it is not read.
    bomb = _zip({"inner.zip": _zip({"zeros.txt": b"\0" * 2_000_000}, zipfile.ZIP_STORED)})
    kept, refused = screen([Attachment("outer.zip", "application/zip", bomb)], refused_types=DEFAULT_REFUSED_TYPES,
                           max_bytes=len(bomb) * 2)
    assert not kept and refused[0].reason == "it is a zip archive holding 'inner.zip', a zip archive too large to check"
