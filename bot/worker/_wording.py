"""Every sentence the worker writes to a requester, in one place: what each reply says, never what it does.

Each sentence is in English and French; a reply is in the language the NLP read in the requester's message
(``Analysis.language``), English for any other. A reply's text is Markdown (``bot.rich_text``): what others wrote
(a ticket's subject, a file's name) goes in through ``quote``, so it is shown as written and never becomes markup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.conversation import ArticleLink, Button, Reply
from bot.rich_text import quote

if TYPE_CHECKING:
    from bot.attachments import Refused
    from desk.departments import Department
    from desk.models import Ticket


class Article(Protocol):
    """What an answer shows of a KB article (the NLP's KB articles have it)."""

    id: str
    title: str
    steps: str
    lang: str


@dataclass(frozen=True)
class Phrase:
    en: str
    fr: str

    def in_(self, lang: str) -> str:
        return self.fr if lang == "fr" else self.en


GREETING = Phrase("Hello! I'm the IT service desk assistant. Tell me what is not working, or ask me about "
                  "your tickets.",
                  "Bonjour ! Je suis l'assistant du support informatique. Dites-moi ce qui ne fonctionne pas, ou "
                  "posez-moi une question sur vos tickets.")
THANKS = Phrase("You're welcome! Write any time if something else comes up.",
                "Avec plaisir ! Écrivez-moi quand vous voulez si autre chose se présente.")
NO_OPEN_TICKETS = Phrase("You have no open tickets.", "Vous n'avez aucun ticket ouvert.")
PASSED_ON = Phrase("Thanks, I've passed this to a person.", "Merci, j'ai transmis votre demande à une personne.")
HANDED_OFF = Phrase("Sure, a person from IT will take it from here.",
                    "Bien sûr, une personne du support informatique prend le relais.")
NOT_SOLVED = Phrase("Sorry it didn't help. I've passed it to a person, with the article you tried.",
                    "Désolé que cela n'ait pas suffi. J'ai transmis votre demande à une personne, avec l'article "
                    "que vous avez essayé.")
SOLVED = Phrase("Great, glad that solved it! I've closed the request.",
                "Parfait, ravi que ce soit résolu ! J'ai clos la demande.")
CLARIFY_SCOPE = Phrase("I'm the IT service desk assistant: accounts, devices, software, network, email and "
                       "security. Is this about an IT problem? Tell me a bit more (which system, what you see), "
                       "and I'll pass it on if I can't solve it.",
                       "Je suis l'assistant du support informatique : comptes, appareils, logiciels, réseau, "
                       "messagerie et sécurité. S'agit-il d'un problème informatique ? Dites-m'en un peu plus "
                       "(quel système, ce que vous voyez) et je transmettrai si je ne peux pas le résoudre.")
CLARIFY = Phrase("Could you tell me a bit more: which system or device is affected, and what exactly do you "
                 "see (an error message helps)?",
                 "Pouvez-vous m'en dire un peu plus : quel système ou appareil est concerné, et que voyez-vous "
                 "exactement (un message d'erreur aide) ?")
SECURITY_QUESTION = Phrase("Is this about a suspicious email, a lost or stolen device, or a virus warning?",
                           "S'agit-il d'un e-mail suspect, d'un appareil perdu ou volé, ou d'une alerte de virus ?")
NOT_SECURITY = Phrase("Thanks. Could you tell me a bit more: which system or device is affected, and what "
                      "exactly do you see?",
                      "Merci. Pouvez-vous m'en dire un peu plus : quel système ou appareil est concerné, et que "
                      "voyez-vous exactement ?")


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
    return f"; expect {what} by {local:%a %d %b, %H:%M} ({quote(tz)}, business hours)"


def ticket_status(mine: Sequence[Ticket], lang: str = "en") -> Reply:
    if not mine:
        return Reply(NO_OPEN_TICKETS.in_(lang))
    lines = [Phrase("Your open tickets:", "Vos tickets ouverts :").in_(lang)]
    for t in mine:
        group = quote(t.group.name) if t.group else "service desk"
        lines.append(f"{t.ref} {quote(t.subject)} ({t.status.value}, {group}, {t.priority.value}, via {t.channel})"
                     f"{eta(t)}")
    return Reply("\n".join(lines))


def home(mine: Sequence[Ticket]) -> Reply:
    """The requester's open tickets with status and SLA, for a channel's home view (Slack's App Home)."""
    lines = []
    for t in mine:
        due = t.first_response_due if t.first_response_at is None else t.resolution_due
        sla_text = f"SLA {t.sla_state.value}" + (f", due {due:%a %d %b %H:%M} UTC" if due else "")
        lines.append(f"**{t.ref}** {quote(t.subject)} ({t.status.value}, {t.priority.value}, "
                     f"{quote(t.group.name) if t.group else 'service desk'}; {sla_text})")
    return Reply(("**Your open IT tickets**\n" + "\n".join(lines)) if lines else "You have no open IT tickets.")


def with_ticket(ticket: Ticket, opening: Phrase, lang: str = "en") -> Reply:
    group = quote(ticket.group.name) if ticket.group else Phrase("the service desk", "le support").in_(lang)
    said = Phrase(f"Ticket {ticket.ref} is with {group} (priority {ticket.priority.value}){eta(ticket)}.",
                  f"Le ticket {ticket.ref} est chez {group} (priorité {ticket.priority.value}){eta(ticket)}.")
    return Reply(f"{opening.in_(lang)} {said.in_(lang)}", ticket_ref=ticket.ref)


def known_issue(ticket: Ticket, problem: Ticket, lang: str = "en") -> Reply:
    return Reply(Phrase(f"This looks like a known issue that IT is already working on ({problem.ref}). Your report "
                        f"{ticket.ref} is linked to it and you will hear when it is fixed.",
                        f"Cela ressemble à un problème connu sur lequel l'informatique travaille déjà "
                        f"({problem.ref}). Votre signalement {ticket.ref} y est lié et vous serez prévenu de sa "
                        f"résolution.").in_(lang), ticket_ref=ticket.ref)


def security_incident(ticket: Ticket, article: Article | None, kb_url: str, lang: str = "en") -> Reply:
    now = Phrase("Do this now:", "À faire tout de suite :").in_(lang)
    steps = f"\n\n{now}\n{article.steps}" if article else ""
    opened = Phrase(f"I've opened security incident {ticket.ref} with high urgency; the Security team has it "
                    f"(priority {ticket.priority.value}){eta(ticket)}.",
                    f"J'ai ouvert l'incident de sécurité {ticket.ref} en urgence haute ; l'équipe Sécurité s'en "
                    f"occupe (priorité {ticket.priority.value}){eta(ticket)}.")
    return Reply(f"{opened.in_(lang)}{steps}", ticket_ref=ticket.ref,
                 articles=(link(article, kb_url),) if article else ())


def security_question(lang: str) -> Reply:
    """Asked instead of an incident when a security reading is not confident; the values type back by mail."""
    labels = {"phishing": Phrase("Suspicious email", "E-mail suspect"),
              "device": Phrase("Lost or stolen device", "Appareil perdu ou volé"),
              "virus": Phrase("Virus warning", "Alerte de virus"), "no": Phrase("None of these", "Aucun")}
    return Reply(SECURITY_QUESTION.in_(lang), buttons=tuple(Button(p.in_(lang), v) for v, p in labels.items()))


def new_problem_question(ticket: Ticket, lang: str) -> Reply:
    """Asked when a message in an open ticket's conversation reads as something else; the values type back."""
    about = quote(ticket.subject if len(ticket.subject) <= 60 else ticket.subject[:57].rstrip() + "...")
    return Reply(Phrase(f"Is this about {ticket.ref} ({about}) or a new problem?",
                        f"S'agit-il de {ticket.ref} ({about}) ou d'un nouveau problème ?").in_(lang),
                 buttons=(Button(Phrase(f"About {ticket.ref}", f"À propos de {ticket.ref}").in_(lang), "same"),
                          Button(Phrase("A new problem", "Un nouveau problème").in_(lang), "new")),
                 ticket_ref=ticket.ref)


def redirect(department: Department, lang: str) -> Reply:
    return Reply(Phrase(f"That is not something IT handles: {department.name} does ({department.handles}). "
                        f"You can reach them at {department.contact}.",
                        f"Ce n'est pas du ressort de l'informatique : c'est {department.name} qui s'en occupe "
                        f"({department.handles}). Vous pouvez les joindre à {department.contact}.").in_(lang))


def kb_answer(article: Article, kb_url: str) -> Reply:
    french = article.lang == "fr"
    question = "Est-ce que cela a résolu le problème ?" if french else "Did this solve it?"
    return Reply(f"**{quote(article.title)}**\n\n{article.steps}\n\n{question}",  # the steps are Markdown
                 buttons=(Button("Oui, résolu" if french else "Yes, solved", "yes"),
                          Button("Non" if french else "No", "no")),
                 articles=(link(article, kb_url),))


def follow_up(ticket: Ticket, lang: str = "en") -> Reply:
    return Reply(Phrase(f"Thanks, I've added that to ticket {ticket.ref}.",
                        f"Merci, je l'ai ajouté au ticket {ticket.ref}.").in_(lang), ticket_ref=ticket.ref)


def resolved(ticket: Ticket, reopen_days: int, lang: str = "en") -> Reply:
    return Reply(Phrase(f"Good to hear it works now. I've resolved ticket {ticket.ref}; write here within "
                        f"{reopen_days} days if it comes back.",
                        f"Content que cela fonctionne. J'ai résolu le ticket {ticket.ref} ; écrivez ici dans les "
                        f"{reopen_days} jours si le problème revient.").in_(lang), ticket_ref=ticket.ref)


def reopened(ticket: Ticket, lang: str = "en") -> Reply:
    return Reply(Phrase(f"I've reopened ticket {ticket.ref} and added your message.",
                        f"J'ai rouvert le ticket {ticket.ref} et ajouté votre message.").in_(lang),
                 ticket_ref=ticket.ref)


def refused_attachments(text: str | None, refused: Sequence[Refused]) -> str:
    """``text`` (the first reply), telling the requester which files did not arrive, and why; None: the message was
    those files alone, so the reply is only that."""
    names = "; ".join(f"{quote(r.attachment.filename)} ({r.reason})" for r in refused)
    if text is None:
        return (f"I could not keep your attachment{'s' if len(refused) > 1 else ''}: {names}. "
                "Please send it in another form, such as a PDF or a screenshot, or describe it in words.")
    return (f"{text}\n\nI could not keep your attachment{'s' if len(refused) > 1 else ''}: {names}. "
            f"Your message itself was received.")
