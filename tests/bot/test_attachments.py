"""Which attachments are kept: the fixtures' expectations, the settings list, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.attachments import DEFAULT_REFUSED_TYPES, screen
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
    assert [r.reason for r in refused] == ["'.exe' files are not accepted (executables and scripts)".replace("'", ""),
                                           "it is larger than the 10-byte limit for attachments"]
    kept, _ = screen(files, refused_types=[".sh", "application/zip"], max_bytes=100)
    assert [a.filename for a in kept] == ["SETUP.EXE. ", "ok.txt"]


def test_a_bad_entry_in_the_setting_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKBOT_CONFIG", str(tmp_path / "deskbot.toml"))
    (tmp_path / "deskbot.toml").write_text('refused_attachment_types = [".exe", "exe"]\n')
    with pytest.raises(ConfigError, match="'exe' is neither a file extension"):
        load_settings()
