"""The systems, sites and devices of the company (``desk/systems.yaml``, which admins edit): what the major-incident
rule compares when it asks whether two reports are about the same thing."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from desk.domain import DeskError
from desk.taxonomy import _Reader, compose

PACKAGED_FILE = Path(__file__).with_name("systems.yaml")
_KEYS = ("systems", "not_systems", "sites")


class SystemsError(DeskError):
    """A systems file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class NamedSystem:
    name: str
    aliases: tuple[str, ...]  # other names people use for it

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Systems:
    path: Path
    systems: tuple[NamedSystem, ...]
    not_systems: frozenset[str]  # lower case
    sites: tuple[str, ...]


def load_systems(path: Path) -> Systems:
    """The systems in ``path``, or a ``SystemsError`` naming the file and the line of the first problem."""
    return _SystemsReader(Path(path)).systems(compose(Path(path), SystemsError))


@functools.cache
def packaged_systems() -> Systems:
    """The systems file shipped with deskbot (read once per process)."""
    return load_systems(PACKAGED_FILE)


class _SystemsReader(_Reader):
    error = SystemsError

    def systems(self, root: yaml.Node | None) -> Systems:
        top = self.mapping(root, "the systems file")
        for name, (key, _) in top.items():
            if name not in _KEYS:
                raise self.fail(key, f"unknown key {name!r} (expected {', '.join(_KEYS)})")
        if "systems" not in top:
            raise self.fail(root, "no 'systems'")
        systems = []
        seen: dict[str, str] = {}
        for name, (key, value) in self.mapping(top["systems"][1], "'systems'").items():
            system = NamedSystem(self.scalar(key, "a system's name"), self.words(value, f"system {name}"))
            for word in system.names:
                if word.lower() in seen:
                    raise self.fail(key, f"system {name}: {word!r} already names {seen[word.lower()]}")
                seen[word.lower()] = name
            systems.append(system)
        not_systems = self.words(top["not_systems"][1], "'not_systems'") if "not_systems" in top else ()
        sites = self.words(top["sites"][1], "'sites'") if "sites" in top else ()
        return Systems(self.path, tuple(systems), frozenset(w.lower() for w in not_systems), sites)

    def words(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list (may be empty: [])")
        return tuple(self.scalar(item, f"{what}: an entry") for item in node.value)
