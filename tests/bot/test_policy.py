"""The policy is a pure function: every rule of DESIGN.md on hand-made readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy import Action, Reading, State, Thresholds, decide, yes_or_no
from desk import TicketType
from desk.taxonomy import load_taxonomy

T = Thresholds(answer_confidence=0.8, retrieval=0.45, security_confidence=0.6)
ROUTED = Thresholds(answer_confidence=0.8, retrieval=0.45, security_confidence=0.6, route_confidence=0.3)


def reading(intent: str, text: str = "text", confidence: float = 0.95, **kw) -> Reading:  # noqa: ANN003
    base = dict(text=text, intent=intent, confidence=confidence, out_of_scope=False, frustrated=False,
                frustration=0.1, top_article="KB-0001", top_article_score=0.7)
    base.update(kw)
    return Reading(**base)


RULES = [
    (reading("greeting", "hi"), State(), Action.GREET),
    (reading("thanks", "thanks!"), State(), Action.THANK),
    (reading("ticket_status", "any news?"), State(), Action.TICKET_STATUS),
    (reading("human_agent", "let me talk to a person"), State(), Action.HANDOFF),
    (reading("password_reset"), State(), Action.ANSWER_FROM_KB),
    (reading("password_reset", top_article_score=0.2), State(), Action.OPEN_TICKET),
    (reading("password_reset", confidence=0.5), State(), Action.CLARIFY),
    (reading("password_reset", confidence=0.5), State(clarifications=1), Action.OPEN_TICKET),
    (reading("password_reset", frustrated=True, frustration=0.9), State(), Action.OPEN_TICKET),
    (reading("software_access"), State(), Action.OPEN_TICKET),
    # a request or incident opens its routed ticket from its own (lower) validated threshold
    (reading("software_access", confidence=0.5), State(), Action.CLARIFY),
    (reading("software_access", confidence=0.5), State(), Action.OPEN_TICKET, ROUTED),
    (reading("network_outage", confidence=0.2), State(), Action.CLARIFY, ROUTED),
    (reading("password_reset", confidence=0.5), State(), Action.CLARIFY, ROUTED),
    # a relative's or friend's own device, or another employer's, is not this company's IT
    (reading("malware_infection", "my mom's laptop has a virus, can you look at it", confidence=0.99), State(),
     Action.CLARIFY),
    (reading("vpn_connection", "le VPN de la boîte de mon mari ne marche pas", confidence=0.97), State(),
     Action.CLARIFY),
    (reading("phishing_report", "my son's friend clicked a link in a mail and entered my password",
             confidence=0.9), State(), Action.SECURITY_INCIDENT),
    (reading("computer_wont_start", "my colleague's laptop won't turn on"), State(), Action.OPEN_TICKET),
    (reading("network_outage"), State(), Action.OPEN_TICKET),
    (reading("phishing_report"), State(), Action.SECURITY_INCIDENT),
    # a security intent: at once above its validated threshold, one question below it
    (reading("malware_infection", "my computer freezes with two Excel files open", confidence=0.36), State(),
     Action.ASK_SECURITY),
    (reading("malware_infection", "a window says my files are encrypted", confidence=0.61), State(),
     Action.SECURITY_INCIDENT),
    (reading("malware_infection", confidence=0.36), State(clarifications=1), Action.SECURITY_INCIDENT),
    # clearly security: never delayed, whatever the confidence
    (reading("phishing_report", "I clicked a link in a mail and entered my password", confidence=0.3),
     State(), Action.SECURITY_INCIDENT),
    (reading("phishing_report", "see below", confidence=0.3, forwarded_evidence=True), State(),
     Action.SECURITY_INCIDENT),
    (reading("phishing_report", "I approved an okta push I didn't initiate", confidence=0.3), State(),
     Action.SECURITY_INCIDENT),
    # a security intent flagged out of scope gets the security question, not the generic one
    (reading("lost_device", "left my laptop at the airport café", confidence=0.7, out_of_scope=True), State(),
     Action.ASK_SECURITY),
    (reading("lost_device", "left my laptop at the airport café", confidence=0.7, out_of_scope=True),
     State(clarifications=1), Action.OPEN_TICKET),
    (reading("lost_device", "I left my scarf in the canteen", confidence=0.02, out_of_scope=True), State(),
     Action.CLARIFY),
    (reading("lost_device", "my wife's laptop was stolen", confidence=0.9), State(), Action.CLARIFY),
    (reading("lost_device", "my wife's laptop was stolen", confidence=0.5, out_of_scope=True), State(),
     Action.CLARIFY),
    # the answer to the question: a choice or yes opens the incident, no does not
    (reading("greeting", "", action="device"), State(security_question="malware_infection", clarifications=1),
     Action.SECURITY_INCIDENT),
    (reading("thanks", "yes"), State(security_question="malware_infection", clarifications=1),
     Action.SECURITY_INCIDENT),
    (reading("greeting", "", action="no"), State(security_question="lost_device", clarifications=1),
     Action.NOT_SECURITY),
    # for another department: who handles it, no IT ticket; truly unclear keeps the question
    (reading("oos", "where is my payslip for March?", out_of_scope=True), State(), Action.REDIRECT),
    (reading("lost_device", "lost my umbrella in meeting room 2", confidence=0.4), State(), Action.ASK_SECURITY),
    (reading("oos", "can I book a parking space for Friday", confidence=0.5), State(), Action.REDIRECT),
    (reading("vpn_connection", "VPN drops every time I book a flight", confidence=0.95), State(),
     Action.ANSWER_FROM_KB),
    (reading("oos", out_of_scope=True), State(), Action.CLARIFY),
    (reading("vpn_connection", "also my wifi"), State(open_ticket=1001), Action.FOLLOW_UP),
    (reading("vpn_connection", "it works now, thanks"), State(open_ticket=1001), Action.RESOLVED_BY_REQUESTER),
    (reading("vpn_connection", "broken again"), State(resolved_ticket=1001), Action.REOPEN),
    (reading("password_reset", "yes"), State(awaiting_confirmation=True, open_ticket=1, offered_article="KB-1"),
     Action.CONFIRMED_SOLVED),
    (reading("password_reset", "no", action=None), State(awaiting_confirmation=True, open_ticket=1),
     Action.NOT_SOLVED),
    (reading("greeting", "", action="no"), State(awaiting_confirmation=True, open_ticket=1), Action.NOT_SOLVED),
    # a new problem is not a follow-up: another confident intent, or a new-request entry, gets one question
    (reading("vpn_connection", "my VPN keeps dropping"), State(open_ticket=1001, open_ticket_intent="printer_problem"),
     Action.ASK_NEW_PROBLEM),
    (reading("printer_problem", "still jammed"), State(open_ticket=1001, open_ticket_intent="printer_problem"),
     Action.FOLLOW_UP),
    (reading("phishing_report", " ", confidence=1.0), State(open_ticket=1001, open_ticket_intent="printer_problem"),
     Action.FOLLOW_UP),  # a screenshot sent without a word
    (reading("vpn_connection", "hmm", confidence=0.4), State(open_ticket=1001, open_ticket_intent="printer_problem"),
     Action.FOLLOW_UP),
    (reading("vpn_connection", "my VPN"), State(open_ticket=1001, open_ticket_intent="oos"), Action.FOLLOW_UP),
    (reading("printer_problem", "jammed again", new_request=True),
     State(open_ticket=1001, open_ticket_intent="printer_problem"), Action.ASK_NEW_PROBLEM),
    (reading("printer_problem", "jammed", action="open_ticket", new_request=True),
     State(open_ticket=1001, open_ticket_intent="printer_problem"), Action.ASK_NEW_PROBLEM),
    (reading("greeting", "", action="new"), State(open_ticket=1001, new_problem_question=True), Action.NEW_PROBLEM),
    (reading("greeting", "a new problem"), State(open_ticket=1001, new_problem_question=True), Action.NEW_PROBLEM),
    (reading("greeting", "", action="same"), State(open_ticket=1001, new_problem_question=True), Action.FOLLOW_UP),
    (reading("greeting", "#1001"), State(open_ticket=1001, new_problem_question=True), Action.FOLLOW_UP),
    (reading("vpn_connection", "my VPN too"), State(open_ticket=1001, new_problem_question=True,
                                                    open_ticket_intent="printer_problem"), Action.FOLLOW_UP),
]


@pytest.mark.parametrize(("r", "state", "action", "thresholds"), [(*row, T)[:4] for row in RULES])
def test_rules(r: Reading, state: State, action: Action, thresholds: Thresholds) -> None:
    decision = decide(r, state, thresholds)
    assert decision.action is action
    assert decision.reasons  # every decision says why


def test_the_answer_to_the_security_question_names_the_intent() -> None:
    d = decide(reading("greeting", "", action="phishing"), State(security_question="lost_device", clarifications=1), T)
    assert (d.action, d.intent, d.ticket_type) == (Action.SECURITY_INCIDENT, "phishing_report", TicketType.INCIDENT)
    d = decide(reading("thanks", "oui"), State(security_question="lost_device", clarifications=1), T)
    assert d.intent == "lost_device" and d.urgency_raise == 2
    # neither an answer nor a choice: the message is read afresh
    d = decide(reading("vpn_connection", "actually my VPN is the problem"),
               State(security_question="lost_device", clarifications=1), T)
    assert d.action is Action.ANSWER_FROM_KB


def test_a_redirect_names_the_department_and_opens_no_ticket() -> None:
    d = decide(reading("oos", "I need to submit an expense claim", out_of_scope=True), State(), T)
    assert (d.action, d.department, d.ticket_type) == (Action.REDIRECT, "Finance", None)


def test_scope_and_time_words_raise_impact_and_urgency() -> None:
    d = decide(reading("application_down", "SAP is down for the whole company since this morning, urgent"), State(), T)
    assert (d.impact, d.urgency_raise) == (1, 1)
    d = decide(reading("application_down", "SAP is down for my team"), State(), T)
    assert (d.impact, d.urgency_raise) == (2, 0)
    d = decide(reading("application_down", "SAP is down", frustrated=True, frustration=0.9), State(), T)
    assert d.urgency_raise == 1 and any("frustration" in r for r in d.reasons)


@pytest.mark.parametrize(("text", "answer"), [("yes", "yes"), ("Oui, merci", "yes"), ("no", "no"),
                                              ("non", "no"), ("still broken", "no"), ("my printer", None)])
def test_yes_or_no(text: str, answer: str | None) -> None:
    assert yes_or_no(reading("thanks", text)) == answer


def test_it_works_now_wins_whatever_the_intent() -> None:
    d = decide(reading("thanks", "never mind, it works now, thanks"), State(open_ticket=1001), T)
    assert d.action is Action.RESOLVED_BY_REQUESTER


def test_an_unclear_message_in_a_ticket_conversation_is_a_follow_up() -> None:
    d = decide(reading("thanks", "My manager approved it this morning.", confidence=0.4), State(open_ticket=1000), T)
    assert d.action is Action.FOLLOW_UP
    d = decide(reading("thanks", "thanks a lot!", confidence=0.97), State(open_ticket=1000), T)
    assert d.action is Action.THANK


def test_the_kinds_come_from_the_taxonomy_and_carry_typed_ticket_types(tmp_path: Path) -> None:
    d = decide(reading("software_access"), State(), T)
    assert (d.action, d.ticket_type) == (Action.OPEN_TICKET, TicketType.SERVICE_REQUEST)
    d = decide(reading("phishing_report"), State(), T)
    assert d.ticket_type is TicketType.INCIDENT
    assert decide(reading("password_reset", top_article_score=0.2), State(), T).ticket_type is None  # its rule says

    # The same reading under a taxonomy where password_reset is a service request: no KB answer, a request.
    path = tmp_path / "taxonomy.yaml"
    path.write_text("groups: [Service Desk]\nintents:\n  password_reset: "
                    "{kind: request, group: Service Desk, ticket_type: service_request, urgency: low}\n"
                    "  oos: {kind: out_of_scope, group: Service Desk, ticket_type: incident, urgency: low}\n")
    d = decide(reading("password_reset"), State(), T, taxonomy=load_taxonomy(path))
    assert (d.action, d.ticket_type) == (Action.OPEN_TICKET, TicketType.SERVICE_REQUEST)
    assert decide(reading("password_reset"), State(), T).action is Action.ANSWER_FROM_KB
