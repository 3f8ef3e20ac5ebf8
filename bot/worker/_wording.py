"""Every sentence the worker writes to a requester, in one place: what each reply says, never what it does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.conversation import ArticleLink, Button, Reply

if TYPE_CHECKING:
    from bot.attachments import Refused
    from desk.models import Ticket


class Article(Protocol):
    """What an answer shows of a KB article (the NLP's KB articles have it)."""

    id: str
    title: str
    steps: str
    lang: str


GREETING = ("Hello! I'm the IT service desk assistant. Tell me what is not working, or ask me about "
            "your tickets.")
THANKS = "You're welcome! Write any time if something else comes up."
NO_OPEN_TICKETS = "You have no open tickets."
PASSED_ON = "Thanks, I've passed this to a person."
HANDED_OFF = "Sure, a person from IT will take it from here."
NOT_SOLVED = "Sorry it didn't help. I've passed it to a person, with the article you tried."
SOLVED = "Great, glad that solved it! I've closed the request."
CLARIFY_SCOPE = ("I'm the IT service desk assistant: accounts, devices, software, network, email and "
                 "security. Is this about an IT problem? Tell me a bit more (which system, what you see), "
                 "and I'll pass it on if I can't solve it.")
CLARIFY = ("Could you tell me a bit more: which system or device is affected, and what exactly do you "
           "see (an error message helps)?")


def link(article: Article, kb_url: str) -> ArticleLink:
    return ArticleLink(article.id, article.title, f"{kb_url}/{article.id}")


def eta(ticket: Ticket) -> str:
    """When the requester may expect the next step, in the group's own time zone ("" when no clock runs)."""
    due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
    if due is None or not ticket.status.is_active:
        return ""
    tz = ticket.group.timezone if ticket.group else "UTC"
    local = due.astimezone(ZoneInfo(tz))
    what = "a first answer" if ticket.first_response_at is None else "a resolution"
    return f"; expect {what} by {local:%a %d %b, %H:%M} ({tz}, business hours)"


def ticket_status(mine: Sequence[Ticket]) -> Reply:
    if not mine:
        return Reply(NO_OPEN_TICKETS)
    lines = ["Your open tickets:"]
    for t in mine:
        lines.append(f"{t.ref} {t.subject} ({t.status.value}, {t.group.name if t.group else 'service desk'}, "
                     f"{t.priority.value}, via {t.channel}){eta(t)}")
    return Reply("\n".join(lines))


def home(mine: Sequence[Ticket]) -> Reply:
    """The requester's open tickets with status and SLA, for a channel's home view (Slack's App Home)."""
    lines = []
    for t in mine:
        due = t.first_response_due if t.first_response_at is None else t.resolution_due
        sla_text = f"SLA {t.sla_state.value}" + (f", due {due:%a %d %b %H:%M} UTC" if due else "")
        lines.append(f"*{t.ref}* {t.subject} ({t.status.value}, {t.priority.value}, "
                     f"{t.group.name if t.group else 'service desk'}; {sla_text})")
    return Reply(("*Your open IT tickets*\n" + "\n".join(lines)) if lines else "You have no open IT tickets.")


def with_ticket(ticket: Ticket, opening: str) -> Reply:
    group = ticket.group.name if ticket.group else "the service desk"
    return Reply(f"{opening} Ticket {ticket.ref} is with {group} (priority {ticket.priority.value}){eta(ticket)}.",
                 ticket_ref=ticket.ref)


def known_issue(ticket: Ticket, problem: Ticket) -> Reply:
    return Reply(f"This looks like a known issue that IT is already working on ({problem.ref}). Your report "
                 f"is linked to it and you will hear when it is fixed.", ticket_ref=ticket.ref)


def security_incident(ticket: Ticket, article: Article | None, kb_url: str) -> Reply:
    steps = f"\n\nDo this now:\n{article.steps}" if article else ""
    return Reply(f"I've opened security incident {ticket.ref} with high urgency; the Security team has it "
                 f"(priority {ticket.priority.value}){eta(ticket)}.{steps}", ticket_ref=ticket.ref,
                 articles=(link(article, kb_url),) if article else ())


def kb_answer(article: Article, kb_url: str) -> Reply:
    french = article.lang == "fr"
    question = "Est-ce que cela a résolu le problème ?" if french else "Did this solve it?"
    return Reply(f"{article.title}\n\n{article.steps}\n\n{question}",
                 buttons=(Button("Oui, résolu" if french else "Yes, solved", "yes"),
                          Button("Non" if french else "No", "no")),
                 articles=(link(article, kb_url),))


def follow_up(ticket: Ticket) -> Reply:
    return Reply(f"Thanks, I've added that to ticket {ticket.ref}.", ticket_ref=ticket.ref)


def resolved(ticket: Ticket, reopen_days: int) -> Reply:
    return Reply(f"Good to hear it works now. I've resolved ticket {ticket.ref}; write here within "
                 f"{reopen_days} days if it comes back.", ticket_ref=ticket.ref)


def reopened(ticket: Ticket) -> Reply:
    return Reply(f"I've reopened ticket {ticket.ref} and added your message.", ticket_ref=ticket.ref)


def refused_attachments(text: str, refused: Sequence[Refused]) -> str:
    """``text`` (the first reply), telling the requester which files did not arrive, and why."""
    names = "; ".join(f"{r.attachment.filename} ({r.reason})" for r in refused)
    return (f"{text}\n\nI could not keep your attachment{'s' if len(refused) > 1 else ''}: {names}. "
            f"Your message itself was received.")
