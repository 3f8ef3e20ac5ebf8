"""What the console's knowledge-base pages show and take: the editor's form and the Markdown source it stands for,
the article list's rows and filters, the gaps grouped by query, and the changes between two versions.

The form is only another way of typing the source the API takes (``bot.web.kb_editor``): its fields become the
front matter of ``kb_articles/``, its body the Markdown under it, and the API's parser judges the result.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot import knowledge as kb
from bot.web.kb_editor import ArticleRow, GapOut
from desk.domain import ArticleStatus

_REQUIRED_FIELDS = {"id": "id", "title": "title", "lang": "language", "category": "section", "body": "body"}


def _items(typed: str) -> list[str]:
    """``"vpn, remote access"`` -> ``["vpn", "remote access"]`` (the form's way of typing a list)."""
    return [item.strip() for item in typed.split(",") if item.strip()]


@dataclass(frozen=True)
class ArticleForm:
    """The editor's fields. ``category`` is what the editor calls the section (the /kb index groups by it)."""

    id: str = ""
    title: str = ""
    lang: str = "en"
    translation_of: str = ""
    category: str = ""
    intents: str = ""  # comma-separated, as typed
    tags: str = ""
    body: str = ""
    note: str = ""  # what changed and why: the version history shows it

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> ArticleForm:
        """From a posted form (a browser sends CRLF line ends; the source keeps LF as the seed files do)."""
        def field(name: str) -> str:
            return fields.get(name, "").replace("\r\n", "\n").strip()

        return cls(id=field("id"), title=field("title"), lang=field("lang") or "en",
                   translation_of=field("translation_of"), category=field("category"), intents=field("intents"),
                   tags=field("tags"), body=field("body") + "\n", note=field("note"))

    @classmethod
    def from_source(cls, source: str) -> ArticleForm:
        """The fields of a stored version (each was parsed when it was saved)."""
        article = kb.parse(source)
        body = source.split("---", 2)[2].lstrip("\n")  # what the parser reads as the body, as written
        return cls(id=article.id, title=article.title, lang=article.lang, translation_of=article.translation_of or "",
                   category=article.category, intents=", ".join(article.intents), tags=", ".join(article.tags),
                   body=body)

    def missing(self) -> list[str]:
        """The fields a source needs that are empty, by the names the form shows."""
        return [label for name, label in _REQUIRED_FIELDS.items() if not getattr(self, name).strip()]

    def source(self, *, today: dt.date) -> str:
        """The Markdown source with its front matter (``updated`` is the day of this version)."""
        import yaml

        front: dict[str, object] = {"id": self.id, "title": self.title, "category": self.category,
                                    "intents": _items(self.intents), "tags": _items(self.tags), "updated": today,
                                    "lang": self.lang}
        if self.translation_of:
            front["translation_of"] = self.translation_of
        matter = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=None, width=10_000)
        return f"---\n{matter}---\n{self.body}"


@dataclass(frozen=True)
class ArticleListRow:
    article: ArticleRow
    updated_by: str  # the newest version's author ("user:amy", "import")


@dataclass(frozen=True)
class ArticleFilter:
    """The list page's choices: a status (the API's filter), a language and words of the title."""

    status: ArticleStatus | None = None
    lang: str = ""
    q: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ArticleFilter:
        """From the page's query string; an unknown status raises ``ValueError`` saying which ones there are."""
        status = params.get("status", "").strip()
        try:
            chosen = ArticleStatus(status) if status else None
        except ValueError:
            known = ", ".join(s.value for s in ArticleStatus)
            raise ValueError(f"status: {status!r} is none of {known}") from None
        return cls(status=chosen, lang=params.get("lang", "").strip(), q=params.get("q", "").strip()[:200])

    def keeps(self, row: ArticleRow) -> bool:
        words = self.q.casefold().split()
        title = row.title.casefold()
        return (not self.lang or row.lang == self.lang) and all(w in title for w in words)


@dataclass(frozen=True)
class GapGroup:
    """One query (compared without case and spacing) that found no article, with how often it came."""

    text: str  # as it was written the last time
    count: int
    last_at: dt.datetime
    channels: tuple[str, ...]
    best_article: str | None  # the nearest article the last time, below the retrieval threshold
    best_score: float


def grouped_gaps(gaps: Sequence[GapOut]) -> list[GapGroup]:
    """The gaps by query, most frequent first (then the most recent): the articles to write next."""
    by_query: dict[str, list[GapOut]] = {}
    for gap in gaps:
        by_query.setdefault(" ".join(gap.text.casefold().split()), []).append(gap)
    groups = []
    for same in by_query.values():
        last = max(same, key=lambda g: g.at)
        groups.append(GapGroup(text=last.text, count=len(same), last_at=last.at,
                               channels=tuple(sorted({g.channel for g in same})), best_article=last.best_article,
                               best_score=last.best_score))
    return sorted(groups, key=lambda g: (-g.count, -g.last_at.timestamp()))


class Change(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    SAME = "same"
    HUNK = "hunk"  # "@@ -3,7 +3,8 @@": where the next lines are


@dataclass(frozen=True)
class DiffLine:
    change: Change
    text: str


def diff_lines(older: str, newer: str) -> list[DiffLine]:
    """What changed from ``older`` to ``newer``, line by line, with three lines of context."""
    lines = []
    for line in list(difflib.unified_diff(older.splitlines(), newer.splitlines(), lineterm=""))[2:]:
        change = {"+": Change.ADDED, "-": Change.REMOVED, "@": Change.HUNK}.get(line[:1], Change.SAME)
        lines.append(DiffLine(change, line[1:] if change is not Change.HUNK else line))
    return lines
