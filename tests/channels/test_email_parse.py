"""The email parser: new text only, threads, machine senders; it never crashes on bad mail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email import html_to_text, new_text, parse_mail

OWN = frozenset({"support@deskbot.example"})


def raw(headers: str, body: str) -> bytes:
    return (headers.strip() + "\r\n\r\n" + body).replace("\n", "\r\n").encode("utf-8")


BASE = "From: Ana Silva <Ana@Corp.example>\nTo: support@deskbot.example\nSubject: VPN\nMessage-ID: <a1@corp.example>"


@pytest.mark.parametrize(
    ("body", "kept", "dropped"),
    [
        ("Still broken.\n\n-----Original Message-----\nFrom: IT\nSent: Monday\n\nold text", "Still broken.", "old text"),
        ("Yes that fixed it\n\nOn Tue, 3 Mar 2026 at 10:02, IT Support <support@deskbot.example> wrote:\n> old",
         "Yes that fixed it", "old"),
        ("Oui merci\n\nLe mar. 3 mars 2026 à 10:02, Support IT <support@deskbot.example> a écrit :\n> ancien",
         "Oui merci", "ancien"),
        ("The printer jams.\n\n-- \nAna Silva\nFinance | +33 1 23 45 67 89", "The printer jams.", "+33 1 23"),
        ("Hello\n> quoted line\nnew line", "new line", "quoted line"),
        ("Sent it\n\nSent from my iPhone", "Sent it", "iPhone"),
    ],
)
def test_new_text_drops_quotes_and_signatures(body: str, kept: str, dropped: str) -> None:
    text = new_text(body)
    assert kept in text and dropped not in text


def test_html_only_mail_becomes_clean_text() -> None:
    markup = ("<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
              "<p>My&nbsp;screen is <b>black</b></p><table><tr><td>since 9am</td></tr></table></body></html>")
    text = html_to_text(markup)
    assert "My screen is black" in text and "since 9am" in text
    assert "alert" not in text and "color" not in text


def test_threading_and_ticket_reference() -> None:
    mail = parse_mail(raw(BASE.replace("Subject: VPN", "Subject: Re: VPN drops [#1042]")
                          + "\nIn-Reply-To: <ours@deskbot.example>\nReferences: <root@corp.example> <ours@deskbot.example>",
                          "thanks"))
    assert (mail.thread_root, mail.ticket_ref, mail.sender) == ("root@corp.example", 1042, "ana@corp.example")
    alone = parse_mail(raw(BASE, "hello"))
    assert alone.thread_root == "a1@corp.example" and alone.ticket_ref is None


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("List-Id: <news.corp.example>", "mailing list"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress"),
        ("X-Loop: deskbot", "X-Loop"),
        ("Return-Path: <>", "empty Return-Path"),
    ],
)
def test_machine_mail_is_recognised(extra: str, reason: str) -> None:
    assert reason in (parse_mail(raw(BASE + "\n" + extra, "Out of office")).automated or "")


def test_machine_senders_and_our_own_address() -> None:
    daemon = parse_mail(raw(BASE.replace("Ana Silva <Ana@Corp.example>", "MAILER-DAEMON@corp.example"), "x"))
    assert "machine sender" in daemon.automated
    ours = parse_mail(raw(BASE.replace("Ana Silva <Ana@Corp.example>", "support@deskbot.example"), "x"), own_addresses=OWN)
    assert ours.automated == "our own address"
    assert parse_mail(raw(BASE, "a person")).automated is None


def test_encoded_headers_and_charsets() -> None:
    headers = BASE.replace("Subject: VPN", "Subject: =?UTF-8?B?UHJvYmzDqG1lIGQnaW1wcmVzc2lvbg==?=")
    body = "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable"
    mail = parse_mail(raw(headers + "\n" + body, "L'imprimante est bloqu=E9e depuis ce matin."))
    assert mail.subject == "Problème d'impression"
    assert "bloquée" in mail.text


def test_malformed_mime_keeps_what_can_be_read() -> None:
    broken = raw(BASE + '\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="xyz"',
                 "--xyz\nContent-Type: text/plain\n\nPrinter on fire\n--xyz\nContent-Type: image/png\n"
                 "Content-Transfer-Encoding: base64\n\n!!!not base64!!!")
    mail = parse_mail(broken)
    assert "Printer on fire" in mail.text
    no_id = parse_mail(raw(BASE.replace("Message-ID: <a1@corp.example>", "X-Nothing: 1"), "hi"))
    assert no_id.message_id.startswith("sha256-")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_no_input_crashes_the_parser(data: bytes) -> None:
    mail = parse_mail(data)
    assert mail.message_id  # every accepted mail gets an identity, so it can be stored and not lost


@pytest.mark.parametrize(
    ("original", "ref", "expected"),
    [
        ("Account locked", "#1042", "Re: Account locked [#1042]"),
        ("Re: RE: AW: Account locked [#1042]", "#1042", "Re: Account locked [#1042]"),
        ("[#1042] SAP", "#1043", "Re: SAP [#1043]"),
        ("Fwd: Re[2]: VPN drops", None, "Re: VPN drops"),
        ("TR: Réf : imprimante", None, "Re: imprimante"),
        ("", "#1042", "Re: your IT request [#1042]"),
        ("Re:", None, "Re: your IT request"),
    ],
)
def test_reply_subject_keeps_the_original_subject(original: str, ref: str | None, expected: str) -> None:
    from channels.email import reply_subject

    assert reply_subject(original, ref) == expected


def test_a_mail_that_starts_a_thread_has_no_reply_prefix() -> None:
    from channels.email import reply_subject

    assert reply_subject("New P2 ticket: VPN drops", "#1042", replying=False) == "New P2 ticket: VPN drops [#1042]"


def test_a_reply_keeps_its_subject_through_the_outbox() -> None:
    from bot.conversation import Reply

    reply = Reply("Done", ticket_ref="#1042", subject="SAP access")
    assert Reply.from_json(reply.to_json()) == reply
    assert Reply.from_json('{"text": "an outbox row from before subjects"}').subject == ""


@pytest.mark.parametrize("marker", ["---------- Forwarded message ---------", "Begin forwarded message:",
                                    "-------- Message transféré --------"])
def test_an_inline_forward_is_what_the_forwarder_says_plus_what_they_forwarded(marker: str) -> None:
    body = (f"Got this, looks fake?\n\nAna\n\n{marker}\nFrom: Bank Support <alerts@bank-secure.example>\n"
            "Date: Mon, 2 Mar 2026 at 09:12\nSubject: Verify your account now\nTo: <ana@corp.example>\n\n"
            "Dear customer, confirm your password at https://bank-secure.example/login today.\n\n"
            "On Sun, 1 Mar 2026, someone wrote:\n> older quoted text")
    text = parse_mail(raw(BASE + "\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", body)).text
    lines = text.splitlines()
    assert lines[0] == "Got this, looks fake?"
    assert "---------- Forwarded message ----------" in lines
    assert "Verify your account now" in lines and "https://bank-secure.example/login" in text
    assert "older quoted text" not in text and "alerts@bank-secure.example" not in text


def test_a_mail_forwarded_as_attachment_is_read_and_kept() -> None:
    inner = ("From: Bank <alerts@bank-secure.example>\r\nSubject: Your invoice is overdue\r\n"
             "Message-ID: <x1@bank-secure.example>\r\n\r\nOpen the attached invoice: https://bank-secure.example/i\r\n")
    headers = BASE.replace("Subject: VPN", "Subject: Fwd: Your invoice is overdue") + (
        '\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"')
    body = ("--b1\nContent-Type: text/plain\n\nIs this one real?\n--b1\nContent-Type: message/rfc822\n"
            "Content-Disposition: attachment; filename=\"invoice.eml\"\n\n" + inner.replace("\r\n", "\n") + "\n--b1--\n")
    mail = parse_mail(raw(headers, body))
    assert mail.text.startswith("Is this one real?\n---------- Forwarded message ----------\nYour invoice is overdue")
    assert "https://bank-secure.example/i" in mail.text
    [attached] = mail.attachments
    assert attached.content_type == "message/rfc822" and b"Your invoice is overdue" in attached.content
