"""The KB: article parsing, chunking, the three search modes, persistence and incremental reindex.

Plumbing only, with the deterministic hashing embedder; retrieval quality is measured by
bench/kb_retrieval.py and tests/nlp/test_quality.py with the real model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlp import ArticleError, HashingEmbedder, KbIndex, load_articles, reindex
from nlp.embeddings import CachedEmbedder
from nlp.kb import parse_article

ROOT = Path(__file__).resolve().parents[2]

ARTICLE = """---
id: KB-9001
title: Fix error 0x80070005 when printing
category: Printing
intents: [printer_problem]
tags: [printer, 0x80070005]
updated: 2026-11-02
lang: en
---
For people who see error 0x80070005 when they print.

## Steps
1. Open **Settings** > **Printers**.
2. Remove the printer and add it again.

## If this did not help
Call extension 4357.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_article_sections_and_steps() -> None:
    article = parse_article(ARTICLE, path="x.md")
    assert [s.heading for s in article.sections] == ["Summary", "Steps", "If this did not help"]
    assert article.steps.startswith("1. Open **Settings**")
    assert article.intents == ("printer_problem",) and article.canonical_id == "KB-9001"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter", "no YAML front matter"),
        ("---\nid: [unclosed\n---\nbody", "not valid YAML"),
        ("---\nid: KB-1\ntitle: t\n---\n## Steps\n1. x", "lacks category, intents, tags, updated, lang"),
        (ARTICLE.replace("updated: 2026-11-02", "updated: last week"), "'updated' must be a date"),
        (ARTICLE.replace("## Steps", "## Things to do"), "no '## Steps' section"),
    ],
)
def test_a_bad_article_is_a_clear_error(text: str, problem: str) -> None:
    with pytest.raises(ArticleError, match=problem) as error:
        parse_article(text, path="kb/broken.md")
    assert str(error.value).startswith("kb/broken.md: ")


def test_load_skips_bad_files_and_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path, "a.md", ARTICLE)
    write(tmp_path, "b.md", ARTICLE)
    write(tmp_path, "c.md", "no front matter")
    articles, errors = load_articles(tmp_path)
    assert [a.id for a in articles] == ["KB-9001"]
    assert any("b.md: id KB-9001 is already used" in e for e in errors)
    assert any("c.md: no YAML front matter" in e for e in errors)


def test_the_project_kb_is_complete() -> None:
    articles, errors = load_articles(ROOT / "kb_articles")
    assert errors == []
    assert len([a for a in articles if a.lang == "en"]) >= 40
    assert len([a for a in articles if a.lang == "fr"]) >= 5
    self_service = {"password_reset", "account_locked", "mfa_setup", "vpn_connection", "wifi_connection",
                    "email_on_phone", "mailbox_full", "calendar_sharing", "printer_problem", "video_call_problem",
                    "laptop_slow", "monitor_display"}
    covered = {intent for a in articles for intent in a.intents}
    assert self_service <= covered
    ids = {a.id for a in articles}
    assert all(a.translation_of in ids for a in articles if a.translation_of)


@pytest.fixture(scope="module")
def index() -> KbIndex:
    articles, _ = load_articles(ROOT / "kb_articles")
    return KbIndex.build(articles, HashingEmbedder(256))


def search(index: KbIndex, query: str, **kwargs):  # noqa: ANN003, ANN201
    return index.search(query, HashingEmbedder(256).encode([query])[0], **kwargs)


def test_bm25_matches_product_names_and_error_codes_exactly(index: KbIndex) -> None:
    hits = search(index, "BitLocker recovery key", mode="bm25", k=3)
    assert hits[0].canonical_id == "KB-0051"
    assert all(h.score <= 1.0 for h in hits)
    assert len({h.canonical_id for h in hits}) == len(hits)  # one hit per article


def test_french_reader_gets_the_french_version(index: KbIndex) -> None:
    hits = search(index, "GlobalProtect VPN", k=5, lang="fr")
    vpn = next(h for h in hits if h.canonical_id == "KB-0006")
    assert vpn.article_id == "KB-0006-fr"
    hits = search(index, "GlobalProtect VPN", k=5, lang="en")
    assert next(h for h in hits if h.canonical_id == "KB-0006").article_id == "KB-0006"


def test_unknown_mode_is_refused(index: KbIndex) -> None:
    with pytest.raises(ValueError, match="unknown search mode"):
        search(index, "vpn", mode="magic")


def test_save_and_load_give_the_same_results(index: KbIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "kb")
    loaded = KbIndex.load(tmp_path / "kb")
    for query in ("printer offline", "lost my laptop in a taxi", "mot de passe oublié"):
        assert search(loaded, query) == search(index, query)


def test_a_missing_or_damaged_index_says_what_to_do(index: KbIndex, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run 'deskbot kb reindex'"):
        KbIndex.load(tmp_path / "nothing")
    index.save(tmp_path / "kb")
    (tmp_path / "kb" / "chunks.json").write_text("{broken")
    with pytest.raises(ValueError, match="damaged .* run 'deskbot kb reindex'"):
        KbIndex.load(tmp_path / "kb")


def test_reindex_embeds_only_what_changed(tmp_path: Path) -> None:
    source = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_articles", source)
    embedder = CachedEmbedder(HashingEmbedder(128), tmp_path / "cache.sqlite")
    _, first = reindex(source, tmp_path / "index", embedder)
    assert first.embedded == first.chunks and len(first.added) == first.articles
    _, again = reindex(source, tmp_path / "index", embedder)
    assert (again.embedded, again.added, again.changed, again.removed) == (0, [], [], [])

    path = next(source.glob("en/KB-0015-*.md"))
    path.write_text(path.read_text().replace("## If this did not help", "## If this did not help\nNew sentence.\n"))
    next(source.glob("en/KB-0074-*.md")).unlink()
    write(source / "en", "KB-9001-printing.md", ARTICLE)
    _, changed = reindex(source, tmp_path / "index", embedder)
    assert changed.changed == ["KB-0015"] and changed.removed == ["KB-0074"] and changed.added == ["KB-9001"]
    # one changed section of KB-0015 plus the three sections of the new article
    assert changed.embedded == 1 + 3


def test_indexing_from_a_previous_index_embeds_only_changed_sections_and_keeps_the_stamp(tmp_path: Path) -> None:
    import dataclasses

    from nlp import index_articles
    from nlp.kb import Section, saved_stamp

    articles, _ = load_articles(ROOT / "kb_articles")
    embedder = HashingEmbedder(128)  # no cache: the reuse comes from the previous index alone
    first, report = index_articles(articles, tmp_path / "index", embedder, stamp="one")
    assert report.embedded == len({c.text for c in first.chunks})
    assert saved_stamp(tmp_path / "index") == "one" and KbIndex.load(tmp_path / "index").stamp == "one"
    changed = [dataclasses.replace(a, sections=(*a.sections, Section("Still stuck", "Call extension 4357.")))
               if a.id == "KB-0015" else a for a in articles if a.id != "KB-0074"]
    second, report = index_articles(changed, tmp_path / "index", embedder, stamp="two", previous=first)
    assert (report.embedded, report.changed, report.removed) == (1, ["KB-0015"], ["KB-0074"])
    assert second.stamp == "two" and "KB-0074" not in second.articles
    fresh = KbIndex.build(changed, embedder)
    assert [c.text for c in second.chunks] == [c.text for c in fresh.chunks]
    assert abs(second.vectors - fresh.vectors).max() < 1e-6  # reused vectors are the ones the model gives
    assert saved_stamp(tmp_path / "nowhere") is None
