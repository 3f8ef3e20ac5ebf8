"""The agent console in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright, against
the service as ``deskbot serve`` runs it (HTTP, the email channel, workers, dispatchers) with the real NLP; mail
comes in over SMTP and the requester's answer goes out to an SMTP sink.

Saves full-page screenshots of the queue, the ticket view, (signed in as an admin) a model version's page,
the dashboard and the KB editor under ``var/screenshots/``. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.composition import Deskbot
from desk import Direction, Role, accounts, people, tickets
from desk.taxonomy import packaged_taxonomy
from smtp_sink import Sink

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SUPPORT = "support@deskbot.example"
PASSWORD = "a long enough console secret"
# Asks for a person, so the policy opens a ticket whatever the model reads in the rest.
FIRST_MAIL = ("I need to talk to a human please. Since this morning the VPN client says the gateway is not "
              "responding and I cannot reach the file shares from home.")
KB_DRAFT_BODY = ("Hotel networks often block the VPN's port. This gets you connected anyway.\n\n## Steps\n"
                 "1. Open **GlobalProtect** from the menu bar and click *Disconnect*.\n"
                 "2. Sign in to the hotel's Wi-Fi portal in a browser first.\n"
                 "3. Connect again and choose the gateway `vpn-tcp.example.com`.\n\n"
                 "## If this did not help\nReply to this message and the IT service desk takes it from there.\n")

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
                                reason="chromium is not installed (apt-get install -y chromium)")


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def send_mail(port: int, subject: str, body: str, *, message_id: str,
              sender: str = "Ana Silva <ana@corp.example>") -> None:
    m = EmailMessage()
    m["Authentication-Results"] = "mx.corp.example; dmarc=pass header.from=corp.example"
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, SUPPORT, subject, message_id
    m.set_content(body)
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(m)


def ticket_numbers(uow) -> list[int]:  # noqa: ANN001
    with uow() as session:
        return [t.number for t in tickets.list_tickets(session=session, statuses=None)]


def test_an_agent_answers_an_email_ticket_with_a_suggested_article_and_corrects_its_intent(
        uow, analyzer, plumbing_nlp, desk_settings, serving, tmp_path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect, sync_playwright

    with uow() as session:
        people.add_user(session=session, username="amy", display_name="Amy Adams", email="amy@corp.example",
                        groups=list(packaged_taxonomy().groups))
        accounts.set_password(session=session, username="amy", password=PASSWORD)
        people.add_user(session=session, username="root", display_name="Root", email="root@corp.example",
                        role=Role.ADMIN)
        accounts.set_password(session=session, username="root", password=PASSWORD)
    shutil.copytree(plumbing_nlp.registry.root, tmp_path / "models")  # the models page lists the analyzer's model
    sink = Sink()
    settings = desk_settings(email_addresses=[SUPPORT], smtp_relay_host="127.0.0.1", smtp_relay_port=sink.port,
                             smtp_trusted_relays=["127.0.0.1/32"], email_verification="authentication-results",
                             email_authserv_ids=["mx.corp.example"], email_company_domains=["corp.example"],
                             data_dir=tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with serving(Deskbot(settings, analyzer=analyzer)) as running, sync_playwright() as pw:
            smtp_port = running.service.adapters["email"].port
            send_mail(smtp_port, "VPN gateway not responding", FIRST_MAIL, message_id="<first@corp.example>")
            [number] = wait_for(lambda: ticket_numbers(uow), "the mail's ticket")  # type: ignore[misc]

            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # a CSP refusal too

            page.goto(f"{running.url}/console/")
            expect(page).to_have_url(re.compile(r"/console/signin"))
            page.fill("input[name=username]", "amy")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator(f'tr[data-number="{number}"]')).to_be_visible()
            expect(page.locator(f'tr[data-number="{number}"] .channel-email')).to_be_visible()
            expect(page.locator(f'tr[data-number="{number}"] .countdown')).to_have_text(re.compile(r"left|paused|overdue"))

            # A new ticket shows up without a reload.
            send_mail(smtp_port, "Printer on floor 3 jams", "I need to talk to a human: the printer on floor 3 "
                      "jams on every page.", message_id="<second@corp.example>", sender="Ben Okafor <ben@corp.example>")
            second = wait_for(lambda: [n for n in ticket_numbers(uow) if n != number], "the second ticket")[0]  # type: ignore[index]
            expect(page.locator(f'tr[data-number="{second}"]')).to_be_visible(timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "console-queue.png"), full_page=True)

            page.click(f'tr[data-number="{number}"] td.num a')
            expect(page.locator("h1")).to_contain_text("VPN gateway not responding")
            expect(page.locator(".msg-inbound .text").first).to_contain_text("gateway is not responding")
            expect(page.locator(".msg-inbound .channel-email").first).to_be_visible()

            insert = page.locator("button.insert").first
            article = insert.get_attribute("data-article")
            assert article and article.startswith("KB-")
            insert.click()
            reply = page.locator("#reply-text")
            expect(reply).to_have_value(re.compile(rf"/kb/{article}"))
            reply.press("Control+Home")
            reply.type("Hello Ana, this should get you connected again:\n\n")
            page.click("#reply-form button[type=submit]")
            expect(page.locator(".msg-outbound .text").last).to_contain_text(f"/kb/{article}")

            def amys_reply() -> list[EmailMessage]:  # the bot's own answer to the mail may arrive before or after
                return [m for m in sink.mails if "ana@corp.example" in str(m["To"])
                        and "Amy Adams (IT service desk): Hello Ana" in m.get_body(("plain",)).get_content()]

            mail = wait_for(amys_reply, "Amy's reply in the SMTP sink")[0]  # type: ignore[index]
            assert f"/kb/{article}" in mail.get_body(("plain",)).get_content()
            assert f"[#{number}]" in str(mail["Subject"])

            with uow() as session:
                read = tickets.get_ticket(session=session, number=number).intent
            corrected = "vpn_connection" if read != "vpn_connection" else "network_outage"
            page.select_option("select[name=intent]", corrected)
            page.click("text=Confirm / correct intent")
            audit = page.locator("table.audit tbody")
            expect(audit).to_contain_text("confirmed_intent")
            expect(audit.locator("tr", has_text="confirmed_intent")).to_contain_text("user:amy")
            expect(audit.locator("tr", has_text="confirmed_intent")).to_contain_text(corrected)
            page.screenshot(path=str(SCREENSHOTS / "console-ticket.png"), full_page=True)

            # An admin opens the intent model's page and the active version's detail.
            page.click("text=Sign out")
            page.goto(f"{running.url}/console/admin/models")
            page.fill("input[name=username]", "root")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            active = page.locator("table.versions tr.active td a").first
            expect(active).to_have_text(plumbing_nlp.result.version)
            active.click()
            expect(page.locator("table.per-intent tbody tr").first).to_be_visible()
            expect(page.locator("img.confusion")).to_have_js_property("complete", True)
            assert page.locator("img.confusion").evaluate("img => img.naturalWidth") > 0
            page.screenshot(path=str(SCREENSHOTS / "console-models.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 860})
            page.click("header nav >> text=Dashboard")  # the last 30 days: today's two tickets
            expect(page.locator('[data-kpi="tickets"]')).to_have_text("2")
            expect(page.locator("svg.chart rect.bar").first).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "console-dashboard.png"), full_page=True)
            # The KB editor's live preview (nothing saved: a draft in the desk would change the shared KB index).
            page.click("header nav >> text=Knowledge base")
            page.click(".tabs >> text=New article")
            for name, value in (("id", "KB-0990"), ("title", "Connect to the VPN from a hotel"),
                                ("category", "Network & VPN"), ("intents", "vpn_connection"), ("tags", "vpn, hotel")):
                page.fill(f"#kb-form [name={name}]", value)
            page.fill("#kb-body", KB_DRAFT_BODY)
            expect(page.locator("#kb-preview h1")).to_have_text("Connect to the VPN from a hotel")
            expect(page.locator("#kb-preview strong").first).to_have_text("GlobalProtect")
            page.screenshot(path=str(SCREENSHOTS / "console-kb.png"))
            assert not errors, errors
            browser.close()
        with uow() as session:
            ticket = tickets.get_ticket(session=session, number=number)
            assert ticket.confirmed_intent == corrected
            sent = [m for m in tickets.thread(session=session, ticket=ticket) if m.direction is Direction.OUTBOUND]
            assert any("Hello Ana" in m.text for m in sent)
    finally:
        sink.close()
