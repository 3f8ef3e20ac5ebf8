"""The new decisions carried out on a real desk (SQLite and PostgreSQL): a redirect to another department opens no
ticket and counts apart in the KPIs, the security question waits for its answer, and French messages get French
replies. The decisions are made by hand (the policy's own rules are tests/bot/test_policy.py), so nothing here
depends on what the trained model reads."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.conversation import Attachment, ConversationRef, Identity, InboundMessage
from bot.policy import Action, Decision
from bot.worker import BotSettings
from bot.worker import _wording as say
from bot.worker._handlers import Turn, carry_out
from bot.worker._major import Reports
from bot.worker._message import forwarded_evidence, readable_text
from desk import conversations, kpis, people, tickets
from desk.departments import DirectoryError, load_directory, packaged_directory
from desk.systems import packaged_systems
from desk.domain import ConversationWait
from nlp import Analysis

NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)


def analysis(language: str) -> Analysis:
    return Analysis(intent="oos", confidence=0.3, out_of_scope=True, sentiment="neutral", frustration=0.1,
                    frustrated=False, kb_hits=(), language=language, answer_threshold=0.5, alarm_threshold=0.6)


def turn(session, analyzer, decision: Decision, *, language: str = "en", text: str = "text") -> Turn:  # noqa: ANN001
    requester = people.resolve_requester(session=session, channel="webchat", external_id="ana", display_name="Ana",
                                         email="ana@corp.example", email_verified=True)
    conversation = conversations.get_or_create(session=session, channel="webchat", address="webchat:ana",
                                               thread="t1", requester_id=requester.id)
    message = InboundMessage(key=f"webchat:{uuid.uuid4()}", conversation=ConversationRef("webchat", "webchat:ana", "t1"),
                             sender=Identity("webchat", "ana", "Ana", "ana@corp.example"), text=text, received_at=NOW)
    return Turn(session=session, message=message, analysis=analysis(language), conversation=conversation,
                requester_id=requester.id, decision=decision, now=NOW, analyzer=analyzer,
                settings=BotSettings.defaults(), directory=packaged_directory(), reports=Reports(packaged_systems()))


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_redirect_names_who_handles_it_opens_no_ticket_and_counts_apart(uow, analyzer, language: str) -> None:  # noqa: ANN001
    with uow() as session:
        [reply] = carry_out(turn(session, analyzer, Decision(Action.REDIRECT, ("for Payroll",), intent="oos",
                                                             department="Payroll"), language=language))
        assert "payroll@example.com" in reply.text and "Payroll" in reply.text
        assert ("informatique" in reply.text) is (language == "fr")
    with uow() as session:
        assert tickets.list_tickets(session=session) == []
        k = kpis.compute(session=session)
        assert (k.tickets, k.redirected) == (0, 1)
        assert kpis.compute(session=session, since=NOW + dt.timedelta(days=1)).redirected == 0


def test_the_security_question_has_its_buttons_and_waits_for_the_answer(uow, analyzer) -> None:  # noqa: ANN001
    with uow() as session:
        t = turn(session, analyzer, Decision(Action.ASK_SECURITY, ("below",), intent="malware_infection"))
        [reply] = carry_out(t)
        assert reply.text == say.SECURITY_QUESTION.en
        assert [b.value for b in reply.buttons] == ["phishing", "device", "virus", "no"]
        assert "(reply PHISHING or DEVICE or VIRUS or NO)" in reply.as_plain_text()  # typed back by mail
        assert (t.conversation.awaiting, t.conversation.offered_article, t.conversation.clarifications) == (
            ConversationWait.SECURITY_ANSWER, "malware_infection", 1)
        assert tickets.list_tickets(session=session) == []  # no incident until the answer


def test_french_messages_get_french_wording(uow, analyzer) -> None:  # noqa: ANN001
    with uow() as session:
        [hello] = carry_out(turn(session, analyzer, Decision(Action.GREET, ("greeting",)), language="fr"))
        [question] = carry_out(turn(session, analyzer, Decision(Action.ASK_SECURITY, ("below",),
                                                                intent="lost_device"), language="fr"))
    assert hello.text == say.GREETING.fr and question.text == say.SECURITY_QUESTION.fr
    assert [b.label for b in question.buttons][1] == "Appareil perdu ou volé"


def test_every_phrase_has_both_languages() -> None:
    phrases = [v for v in vars(say).values() if isinstance(v, say.Phrase)]
    assert len(phrases) >= 10
    for phrase in phrases:
        assert phrase.en and phrase.fr and phrase.en != phrase.fr
        assert phrase.in_("fr") == phrase.fr and phrase.in_("de") == phrase.en


def test_the_nlp_reads_a_mails_subject_with_its_text_and_sees_a_forwarded_mail() -> None:
    ref = ConversationRef("email", "ana@corp.example", "<m1@corp.example>")
    sender = Identity("email", "ana@corp.example", "Ana", "ana@corp.example")
    mail = InboundMessage(key="email:1", conversation=ref, sender=sender, text="Since this morning it fails.",
                          subject="Re: VPN error 809 [#1042]", received_at=NOW)
    assert readable_text(mail) == "VPN error 809\nSince this morning it fails."
    assert not forwarded_evidence(mail)
    inline = InboundMessage(key="email:2", conversation=ref, sender=sender, received_at=NOW, subject="Fwd: invoice",
                            text="Is this real?\n---------- Forwarded message ---------\nPay at https://evil.example")
    attached = InboundMessage(key="email:3", conversation=ref, sender=sender, received_at=NOW, text="see attached",
                              attachments=(Attachment("mail.eml", "message/rfc822", b"From: x"),))
    assert forwarded_evidence(inline) and forwarded_evidence(attached)


def test_the_packaged_directory_reads_and_a_broken_one_names_file_and_line(tmp_path) -> None:  # noqa: ANN001
    directory = packaged_directory()
    assert directory.match("where is my payslip for March?").name == "Payroll"
    assert directory.match("my VPN drops every hour") is None
    broken = tmp_path / "departments.yaml"
    broken.write_text("departments:\n  - name: HR\n    handles: leave\n    keywords: []\n    contact: hr@x\n")
    with pytest.raises(DirectoryError, match=r"departments.yaml line 4: department HR: 'keywords' must be"):
        load_directory(broken)
    broken.write_text("departments:\n  - name: HR\n    handles: leave\n    keywords: [leave]\n")
    with pytest.raises(DirectoryError, match=r"line 2: a department needs contact"):
        load_directory(broken)
    broken.write_text("departments:\n  - name: HR\n    colour: blue\n")
    with pytest.raises(DirectoryError, match=r"line 3: a department: unknown field 'colour'"):
        load_directory(broken)
