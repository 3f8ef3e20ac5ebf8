"""When a mail's From counts as verified: the company MTA's Authentication-Results (RFC 8601), read strictly."""

from __future__ import annotations

import time
from email import message_from_string, policy

import pytest

from channels.email import SenderVerification, parse_authentication_results

CORP = SenderVerification(authserv_ids=frozenset({"mx.corp.example"}), company_domains=frozenset({"corp.example"}))


def headers(text: str):  # noqa: ANN201
    return message_from_string(text.strip().replace("\n", "\r\n") + "\r\n\r\nbody\r\n", policy=policy.default)


def ceo_mail(results: str, *, extra: str = "", sender: str = "ceo@corp.example") -> str:
    return f"Authentication-Results: {results}\n{extra}From: The CEO <{sender}>\nTo: support@deskbot.example\nSubject: x"


DMARC_PASS = "mx.corp.example; spf=pass smtp.mailfrom=ceo@corp.example; dmarc=pass (p=reject) header.from=corp.example"


def test_the_three_common_headers_are_read() -> None:
    postfix = parse_authentication_results("mx.corp.example 1; dmarc=pass (p=reject dis=none) header.from=corp.example")
    assert postfix.authserv_id == "mx.corp.example" and postfix.method("dmarc") == [("pass", {"header.from": "corp.example"})]
    google = parse_authentication_results(
        "mx.google.com; dkim=pass header.i=@corp.example header.s=g1 header.b=AbC; spf=pass (google.com: domain of "
        "ana@corp.example designates 192.0.2.1 as permitted sender; a comment; with semicolons) "
        "smtp.mailfrom=ana@corp.example; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=corp.example")
    assert google.authserv_id == "mx.google.com"
    assert [m for m, _, _ in google.results] == ["dkim", "spf", "dmarc"]
    exchange = parse_authentication_results(
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=corp.example; dkim=pass (signature was verified) "
        "header.d=corp.example;dmarc=pass action=none header.from=corp.example;compauth=pass reason=100")
    assert exchange.authserv_id == "-" and exchange.method("dmarc")[0][0] == "pass"


@pytest.mark.parametrize(("mail", "through_mta", "verified", "why"), [
    (ceo_mail(DMARC_PASS), True, True, "dmarc=pass"),
    (ceo_mail(DMARC_PASS), False, False, "not handed over by the company's mail server"),
    (ceo_mail(DMARC_PASS.replace("mx.corp.example", "mx.evil.example")), True, False, "not the company's"),
    (ceo_mail(DMARC_PASS.replace("dmarc=pass", "dmarc=fail")), True, False, "dmarc=fail"),
    (ceo_mail("mx.corp.example; spf=pass smtp.mailfrom=ceo@corp.example"), True, False, "no dmarc pass"),
    (ceo_mail(DMARC_PASS, sender="ceo@evil.example"), True, False, "not a company domain"),
    (ceo_mail(DMARC_PASS).replace("From: The CEO <ceo@corp.example>", "From: ceo@corp.example, mallory@evil.example"),
     True, False, "2 From addresses"),
    (ceo_mail(DMARC_PASS, extra="Sender: mallory@corp.example\n"), True, False, "Sender header"),
    (ceo_mail(DMARC_PASS.replace("corp.example; dmarc", "corp.example; dmarc=none; x")), True, False, "no dmarc"),
    # the sender's own "pass" below the MTA's verdict proves nothing: only the topmost header counts
    (ceo_mail(DMARC_PASS.replace("dmarc=pass", "dmarc=fail"), extra=f"Authentication-Results: {DMARC_PASS}\n"),
     True, False, "dmarc=fail"),
    (ceo_mail("mx.corp.example; dmarc=pass header.from=evil.example"), True, False, "no dmarc pass"),
    ("From: ceo@corp.example\nSubject: no verdict", True, False, "no Authentication-Results header"),
])
def test_verdicts(mail: str, through_mta: bool, verified: bool, why: str) -> None:
    verdict = CORP.verdict(headers(mail), through_company_mta=through_mta)
    assert (verdict.verified, why in verdict.reason) == (verified, True), verdict


def test_spf_or_dkim_count_only_when_configured_and_aligned() -> None:
    either = SenderVerification(authserv_ids=frozenset({"mx.corp.example"}), company_domains=frozenset({"corp.example"}),
                                methods=frozenset({"spf", "dkim"}))
    aligned_spf = ceo_mail("mx.corp.example; spf=pass smtp.mailfrom=bounces@mail.corp.example")
    foreign_spf = ceo_mail("mx.corp.example; spf=pass smtp.mailfrom=bounces@mailer.example")
    aligned_dkim = ceo_mail("mx.corp.example; spf=fail smtp.mailfrom=x@y.example; dkim=pass header.d=corp.example")
    assert either.verdict(headers(aligned_spf), through_company_mta=True).verified
    assert not either.verdict(headers(foreign_spf), through_company_mta=True).verified
    assert either.verdict(headers(aligned_dkim), through_company_mta=True).verified
    assert not CORP.verdict(headers(aligned_dkim), through_company_mta=True).verified  # dmarc only by default


def test_exchange_online_header_without_authserv_id_needs_the_explicit_marker() -> None:
    exchange = ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=corp.example; dkim=pass header.d=corp.example;"
                "dmarc=pass action=none header.from=corp.example;compauth=pass reason=100")
    assert not CORP.verdict(headers(ceo_mail(exchange)), through_company_mta=True).verified
    m365 = SenderVerification(authserv_ids=frozenset({"-"}), company_domains=frozenset({"corp.example"}))
    assert m365.verdict(headers(ceo_mail(exchange)), through_company_mta=True).verified


def test_a_hostile_header_is_read_in_linear_time() -> None:
    for hostile in ("(" * 50_000 + ";" * 50_000, "a=" * 50_000, '"' + "\\" * 100_000):
        started = time.perf_counter()
        parse_authentication_results("mx.corp.example; " + hostile)
        assert time.perf_counter() - started < 0.5
    assert parse_authentication_results("mx.corp.example; " + "x" * 10_000) is None  # no MTA writes that


def test_a_verification_rule_without_its_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="authserv-id"):
        SenderVerification(authserv_ids=frozenset(), company_domains=frozenset({"corp.example"}))
    with pytest.raises(ValueError, match="methods"):
        SenderVerification(authserv_ids=frozenset({"mx"}), company_domains=frozenset({"corp.example"}),
                           methods=frozenset({"arc"}))
