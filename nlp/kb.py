"""The knowledge base: Markdown articles, chunked by section, searched densely (faiss) and
lexically (BM25, so error codes and product names match exactly), fused by reciprocal rank."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nlp.embeddings import Embedder, Progress

SUMMARY = "Summary"  # the heading of the text before an article's first heading
STEPS_HEADING = re.compile(r"^(steps|étapes)\b", re.IGNORECASE)
REQUIRED = ("id", "title", "category", "intents", "tags", "updated", "lang")
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al., 2009)
FLAT_INDEX_LIMIT = 20_000  # past this many chunks an HNSW index replaces the exact flat one
CANDIDATES = 50


class ArticleError(ValueError):
    """An article that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    category: str
    intents: tuple[str, ...]
    tags: tuple[str, ...]
    updated: dt.date
    lang: str
    sections: tuple[Section, ...]
    translation_of: str | None = None
    path: str = ""

    @property
    def canonical_id(self) -> str:
        """The id of the original article, shared by its translations."""
        return self.translation_of or self.id

    @property
    def steps(self) -> str:
        for section in self.sections:
            if STEPS_HEADING.match(section.heading):
                return section.text
        return self.sections[0].text if self.sections else ""

    @property
    def summary(self) -> str:
        """The text before the first heading ("" when the article starts with one)."""
        return self.sections[0].text if self.sections and self.sections[0].heading == SUMMARY else ""

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), default=str, sort_keys=True).encode()).hexdigest()


def parse_article(text: str, *, path: str = "") -> Article:
    where = path or "article"
    if not text.startswith("---"):
        raise ArticleError(f"{where}: no YAML front matter (the file must start with '---')")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front)
    except ValueError:
        raise ArticleError(f"{where}: front matter is not closed with '---'") from None
    except yaml.YAMLError as exc:
        raise ArticleError(f"{where}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleError(f"{where}: front matter must be a mapping of keys")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ArticleError(f"{where}: front matter lacks {', '.join(missing)}")
    updated = meta["updated"]
    if not isinstance(updated, dt.date):
        try:
            updated = dt.date.fromisoformat(str(updated))
        except ValueError:
            raise ArticleError(f"{where}: 'updated' must be a date like 2026-11-02, not {updated!r}") from None
    sections = _sections(body)
    if not any(STEPS_HEADING.match(s.heading) for s in sections):
        raise ArticleError(f"{where}: no '## Steps' section")
    return Article(
        id=str(meta["id"]),
        title=str(meta["title"]),
        category=str(meta["category"]),
        intents=tuple(str(i) for i in meta["intents"] or ()),
        tags=tuple(str(t) for t in meta["tags"] or ()),
        updated=updated,
        lang=str(meta["lang"]),
        sections=tuple(sections),
        translation_of=str(meta["translation_of"]) if meta.get("translation_of") else None,
        path=path,
    )


def _sections(body: str) -> list[Section]:
    sections: list[Section] = []
    heading, lines = SUMMARY, []
    for line in body.strip().splitlines():
        if line.startswith("## "):
            if "\n".join(lines).strip():
                sections.append(Section(heading, "\n".join(lines).strip()))
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        sections.append(Section(heading, "\n".join(lines).strip()))
    return sections


def load_articles(folder: Path) -> tuple[list[Article], list[str]]:
    """Every article under ``folder``, and one error line per file that could not be read."""
    articles, errors, seen = [], [], {}
    for path in sorted(Path(folder).rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            article = parse_article(path.read_text(encoding="utf-8"), path=str(path))
        except (ArticleError, UnicodeDecodeError) as exc:
            errors.append(str(exc))
            continue
        if article.id in seen:
            errors.append(f"{path}: id {article.id} is already used by {seen[article.id]}")
            continue
        seen[article.id] = str(path)
        articles.append(article)
    return articles, errors


@dataclass(frozen=True)
class Chunk:
    article_id: str
    canonical_id: str
    title: str
    section: str
    lang: str
    text: str


def chunk_articles(articles: Iterable[Article]) -> list[Chunk]:
    chunks = []
    for a in articles:
        for s in a.sections:
            # The title and tags ride along with every section: a section alone often lacks the subject.
            head = f"{a.title}. {s.heading}." if s.heading != SUMMARY else f"{a.title}. {' '.join(a.tags)}."
            chunks.append(Chunk(a.id, a.canonical_id, a.title, s.heading, a.lang, f"{head}\n{s.text}"))
    return chunks


@dataclass(frozen=True)
class KbHit:
    article_id: str
    canonical_id: str
    title: str
    section: str
    snippet: str
    score: float  # cosine similarity of the query to the best-matching section (0..1 for these models)
    rank_score: float = 0.0  # the fused rank score that ordered the results


_STOPWORDS: list[str] | None = None


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    global _STOPWORDS
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    if _STOPWORDS is None:
        _STOPWORDS = sorted(set(STOPWORDS_EN) | set(STOPWORDS_FRENCH))
    return bm25s.tokenize(list(texts), stopwords=_STOPWORDS, return_ids=False, show_progress=False)


@dataclass
class KbIndex:
    """Chunks with their vectors, a faiss index and a BM25 index; saved to and loaded from a folder."""

    chunks: list[Chunk]
    vectors: np.ndarray
    model_id: str
    articles: dict[str, Article] = field(default_factory=dict)
    stamp: str = ""  # what the caller says these articles are (the desk's published stamp); "" for a folder
    _faiss: object = None
    _bm25: object = None

    @classmethod
    def build(cls, articles: Sequence[Article], embedder: Embedder, *, progress: Progress | None = None,
              previous: KbIndex | None = None, stamp: str = "") -> KbIndex:
        """``previous``: an index whose vectors are reused for every section of the same text, so that changing
        one article embeds only its changed sections (also without an embedding cache)."""
        chunks = chunk_articles(articles)
        known: dict[str, np.ndarray] = {}
        if previous is not None and previous.model_id == embedder.model_id:
            known = {c.text: v for c, v in zip(previous.chunks, previous.vectors)}
        new = sorted({c.text for c in chunks} - set(known))
        if new:
            known.update(zip(new, embedder.encode(new, progress=progress)))
        dim = next(iter(known.values())).shape[0] if known else 1
        vectors = np.array([known[c.text] for c in chunks], dtype=np.float32).reshape(len(chunks), dim)
        index = cls(chunks=chunks, vectors=vectors, model_id=embedder.model_id, articles={a.id: a for a in articles},
                    stamp=stamp)
        index._build_search_structures()
        return index

    def _build_search_structures(self) -> None:
        import bm25s
        import faiss

        dim = self.vectors.shape[1] if len(self.vectors) else 1
        if len(self.chunks) > FLAT_INDEX_LIMIT:
            dense = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            dense.hnsw.efSearch = 128
        else:
            dense = faiss.IndexFlatIP(dim)
        if len(self.vectors):
            dense.add(np.ascontiguousarray(self.vectors, dtype=np.float32))
        self._faiss = dense
        bm25 = bm25s.BM25()
        if self.chunks:
            bm25.index(_tokenize([c.text for c in self.chunks]), show_progress=False)
        self._bm25 = bm25

    def __len__(self) -> int:
        return len(self.chunks)

    # --- search ---------------------------------------------------------------------------

    def _dense_ranking(self, query_vector: np.ndarray, n: int) -> list[int]:
        _, ids = self._faiss.search(query_vector.reshape(1, -1).astype(np.float32), min(n, len(self.chunks)))
        return [int(i) for i in ids[0] if i >= 0]

    def _bm25_ranking(self, query: str, n: int) -> list[int]:
        tokens = _tokenize([query])
        if not tokens[0]:
            return []
        ids, scores = self._bm25.retrieve(tokens, k=min(n, len(self.chunks)), show_progress=False)
        return [int(i) for i, s in zip(ids[0], scores[0]) if s > 0]

    def search(self, query: str, query_vector: np.ndarray, *, k: int = 5, mode: str = "hybrid",
               lang: str | None = None) -> list[KbHit]:
        """The best ``k`` articles for ``query`` (one hit per article family, best section first).

        ``mode`` is ``hybrid`` (reciprocal-rank fusion of both), ``dense`` or ``bm25``. A hit
        shows the article's version in ``lang`` where one exists, else the original.
        """
        if not self.chunks:
            return []
        rankings = []
        if mode in ("hybrid", "dense"):
            rankings.append(self._dense_ranking(query_vector, CANDIDATES))
        if mode in ("hybrid", "bm25"):
            rankings.append(self._bm25_ranking(query, CANDIDATES))
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"unknown search mode {mode!r}")
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        cosine = self.vectors[list(fused)] @ query_vector.astype(np.float32) if fused else np.array([])
        similarity = dict(zip(fused, (float(c) for c in cosine)))
        best: dict[str, tuple[float, float, int]] = {}
        for chunk_id, rank_score in fused.items():
            key = self.chunks[chunk_id].canonical_id
            candidate = (rank_score, similarity[chunk_id], chunk_id)
            if key not in best or candidate > best[key]:
                best[key] = candidate
        hits = []
        for rank_score, score, chunk_id in sorted(best.values(), reverse=True)[:k]:
            chunk = self.chunks[chunk_id]
            version = self._version_for(chunk.canonical_id, lang or chunk.lang)
            if version.id == chunk.article_id:
                section, body = chunk.section, chunk.text.split("\n", 1)[-1]
            else:  # the match was in another language's version: show this reader's version
                section = next((s.heading for s in version.sections if STEPS_HEADING.match(s.heading)), "")
                body = version.steps
            hits.append(KbHit(version.id, chunk.canonical_id, version.title, section,
                              _snippet(body), round(score, 4), round(rank_score, 6)))
        return hits

    def _version_for(self, canonical_id: str, lang: str) -> Article:
        family = [a for a in self.articles.values() if a.canonical_id == canonical_id]
        return next((a for a in family if a.lang == lang), None) or next(
            (a for a in family if a.id == canonical_id), family[0]
        )

    # --- persistence --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Every process that serves the bot may rebuild the index after a publish: one saves at a time.
        with open(folder.with_name(folder.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._save(folder)

    def _save(self, folder: Path) -> None:
        import faiss

        tmp = folder.with_name(folder.name + ".tmp")
        if tmp.exists():  # left by a process that died while saving
            import shutil

            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", self.vectors)
        faiss.write_index(self._faiss, str(tmp / "dense.faiss"))
        (tmp / "chunks.json").write_text(json.dumps([asdict(c) for c in self.chunks], ensure_ascii=False))
        (tmp / "articles.json").write_text(json.dumps([asdict(a) for a in self.articles.values()], default=str, ensure_ascii=False))
        (tmp / "manifest.json").write_text(json.dumps({
            "model_id": self.model_id, "chunks": len(self.chunks), "stamp": self.stamp,
            "articles": {a.id: a.content_hash for a in self.articles.values()},
        }, indent=1))
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        if old.exists():
            import shutil

            shutil.rmtree(old)

    @classmethod
    def load(cls, folder: Path) -> KbIndex:
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no KB index in {folder}: run 'deskbot kb reindex'")
        try:
            manifest = json.loads(manifest_path.read_text())
            chunks = [Chunk(**c) for c in json.loads((folder / "chunks.json").read_text())]
            articles = {}
            for raw in json.loads((folder / "articles.json").read_text()):
                raw["sections"] = tuple(Section(**s) for s in raw["sections"])
                raw["intents"], raw["tags"] = tuple(raw["intents"]), tuple(raw["tags"])
                raw["updated"] = dt.date.fromisoformat(raw["updated"])
                articles[raw["id"]] = Article(**raw)
            vectors = np.load(folder / "vectors.npy")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the KB index in {folder} is damaged ({exc}): run 'deskbot kb reindex'") from exc
        index = cls(chunks=chunks, vectors=vectors, model_id=manifest["model_id"], articles=articles,
                    stamp=manifest.get("stamp", ""))
        index._build_search_structures()
        return index


def saved_stamp(folder: Path) -> str | None:
    """The stamp of the index saved in ``folder`` (None: no readable index there)."""
    try:
        return json.loads((Path(folder) / "manifest.json").read_text()).get("stamp", "")
    except (OSError, ValueError):
        return None


_FRENCH = frozenset("je j me m mon ma mes le la les un une des du de est pas ne plus sur pour avec dans "
                    "que qui vous nous il elle ça ce cette bonjour merci svp impossible".split())
_ENGLISH = frozenset("i my me the a an is are not on for with in that you we it this can't cannot "
                     "hello hi thanks please help".split())


_WORD = re.compile(r"[a-zà-ÿ']+")
_FRENCH_ACCENT = re.compile(r"[éèêàùçôî]")


def guess_language(text: str) -> str:
    """``fr`` or ``en``, from function words and accents: enough to pick an article's version."""
    words = _WORD.findall(text.lower().replace("'", " "))
    fr = sum(w in _FRENCH for w in words) + 2 * len(_FRENCH_ACCENT.findall(text.lower()))
    en = sum(w in _ENGLISH for w in words)
    return "fr" if fr > en else "en"


def _snippet(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class ReindexReport:
    articles: int
    chunks: int
    added: list[str]
    changed: list[str]
    removed: list[str]
    errors: list[str]
    embedded: int  # sections embedded by the model this time (the rest came from the cache)


def reindex(source: Path, target: Path, embedder: Embedder, *, progress: Progress | None = None) -> tuple[KbIndex, ReindexReport]:
    """Rebuild the index from the folder ``source``; with a cached embedder only changed sections are embedded."""
    articles, errors = load_articles(source)
    return index_articles(articles, target, embedder, errors=errors, progress=progress)


def index_articles(articles: Sequence[Article], target: Path, embedder: Embedder, *, stamp: str = "",
                   errors: Sequence[str] = (), progress: Progress | None = None,
                   previous: KbIndex | None = None) -> tuple[KbIndex, ReindexReport]:
    """Index ``articles`` (from the desk, or a folder) into ``target``. Sections of the same text as in ``previous``
    (or in the embedding cache) are not embedded again."""
    before: dict[str, str] = {}
    manifest = Path(target) / "manifest.json"
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
            if old.get("model_id") == embedder.model_id:
                before = old.get("articles", {})
        except ValueError:
            pass
    misses_before = getattr(embedder, "misses", None)
    reused = {c.text for c in previous.chunks} if previous is not None and previous.model_id == embedder.model_id \
        else set()
    index = KbIndex.build(articles, embedder, progress=progress, previous=previous, stamp=stamp)
    index.save(target)
    current = {a.id: a.content_hash for a in articles}
    if misses_before is not None:
        embedded = embedder.misses - misses_before  # type: ignore[attr-defined]
    else:
        embedded = len({c.text for c in index.chunks} - reused)
    return index, ReindexReport(
        articles=len(articles),
        chunks=len(index.chunks),
        added=sorted(set(current) - set(before)),
        changed=sorted(i for i in current if i in before and before[i] != current[i]),
        removed=sorted(set(before) - set(current)),
        errors=list(errors),
        embedded=embedded,
    )
