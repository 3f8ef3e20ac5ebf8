"""Benchmark: the torch and the int8 ONNX embedding backends, side by side.

    .venv/bin/python bench/embeddings.py [--threads N] [--limit-train N] [--C C]

Prints, for each backend: one-sentence latency (median), throughput in batches of 32,
the cosine between the two backends' vectors, and CLINC150 in-scope intent accuracy of a
logistic regression trained on each backend's embeddings (the target: ONNX within 0.3
points of torch). The int8 model is built into var/nlp/onnx on first use (about 10 s) and
reused afterwards. It takes two to three minutes on 2 idle cores; other CPU-bound
processes on the machine slow it down (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

CLINC = (ROOT / ".." / "shared" / "bench" / "clinc150" / "data_full.json").resolve()
TARGET_POINTS = 0.3


def load_clinc(limit_train: int | None, seed: int) -> tuple[list[str], list[str], list[str], list[str]]:
    if not CLINC.is_file():
        sys.exit(f"bench/embeddings.py: the CLINC150 data is missing: {CLINC} (data_full.json of clinc/oos-eval)")
    data = json.loads(CLINC.read_text())
    train, test = data["train"], data["test"]  # in-scope only: the oos_* splits are left out
    if limit_train and limit_train < len(train):
        # Stratified: the same number of examples of each intent.
        by_intent: dict[str, list[list[str]]] = {}
        for row in train:
            by_intent.setdefault(row[1], []).append(row)
        rng = np.random.default_rng(seed)
        per = max(1, limit_train // len(by_intent))
        train = [rows[i] for rows in by_intent.values() for i in sorted(rng.permutation(len(rows))[:per])]
    return [t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test]


def median_latency_ms(embedder, sentences: list[str]) -> float:  # noqa: ANN001
    times = []
    for sentence in sentences:
        start = time.perf_counter()
        embedder.encode([sentence])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def accuracy(train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, test_y: list[str], c: float) -> float:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000, C=c)
    model.fit(train_x, train_y)
    return float(np.mean(model.predict(test_x) == np.asarray(test_y)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default 2)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on N of the 15,000 CLINC150 training sentences (stratified)")
    parser.add_argument("--C", type=float, default=10.0, dest="c", help="LogisticRegression C (default 10)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "nlp" / "onnx",
                        help="where the int8 ONNX file is built and kept (default var/nlp/onnx)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_x, train_y, test_x, test_y = load_clinc(args.limit_train, args.seed)

    import torch

    from nlp._onnx import OnnxEmbedder
    from nlp.embeddings import TorchEmbedder

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    print(f"threads {args.threads}, CPUs {os.cpu_count()}, load average {load_before:.2f}; "
          f"CLINC150 in-scope: {len(train_x)} train, {len(test_x)} test, "
          f"{np.mean([len(t.split()) for t in test_x]):.1f} words per sentence", flush=True)

    backends = {
        "torch": TorchEmbedder(threads=args.threads),
        "onnx-int8": OnnxEmbedder(threads=args.threads, cache_dir=args.cache_dir),
    }
    rng = np.random.default_rng(args.seed)
    latency_sentences = [test_x[i] for i in rng.choice(len(test_x), 100, replace=False)]
    texts = train_x + test_x
    rows: dict[str, dict[str, float]] = {}
    vectors: dict[str, np.ndarray] = {}
    for name, embedder in backends.items():
        start = time.perf_counter()
        embedder.encode(["warm up"])
        load = time.perf_counter() - start
        built = " (built the int8 file)" if getattr(embedder, "built", False) else ""
        print(f"  {name}: loaded in {load:.1f} s{built}; timing one-sentence latency ...", flush=True)
        median_latency_ms(embedder, latency_sentences[:10])  # warm-up
        latency = median_latency_ms(embedder, latency_sentences)
        print(f"  {name}: embedding {len(texts)} sentences ...", flush=True)
        start = time.perf_counter()
        vectors[name] = embedder.encode(texts)
        elapsed = time.perf_counter() - start
        rows[name] = {"load_s": load, "latency_ms": latency, "per_s": len(texts) / elapsed, "embed_s": elapsed}

    cosines = np.sum(vectors["torch"] * vectors["onnx-int8"], axis=1)
    sample = rng.choice(len(test_x), 300, replace=False)
    alone = np.vstack([backends["onnx-int8"].encode([test_x[i]]) for i in sample])
    consistency = np.sum(alone * vectors["onnx-int8"][len(train_x) + sample], axis=1)

    for name in backends:
        start = time.perf_counter()
        n = len(train_x)
        rows[name]["accuracy"] = accuracy(vectors[name][:n], train_y, vectors[name][n:], test_y, args.c)
        rows[name]["fit_s"] = time.perf_counter() - start
        print(f"  {name}: logistic regression fitted in {rows[name]['fit_s']:.1f} s", flush=True)

    t, o = rows["torch"], rows["onnx-int8"]
    diff = (o["accuracy"] - t["accuracy"]) * 100
    print()
    print(f"{'':34}{'torch':>12}{'onnx-int8':>12}{'ratio':>9}")
    print(f"{'load (first use)':34}{t['load_s']:>10.1f} s{o['load_s']:>10.1f} s")
    print(f"{'one sentence, median':34}{t['latency_ms']:>9.2f} ms{o['latency_ms']:>9.2f} ms"
          f"{t['latency_ms'] / o['latency_ms']:>8.2f}x")
    print(f"{'throughput, batches of 32':34}{t['per_s']:>8.0f} s/s{o['per_s']:>8.0f} s/s"
          f"{o['per_s'] / t['per_s']:>8.2f}x")
    print(f"{'CLINC150 in-scope accuracy':34}{t['accuracy'] * 100:>10.2f} %{o['accuracy'] * 100:>10.2f} %")
    print()
    verdict = "within" if abs(diff) <= TARGET_POINTS else "OUTSIDE"
    print(f"accuracy difference (onnx - torch): {diff:+.2f} points ({verdict} the {TARGET_POINTS} point target; "
          f"LogisticRegression C={args.c:g}, {len(train_x)} train, {len(test_x)} test)")
    print(f"cosine torch vs onnx-int8 on {len(cosines)} sentences: mean {cosines.mean():.4f}, "
          f"min {cosines.min():.4f}, 1st percentile {np.percentile(cosines, 1):.4f}, "
          f"{np.mean(cosines < 0.99) * 100:.1f} % below 0.99")
    print(f"onnx-int8 alone vs in a batch of 32 on {len(sample)} sentences: mean {consistency.mean():.4f}, "
          f"min {consistency.min():.4f} (dynamic int8 scales depend on the batch)")
    load_after = os.getloadavg()[0]
    print(f"load average {load_before:.2f} before, {load_after:.2f} after"
          + ("  (other processes share the CPUs: timings are pessimistic)" if max(load_before, load_after)
             > args.threads + 0.5 else ""))


if __name__ == "__main__":
    main()
