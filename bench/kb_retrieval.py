"""KB retrieval benchmark: recall@1, recall@5 and MRR of dense, BM25 and hybrid search.

    .venv/bin/python bench/kb_retrieval.py [--backend torch|onnx] [--threads 2]

Queries: bench/data/kb_queries.csv (written from the article catalogue, not from the
article texts), each with the id(s) of the article(s) that answer it. A hit counts when
the returned article or its original (for a translation) is one of them.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=Path, default=ROOT / "bench/data/kb_queries.csv")
    parser.add_argument("--kb", type=Path, default=ROOT / "kb_articles")
    args = parser.parse_args()

    from nlp import KbIndex, load_articles, make_embedder
    from nlp.kb import guess_language

    with args.queries.open(encoding="utf-8") as handle:
        rows = [(r["query"], set(r["relevant"].split("|"))) for r in csv.DictReader(handle)]
    articles, errors = load_articles(args.kb)
    if errors:
        print("skipped articles:", *errors, sep="\n  ", file=sys.stderr)
    embedder = make_embedder(backend=args.backend, threads=args.threads, cache_dir=ROOT / "var/nlp")
    started = time.perf_counter()
    index = KbIndex.build(articles, embedder)
    built = time.perf_counter() - started
    vectors = embedder.encode([q for q, _ in rows])

    print(f"{len(rows)} queries, {len(articles)} articles, {len(index)} sections, {embedder.model_id}, "
          f"index built in {built:.1f} s")
    print(f"{'mode':<8} {'recall@1':>9} {'recall@5':>9} {'MRR':>7} {'ms/query':>9}")
    for mode in ("dense", "bm25", "hybrid"):
        r1 = r5 = rr = 0.0
        started = time.perf_counter()
        for (query, relevant), vector in zip(rows, vectors):
            hits = index.search(query, vector, k=10, mode=mode, lang=guess_language(query))
            ranks = [i for i, h in enumerate(hits) if h.canonical_id in relevant or h.article_id in relevant]
            if ranks:
                r1 += ranks[0] == 0
                r5 += ranks[0] < 5
                rr += 1.0 / (ranks[0] + 1)
        per_query = 1000 * (time.perf_counter() - started) / len(rows)
        n = len(rows)
        print(f"{mode:<8} {r1 / n:>9.3f} {r5 / n:>9.3f} {rr / n:>7.3f} {per_query:>9.2f}")


if __name__ == "__main__":
    main()
