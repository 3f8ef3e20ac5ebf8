"""The directory of the company's other departments (``desk/departments.yaml``, which admins edit): who handles
what is not for IT, and how to reach them. The policy reads it to redirect such messages instead of queueing
them for IT; the KPIs count those redirects apart."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from desk.domain import DeskError
from desk.taxonomy import _Reader, compose

PACKAGED_FILE = Path(__file__).with_name("departments.yaml")
_FIELDS = ("name", "handles", "keywords", "contact")


class DirectoryError(DeskError):
    """A department directory that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Department:
    name: str
    handles: str  # what they handle, shown in the reply
    keywords: tuple[str, ...]
    contact: str  # an address or a channel

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        words = sorted(self.keywords, key=len, reverse=True)
        return re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)

    def mentions(self, text: str) -> int:
        """How many of the department's keywords ``text`` names (each counted once)."""
        return len({m.lower() for m in self._pattern.findall(text)})


@dataclass(frozen=True)
class Directory:
    path: Path
    departments: tuple[Department, ...]

    def department(self, name: str) -> Department:
        return next(d for d in self.departments if d.name == name)

    def match(self, text: str) -> Department | None:
        """The department whose keywords ``text`` names most (the file's order breaks ties), or None."""
        best, best_hits = None, 0
        for department in self.departments:
            hits = department.mentions(text)
            if hits > best_hits:
                best, best_hits = department, hits
        return best


def load_directory(path: Path) -> Directory:
    """The directory in ``path``, or a ``DirectoryError`` naming the file and the line of the first problem."""
    return _DirectoryReader(Path(path)).directory(compose(Path(path), DirectoryError))


@functools.cache
def packaged_directory() -> Directory:
    """The directory shipped with deskbot (read once per process)."""
    return load_directory(PACKAGED_FILE)


class _DirectoryReader(_Reader):
    error = DirectoryError

    def directory(self, root: yaml.Node | None) -> Directory:
        top = self.mapping(root, "the department directory")
        for name, (key, _) in top.items():
            if name != "departments":
                raise self.fail(key, f"unknown key {name!r} (expected 'departments')")
        if "departments" not in top:
            raise self.fail(root, "no 'departments'")
        node = top["departments"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "'departments' must be a list")
        departments = tuple(self.department(item) for item in node.value)
        names = [d.name.lower() for d in departments]
        for item, department in zip(node.value, departments):
            if names.count(department.name.lower()) > 1:
                raise self.fail(item, f"department {department.name!r} is listed twice")
        return Directory(self.path, departments)

    def department(self, node: yaml.Node) -> Department:
        fields = self.mapping(node, "a department")
        for field_name, (key, _) in fields.items():
            if field_name not in _FIELDS:
                raise self.fail(key, f"a department: unknown field {field_name!r} (fields: {', '.join(_FIELDS)})")
        missing = [f for f in _FIELDS if f not in fields]
        if missing:
            raise self.fail(node, f"a department needs {', '.join(missing)}")
        name = self.scalar(fields["name"][1], "a department's name")
        keywords_node = fields["keywords"][1]
        if not isinstance(keywords_node, yaml.SequenceNode) or not keywords_node.value:
            raise self.fail(keywords_node, f"department {name}: 'keywords' must be a non-empty list")
        keywords = tuple(self.scalar(k, f"department {name}: a keyword") for k in keywords_node.value)
        return Department(name=name, handles=self.scalar(fields["handles"][1], f"department {name}: handles"),
                          keywords=keywords, contact=self.scalar(fields["contact"][1], f"department {name}: contact"))
