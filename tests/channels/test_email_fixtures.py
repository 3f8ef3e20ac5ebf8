"""49 tricky real-world mails (tests/channels/email_fixtures, expected outcomes in expected.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from channels.email import parse_mail

FIXTURES = Path(__file__).with_name("email_fixtures")
EXPECTED = yaml.safe_load((FIXTURES / "expected.yaml").read_text(encoding="utf-8"))
CASES = EXPECTED if isinstance(EXPECTED, list) else EXPECTED.get("fixtures", EXPECTED)
MACHINE = {"ignored_auto_reply", "ignored_list", "bounce", "ignored_own_mail"}
OWN = frozenset({"support@deskbot.example"})


def flat(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_fixture(case: dict) -> None:
    mail = parse_mail((FIXTURES / case["file"]).read_bytes(), own_addresses=OWN)
    assert mail.message_id
    if case["outcome"] in MACHINE:
        assert mail.automated, f"{case['file']}: a machine's mail taken for a person's ({case.get('notes')})"
    elif case["outcome"] in ("new_request", "reply_to_ticket"):
        assert mail.automated is None, f"{case['file']}: {mail.automated}"
    for phrase in [case["text_contains"]] if case.get("text_contains") else []:
        assert flat(phrase) in flat(mail.text), f"{case['file']}: {mail.text[:300]!r}"
    for phrase in case.get("text_excludes") or []:
        assert flat(phrase) not in flat(mail.text), f"{case['file']}: {mail.text[:300]!r}"
    if case.get("ticket_ref") is not None or case["outcome"] == "reply_to_ticket":
        # Found by the subject's [#N], or by citing a Message-ID deskbot sent (these fixtures' are @deskbot.example);
        # the bot then checks the whole id against its outbox, never a number inside it.
        cites_ours = any(c.endswith("@deskbot.example") for c in mail.cites)
        assert mail.ticket_ref == case.get("ticket_ref") or (mail.ticket_ref is None and cites_ours), mail
    if "attachments" in case:  # the channel hands every attachment over; the bot decides what is kept
        assert [a.filename for a in mail.attachments] == case["attachments"]


def test_a_mail_forwarded_as_attachment_reads_as_the_forwarders_words_then_the_forwarded_mail() -> None:
    mail = parse_mail((FIXTURES / "16-forwarded-rfc822.eml").read_bytes(), own_addresses=OWN)
    said, forwarded = mail.text.split("---------- Forwarded message ----------")
    assert "Looks like phishing to me" in said
    assert "Action required: confirm your bank details" in forwarded and "verify your account within 24" in forwarded
