"""What a report names: the systems (the systems file's and the KB titles' product names), the error codes, the
place (site, building, floor), and whether it says the thing is out. Two reports naming one error code are about
one thing; two naming different systems, or different places, are not, however alike their words."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from desk.systems import Systems

# Codes that name one failure wherever they appear: Windows/Outlook HRESULTs, Entra ID sign-in errors.
_CODE = re.compile(r"(?<![\w])(0x[0-9a-f]{8}|aadsts\d{5,6})(?!\w)", re.IGNORECASE)
# An HTTP server error names a failure of whatever the report is about: it links reports of one intent only.
_HTTP = re.compile(r"(?:\b(?:http|error|erreur|code|status)\s*(5\d\d)\b|\b(5\d\d)\s+(?:error|erreur|internal server|"
                   r"bad gateway|service unavailable|gateway time-?out)\b)", re.IGNORECASE)
_BUILDING = re.compile(r"\b(?:building|bldg\.?|b[âa]t(?:iment)?\.?)\s+([a-z]|\d{1,2})\b", re.IGNORECASE)
_ORDINALS = {"ground": 0, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "premier": 1, "deuxième": 2, "deuxieme": 2, "troisième": 3, "troisieme": 3, "quatrième": 4,
             "quatrieme": 4, "cinquième": 5, "cinquieme": 5, "rez-de-chaussée": 0, "rdc": 0}
_FLOOR = re.compile(
    r"\b(?:(\d{1,2})\s*(?:st|nd|rd|th|e|er|ème|eme)?\s+(?:floor|étage|etage)|(?:floor|étage|etage)\s+(\d{1,2})|"
    r"(" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")\s+(?:floor|étage|etage))\b"
    r"|\b(rez-de-chaussée|rdc)\b", re.IGNORECASE)
# What a report says when the system or device itself is out, not one function of it ("SAP is down", "GlobalProtect
# stuck on Connecting", "SAP ne répond plus", a jammed printer): two reports saying it of one system, or of one
# place's device, are one outage however they word it.
_UNAVAILABLE = re.compile(
    r"\b(?:down|offline|dead|unreachable|unresponsive|unavailable|indisponible|injoignable|hs|en panne"
    r"|not (?:responding|reachable|available|loading|working)|does(?:n't| not) respond|stopped working"
    r"|(?:can'?t|cannot|can not|unable to|won'?t|wont) (?:connect|reach|log ?in|load|open|get (?:in|on|back in))"
    r"|time[sd]? ?out|timed out|stuck (?:on|at) .{0,3}connecting|connection (?:\w+ ){0,4}failed|failed to connect"
    r"|no (?:network|internet|connection)|nothing (?:loads|works|comes out)|not printing|prints nothing"
    r"|jam(?:s|med|ming)?|bourre"
    r"|ne (?:répond|repond|marche|fonctionne|se lance) (?:plus|pas)|plus de réseau|plus rien ne"
    r"|impossible de (?:me |se )?(?:connecter|joindre)|délai dépassé)\b", re.IGNORECASE)
_TITLE_WORD = re.compile(r"[\w][\w./-]*[\w]|\w")


@dataclass(frozen=True)
class Place:
    """Where a report says the trouble is; any part may be unknown."""

    site: str | None = None
    building: str | None = None
    floor: int | None = None

    def same_as(self, other: Place) -> bool:
        """Both name something of it, and nothing they both name differs."""
        parts = list(zip((self.site, self.building, self.floor), (other.site, other.building, other.floor)))
        return (all(a is None or b is None or a == b for a, b in parts)
                and any(a is not None and a == b for a, b in parts))

    def differs(self, other: Place) -> bool:
        parts = zip((self.site, self.building, self.floor), (other.site, other.building, other.floor))
        return any(a is not None and b is not None and a != b for a, b in parts)


@dataclass(frozen=True)
class Names:
    systems: frozenset[str] = frozenset()  # the systems' names, lower case
    codes: frozenset[str] = frozenset()  # error codes that name one failure (lower case)
    http_errors: frozenset[str] = frozenset()  # HTTP 5xx statuses
    place: Place = Place()
    unavailable: bool = False  # it says that what it is about is out (down, unreachable, cannot connect)

    def same_code(self, other: Names) -> bool:
        """Both name one error code: that alone makes them one failure."""
        return bool(self.codes & other.codes)

    def same_system(self, other: Names) -> bool:
        return bool(self.systems & other.systems)

    def both_unavailable(self, other: Names) -> bool:
        return self.unavailable and other.unavailable

    def name_different_things(self, other: Names) -> bool:
        """Both name a system and none the same, or both a place and different ones."""
        return (bool(self.systems and other.systems and not self.systems & other.systems)
                or self.place.differs(other.place))

    def same_place(self, other: Names) -> bool:
        return self.place.same_as(other.place)

    def same_http_error(self, other: Names) -> bool:
        return bool(self.http_errors & other.http_errors)


class Namer:
    """Reads the names in a text; built once from the systems file and the KB articles' titles."""

    def __init__(self, systems: Systems, titles: Iterable[str]):
        self.systems_file = systems
        canonical: dict[str, str] = {}
        for system in systems.systems:
            for word in system.names:
                canonical[word.lower()] = system.name.lower()
        for title in titles:
            for name in product_names(title):
                if name.lower() not in systems.not_systems:
                    canonical.setdefault(name.lower(), name.lower())
        self._canonical = canonical
        self._system = _words(canonical)
        self._site = _words({s.lower(): s.lower() for s in systems.sites})

    def names(self, text: str) -> Names:
        http = frozenset(a or b for a, b in _HTTP.findall(text))
        building = _BUILDING.search(text)
        sites = self._site.findall(text) if self._site else []
        return Names(
            systems=frozenset(self._canonical[m.lower()] for m in self._system.findall(text)) if self._system
            else frozenset(),
            codes=frozenset(c.lower() for c in _CODE.findall(text)), http_errors=http,
            place=Place(site=sites[0].lower() if sites else None,
                        building=building.group(1).lower() if building else None, floor=_floor(text)),
            unavailable=_UNAVAILABLE.search(text) is not None)


def product_names(title: str) -> list[str]:
    """The product names in a KB title: its capitalised words, those that start a sentence (or a quote) only when
    more than the capital says so ("GlobalProtect", "SAP", "Teams: camera..."; not "Reset", "No internet")."""
    found = []
    for i, match in enumerate(_TITLE_WORD.finditer(title)):
        word = match.group(0)
        inner_capital = any(c.isupper() for c in word[1:])
        if len(word) < 2 or not any(c.isupper() for c in word) or word.isdigit():
            continue
        starts_sentence = i == 0 or title[:match.start()].rstrip().endswith((":", '"', "'", "."))
        if starts_sentence and not inner_capital and not word.isupper() and not title[match.end():].startswith(":"):
            continue
        found.append(word)
    return found


def _words(canonical: dict[str, str]) -> re.Pattern[str] | None:
    if not canonical:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(canonical, key=len, reverse=True))
    return re.compile(r"(?<![\w])(" + alternatives + r")(?![\w])", re.IGNORECASE)


def _floor(text: str) -> int | None:
    match = _FLOOR.search(text)
    if match is None:
        return None
    number = match.group(1) or match.group(2)
    return int(number) if number else _ORDINALS[(match.group(3) or match.group(4)).lower()]
