"""The intent taxonomy: each intent's kind, default group, ticket type and urgency, from ``desk/taxonomy.yaml``.

One file is the single truth (DESIGN.md, "One fact lives in one place"), and it lives in the desk because the
package rules leave no other place that all three readers may reach:
- the desk needs it itself (seeding a new desk's groups and routing rules, the triage group of a ticket with no
  rule), and the desk may import nothing of the bot or the NLP;
- the policy (``bot``) may import the desk, so it reads the kinds from here;
- training (``nlp``) imports nothing of the project, so the bot's CLI hands it the taxonomy's intents and refuses
  training labels the taxonomy does not know (``check_training_labels``).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from desk.domain import DeskError, Level, TicketType

PACKAGED_FILE = Path(__file__).with_name("taxonomy.yaml")
OUT_OF_SCOPE = "oos"  # the label of a message that is none of the intents; its tickets go to triage


class TaxonomyError(DeskError):
    """A taxonomy file that cannot be used; the message names the file and the line."""


class UnknownIntent(DeskError):
    """An intent the taxonomy has no route for (unknown, or a bot intent)."""


class Kind(str, enum.Enum):
    SELF_SERVICE = "self_service"  # the KB may answer it
    REQUEST = "request"  # a service request
    INCIDENT = "incident"
    SECURITY = "security"  # an incident opened at once, with the safety steps
    BOT = "bot"  # the bot itself answers (greeting, ticket status, "a person please"): no routing of its own
    OUT_OF_SCOPE = "out_of_scope"  # the one label 'oos'


# The ticket type a kind implies; a self-service intent names its own (what its ticket is when the KB failed).
IMPLIED_TICKET_TYPE: Mapping[Kind, TicketType] = {
    Kind.REQUEST: TicketType.SERVICE_REQUEST,
    Kind.INCIDENT: TicketType.INCIDENT,
    Kind.SECURITY: TicketType.INCIDENT,
}
_URGENCIES = {"high": Level.HIGH, "medium": Level.MEDIUM, "low": Level.LOW}
_ROUTED_FIELDS = ("group", "ticket_type", "urgency")
T = TypeVar("T")


@dataclass(frozen=True)
class IntentSpec:
    """One intent; ``group``, ``ticket_type`` and ``urgency`` are None only for a bot intent."""

    intent: str
    kind: Kind
    group: str | None = None
    ticket_type: TicketType | None = None
    urgency: Level | None = None


@dataclass(frozen=True)
class Taxonomy:
    path: Path  # the file it was read from (named in errors)
    groups: tuple[str, ...]
    intents: Mapping[str, IntentSpec]

    def spec(self, intent: str | None) -> IntentSpec | None:
        return self.intents.get(intent) if intent else None

    def routed(self) -> tuple[IntentSpec, ...]:
        """The intents a ticket can be opened for (every kind but bot), in the file's order."""
        return tuple(s for s in self.intents.values() if s.group is not None)

    def of_kind(self, kind: Kind) -> tuple[str, ...]:
        """The intents of ``kind`` (the security ones are the NLP's alarm intents), in the file's order."""
        return tuple(s.intent for s in self.intents.values() if s.kind is kind)

    def intent_roles(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """The intents the bot answers from the KB (self-service), routes by intent (requests, incidents) and
        raises a security incident for: what ``nlp.IntentRoles`` takes (the desk does not import the NLP)."""
        return (self.of_kind(Kind.SELF_SERVICE), self.of_kind(Kind.REQUEST) + self.of_kind(Kind.INCIDENT),
                self.of_kind(Kind.SECURITY))

    def routable(self, intent: str) -> IntentSpec:
        """The spec of an intent a routing rule may name; ``UnknownIntent`` for any other."""
        spec = self.spec(intent)
        if spec is None or spec.group is None:
            names = ", ".join(s.intent for s in self.routed())
            what = "a bot intent: the bot answers it, no ticket is routed" if spec else "not in the intent taxonomy"
            raise UnknownIntent(f"{intent!r} is {what} (intents: {names})")
        return spec

    @property
    def triage(self) -> IntentSpec:
        """Where a ticket goes that no routing rule claims."""
        return self.intents[OUT_OF_SCOPE]

    def check_training_labels(self, labels: Collection[str]) -> list[str]:
        """Refuse labels the taxonomy does not know (``TaxonomyError``); return warnings for its intents
        that have no training text."""
        unknown = sorted(set(labels) - set(self.intents))
        if unknown:
            raise TaxonomyError(f"training label(s) not in the intent taxonomy: {', '.join(unknown)} "
                                f"(add them to {self.path}, or fix the labels)")
        trained = set(labels)
        return [f"intent {name} of the taxonomy has no training text" for name in self.intents if name not in trained]


def load_taxonomy(path: Path) -> Taxonomy:
    """The taxonomy in ``path``, or a ``TaxonomyError`` naming the file and the line of the first problem."""
    return _Reader(Path(path)).taxonomy(compose(Path(path), TaxonomyError))


@functools.cache
def packaged_taxonomy() -> Taxonomy:
    """The taxonomy shipped with deskbot (read once per process)."""
    return load_taxonomy(PACKAGED_FILE)


def compose(path: Path, error: type[DeskError]) -> yaml.Node | None:
    """The YAML nodes of ``path`` (kept for their line numbers), or ``error`` naming the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        line = f" line {exc.problem_mark.line + 1}" if getattr(exc, "problem_mark", None) else ""
        raise error(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


class _Reader:
    """Turns the YAML nodes into a ``Taxonomy``, keeping their line numbers for the errors."""

    error: type[DeskError] = TaxonomyError

    def __init__(self, path: Path):
        self.path = path

    def fail(self, node: yaml.Node | None, problem: str) -> DeskError:
        where = f" line {node.start_mark.line + 1}" if node is not None else ""
        return self.error(f"{self.path}{where}: {problem}")

    def mapping(self, node: yaml.Node | None, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """key -> (key node, value node); a duplicate key is an error (YAML would keep the last silently)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, f"a key of {what} must be a name")
            if key.value in found:
                raise self.fail(key, f"{key.value!r} appears twice in {what}")
            found[key.value] = (key, value)
        return found

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
            raise self.fail(node, f"{what} must be a non-empty text")
        return node.value.strip()

    def taxonomy(self, root: yaml.Node | None) -> Taxonomy:
        top = self.mapping(root, "the taxonomy")
        for name, (key, _) in top.items():
            if name not in ("groups", "intents"):
                raise self.fail(key, f"unknown key {name!r} (expected 'groups' and 'intents')")
        for needed in ("groups", "intents"):
            if needed not in top:
                raise self.fail(root, f"no '{needed}'")
        groups_node = top["groups"][1]
        if not isinstance(groups_node, yaml.SequenceNode) or not groups_node.value:
            raise self.fail(groups_node, "'groups' must be a list of group names")
        groups = tuple(self.scalar(g, "a group") for g in groups_node.value)
        if len(set(groups)) != len(groups):
            raise self.fail(groups_node, "a group is listed twice")
        intents = {name: self.intent(key, value, set(groups))
                   for name, (key, value) in self.mapping(top["intents"][1], "'intents'").items()}
        if OUT_OF_SCOPE not in intents or intents[OUT_OF_SCOPE].kind is not Kind.OUT_OF_SCOPE:
            raise self.fail(top["intents"][0], f"the intents need '{OUT_OF_SCOPE}' of kind out_of_scope (triage)")
        return Taxonomy(self.path, groups, intents)

    def intent(self, key: yaml.Node, node: yaml.Node, groups: set[str]) -> IntentSpec:
        name = key.value
        fields = self.mapping(node, f"intent {name}")
        for field_name, (field_key, _) in fields.items():
            if field_name not in ("kind", *_ROUTED_FIELDS):
                raise self.fail(field_key, f"intent {name}: unknown field {field_name!r}")
        if "kind" not in fields:
            raise self.fail(key, f"intent {name} has no kind")
        kind = self.choice(fields["kind"][1], f"intent {name}: kind", {k.value: k for k in Kind})
        if kind is Kind.OUT_OF_SCOPE and name != OUT_OF_SCOPE:
            raise self.fail(fields["kind"][1], f"intent {name}: only '{OUT_OF_SCOPE}' is of kind out_of_scope")
        if kind is Kind.BOT:
            extra = [f for f in _ROUTED_FIELDS if f in fields]
            if extra:
                raise self.fail(fields[extra[0]][0], f"intent {name} is a bot intent: it has no {extra[0]}")
            return IntentSpec(name, kind)
        missing = [f for f in _ROUTED_FIELDS if f not in fields]
        if missing:
            raise self.fail(key, f"intent {name} needs {', '.join(missing)}")
        group = self.scalar(fields["group"][1], f"intent {name}: group")
        if group not in groups:
            raise self.fail(fields["group"][1], f"intent {name}: group {group!r} is not in 'groups'")
        ticket_type = self.choice(fields["ticket_type"][1], f"intent {name}: ticket_type",
                                  {t.value: t for t in (TicketType.INCIDENT, TicketType.SERVICE_REQUEST)})
        implied = IMPLIED_TICKET_TYPE.get(kind)
        if implied is not None and ticket_type is not implied:
            raise self.fail(fields["ticket_type"][1],
                            f"intent {name}: a {kind.value} intent's ticket_type is {implied.value}")
        urgency = self.choice(fields["urgency"][1], f"intent {name}: urgency", _URGENCIES)
        return IntentSpec(name, kind, group, ticket_type, urgency)

    def choice(self, node: yaml.Node, what: str, allowed: Mapping[str, T]) -> T:
        value = self.scalar(node, what)
        if value not in allowed:
            raise self.fail(node, f"{what} {value!r} is not one of {', '.join(allowed)}")
        return allowed[value]
