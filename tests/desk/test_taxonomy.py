"""The intent taxonomy (desk/taxonomy.yaml): one file for the policy, the desk's seeding and training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from desk import Level, TicketType, UnitOfWork, make_engine, migrate, people, session_factory, tickets
from desk.defaults import ensure_defaults
from desk.models import Group, RoutingRule
from desk.taxonomy import OUT_OF_SCOPE, Kind, TaxonomyError, load_taxonomy, packaged_taxonomy
from nlp import load_intent_examples, load_articles

ROOT = Path(__file__).resolve().parents[2]


def test_the_taxonomy_names_exactly_the_training_labels_and_every_kb_intent() -> None:
    taxonomy = packaged_taxonomy()
    trained = {e.intent for e in load_intent_examples(ROOT / "nlp" / "data" / "intents")}
    assert set(taxonomy.intents) == trained
    articles, errors = load_articles(ROOT / "kb_articles")
    assert not errors
    kb_intents = {i for a in articles for i in a.intents}
    assert kb_intents and kb_intents <= set(taxonomy.intents)
    assert taxonomy.check_training_labels(trained) == []  # and so training has nothing to warn about


def test_kinds_imply_their_ticket_type_and_bot_intents_are_not_routed() -> None:
    taxonomy = packaged_taxonomy()
    assert taxonomy.spec("software_access").ticket_type is TicketType.SERVICE_REQUEST
    assert taxonomy.spec("phishing_report").kind is Kind.SECURITY
    assert taxonomy.spec("phishing_report").urgency is Level.HIGH
    assert taxonomy.spec("greeting").group is None and "greeting" not in {s.intent for s in taxonomy.routed()}
    assert taxonomy.triage.intent == OUT_OF_SCOPE and taxonomy.triage.group == "Service Desk"


def test_training_labels_outside_the_taxonomy_are_refused_and_missing_ones_warned() -> None:
    taxonomy = packaged_taxonomy()
    with pytest.raises(TaxonomyError, match="not in the intent taxonomy: printer_jam, vpn"):
        taxonomy.check_training_labels({"password_reset", "vpn", "printer_jam"})
    warnings = taxonomy.check_training_labels(set(taxonomy.intents) - {"lost_device"})
    assert warnings == ["intent lost_device of the taxonomy has no training text"]


SMALL = """\
groups: [Service Desk, Network]
intents:
  vpn_connection: {kind: self_service, group: Network, ticket_type: incident, urgency: high}
  greeting: {kind: bot}
  oos: {kind: out_of_scope, group: Service Desk, ticket_type: incident, urgency: low}
"""


def test_seeding_an_empty_desk_creates_the_taxonomys_groups_and_routing_rules(empty_database_url: str,
                                                                              tmp_path: Path) -> None:
    (tmp_path / "taxonomy.yaml").write_text(SMALL)
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        uow = UnitOfWork(session_factory(engine))
        with uow() as s:
            done = ensure_defaults(session=s, taxonomy=load_taxonomy(tmp_path / "taxonomy.yaml"))
        assert done[0] == "2 groups and 2 routing rules"
        with uow() as s:
            assert sorted(s.scalars(select(Group.name))) == ["Network", "Service Desk"]
            rules = {r.intent: (r.group.name, r.ticket_type, r.urgency) for r in s.scalars(select(RoutingRule))}
            assert rules == {"vpn_connection": ("Network", TicketType.INCIDENT, int(Level.HIGH)),
                             "oos": ("Service Desk", TicketType.INCIDENT, int(Level.LOW))}
    finally:
        engine.dispose()


def test_the_packaged_taxonomy_seeds_the_test_desk_and_an_unrouted_ticket_goes_to_its_triage_group(
        uow: UnitOfWork) -> None:
    taxonomy = packaged_taxonomy()
    with uow() as s:
        assert sorted(s.scalars(select(Group.name))) == sorted(taxonomy.groups)
        rules = {r.intent: (r.group.name, r.ticket_type, r.urgency) for r in s.scalars(select(RoutingRule))}
        assert rules == {spec.intent: (spec.group, spec.ticket_type, int(spec.urgency)) for spec in taxonomy.routed()}
        ann = people.resolve_requester(session=s, channel="email", external_id="ann@corp.example",
                                       email="ann@corp.example", email_verified=True)
        ticket = tickets.open_ticket(session=s, requester_id=ann.id, subject="something odd", channel="email",
                                     actor="bot", intent="no_such_intent")
        assert ticket.group.name == taxonomy.triage.group


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("groups: [A]\nintents:\n  oos: {kind: out_of_scope, group: A, ticket_type: incident, urgency: low\n",
         None, "not valid YAML"),
        (SMALL.replace("urgency: high", "urgency: urgent"), 3, "urgency 'urgent' is not one of high, medium, low"),
        (SMALL.replace("group: Network,", "group: Netwrok,"), 3, "group 'Netwrok' is not in 'groups'"),
        (SMALL.replace("kind: self_service", "kind: selfservice"), 3, "kind 'selfservice' is not one of"),
        (SMALL.replace("kind: self_service", "kind: request"), 3, "a request intent's ticket_type is service_request"),
        (SMALL.replace("{kind: bot}", "{kind: bot, group: Network}"), 4, "bot intent: it has no group"),
        (SMALL.replace(", urgency: high", ""), 3, "intent vpn_connection needs urgency"),
        (SMALL + "  greeting: {kind: bot}\n", 6, "'greeting' appears twice"),
        (SMALL.rpartition("  oos:")[0], 2, "the intents need 'oos'"),
        (SMALL.replace("kind: bot", "kind: out_of_scope"), 4, "only 'oos' is of kind out_of_scope"),
        ("groups: [A]\n", 1, "no 'intents'"),
        ("- a list\n", 1, "the taxonomy must be a mapping"),
    ],
)
def test_a_broken_taxonomy_file_is_one_clear_error_naming_the_file_and_line(text: str, line: int | None,
                                                                            problem: str, tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(path)
    message = str(caught.value)
    assert "\n" not in message and problem in message
    assert message.startswith(f"{path} line {line}:" if line else f"{path} line ")


def test_the_packaged_file_is_valid_yaml_that_the_loader_reads_completely() -> None:
    raw = yaml.safe_load((ROOT / "desk" / "taxonomy.yaml").read_text())
    assert list(packaged_taxonomy().intents) == list(raw["intents"])
