"""A tiny slice of the packaged training data (retraining on it with the hashing embedder takes seconds), and the
agent-confirmed labels a retraining adds to it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from desk import AuthorKind, Direction, UnitOfWork, people, tickets

PACKAGED = Path(__file__).resolve().parents[2] / "nlp" / "data"
INTENTS = ("password_reset", "vpn_connection", "printer_problem", "oos")


def write_tiny_data(folder: Path) -> Path:
    """The first 30 texts of a few packaged intents and the first 120 sentiment rows, in ``folder``."""
    (folder / "intents").mkdir(parents=True)
    for name in INTENTS:
        data = yaml.safe_load((PACKAGED / "intents" / f"{name}.yaml").read_text(encoding="utf-8"))
        data["examples"] = data["examples"][:30]
        (folder / "intents" / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rows = (PACKAGED / "sentiment.csv").read_text(encoding="utf-8").splitlines()[:121]
    (folder / "sentiment.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def confirm_an_intent(uow: UnitOfWork, text: str, intent: str) -> None:
    """A ticket of ``text`` whose intent an agent confirmed: a label the next training reads."""
    with uow() as session:
        requester = people.resolve_requester(session=session, channel="email", external_id="ana@corp.example",
                                             email="ana@corp.example", email_verified=True)
        ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject=text, channel="email",
                                     actor="bot", auto_assign=False)
        tickets.add_message(session=session, idempotency_key=f"in:{ticket.number}", ticket=ticket, channel="email",
                            direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, text=text)
        tickets.confirm_intent(session=session, number=ticket.number, intent=intent, actor="user:alice",
                               now=dt.datetime.now(dt.UTC))
