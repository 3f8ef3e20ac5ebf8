"""Refused attachments out of a raw mail: the parts go, a short text part says which file and why, the rest stays."""

from __future__ import annotations

import base64
from email import message_from_string, policy
from pathlib import Path

from channels.email import drop_attachments, parse_mail

FIXTURES = Path(__file__).resolve().parent / "email_fixtures"


def test_the_refused_parts_become_a_note_and_the_kept_ones_stay() -> None:
    raw_bytes = (FIXTURES / "48-attachment-executable.eml").read_bytes()
    attachments = {a.filename: a for a in parse_mail(raw_bytes).attachments}
    refused = [(attachments["Invoice_Setup.pdf.exe"], ".exe files are not accepted"),
               (attachments["invoice.pdf"], "it is a Windows program")]  # the same program under another name
    raw = raw_bytes.decode("utf-8", errors="replace")

    stripped = drop_attachments(raw, refused)

    exe = attachments["Invoice_Setup.pdf.exe"].content
    assert base64.b64encode(exe)[:60].decode() in raw.replace("\n", "")
    assert base64.b64encode(exe)[:60].decode() not in stripped.replace("\n", "")
    after = parse_mail(stripped.encode())
    assert [a.filename for a in after.attachments] == ["install-error.png", "Invoice_Setup.pdf.exe.removed.txt",
                                                       "invoice.pdf.removed.txt"]
    assert after.attachments[0].content == attachments["install-error.png"].content
    assert "will not install on my laptop" in after.text
    notes = [p.get_content() for p in message_from_string(stripped, policy=policy.default).walk()
             if p.get_content_type() == "text/plain" and "removed by the IT service desk" in p.get_content()]
    assert notes == ["[The attachment 'Invoice_Setup.pdf.exe' was removed by the IT service desk: "
                     ".exe files are not accepted]\n",
                     "[The attachment 'invoice.pdf' was removed by the IT service desk: it is a Windows program]\n"]


def test_nothing_refused_leaves_the_mail_as_it_came() -> None:
    raw = (FIXTURES / "14-attachment-png.eml").read_text(encoding="utf-8", errors="replace")
    assert drop_attachments(raw, []) == raw
