"""Benchmark: the torch and the int8 ONNX embedding backends, side by side.

    .venv/bin/python bench/embeddings.py [--threads N] [--limit-train N] [--C C] [--grid 1,3,10,30,100]

Prints, for each backend: one-sentence latency (median), throughput in batches of 32,
the cosine between the two backends' vectors, and CLINC150 in-scope intent accuracy of a
logistic regression trained on each backend's embeddings (the target: ONNX within 0.3
points of torch).

Accuracy protocol (Larson et al. 2019, "An Evaluation Dataset for Intent Classification
and Out-of-Scope Prediction"): for each backend separately, the LogisticRegression C is
chosen on the in-scope `val` split (3,000 sentences) from a small grid, by fitting on
`train`; the model fitted on `train` with the chosen C is then scored once on the in-scope
`test` split (4,500 sentences). The test set plays no part in choosing C. `--C` skips the
search and uses the given C for both backends. Each backend embeds train, val and test
once (a single pass, also used for the throughput figure), and every fit reuses those
vectors.

The int8 model is built into var/nlp/onnx on first use (about 10 s) and reused
afterwards. It takes several minutes on 2 idle cores (mostly the logistic-regression
grid); other CPU-bound processes on the machine slow it down (the load average is printed).
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


DEFAULT_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)

Split = tuple[list[str], list[str]]


def load_clinc(limit_train: int | None, seed: int) -> tuple[Split, Split, Split]:
    """(train, val, test), each (texts, intents); in-scope only: the oos_* splits are left out."""
    if not CLINC.is_file():
        sys.exit(f"bench/embeddings.py: the CLINC150 data is missing: {CLINC} (data_full.json of clinc/oos-eval)")
    data = json.loads(CLINC.read_text())
    train, val, test = data["train"], data["val"], data["test"]
    if limit_train and limit_train < len(train):
        # Stratified: the same number of examples of each intent.
        by_intent: dict[str, list[list[str]]] = {}
        for row in train:
            by_intent.setdefault(row[1], []).append(row)
        rng = np.random.default_rng(seed)
        per = max(1, limit_train // len(by_intent))
        train = [rows[i] for rows in by_intent.values() for i in sorted(rng.permutation(len(rows))[:per])]

    def split(rows: list[list[str]]) -> Split:
        return [t for t, _ in rows], [y for _, y in rows]

    return split(train), split(val), split(test)


def median_latency_ms(embedder, sentences: list[str]) -> float:  # noqa: ANN001
    times = []
    for sentence in sentences:
        start = time.perf_counter()
        embedder.encode([sentence])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def fit(train_x: np.ndarray, train_y: list[str], c: float):  # noqa: ANN201
    from sklearn.linear_model import LogisticRegression

    # lbfgs, single process (n_jobs left unset): the machine is small and shared.
    return LogisticRegression(solver="lbfgs", max_iter=1000, C=c).fit(train_x, train_y)


def score(model, x: np.ndarray, y: list[str]) -> float:  # noqa: ANN001
    return float(np.mean(model.predict(x) == np.asarray(y)))


def select_and_test(name: str, x: dict[str, np.ndarray], y: dict[str, list[str]],
                    grid: tuple[float, ...], fixed_c: float | None) -> dict[str, object]:
    """Choose C on val (fit on train), then score the train-fitted model with that C on test.

    The model fitted on train with the chosen C during the search is the one scored on test
    (refitting on train with the same C would give the same model). Ties on val go to the
    smallest C (the strongest regularisation).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    val_acc: dict[float, float] = {}
    models = {}
    warned: list[float] = []
    for c in ([fixed_c] if fixed_c is not None else grid):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            models[c] = fit(x["train"], y["train"], c)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            warned.append(c)
        val_acc[c] = score(models[c], x["val"], y["val"])
        print(f"  {name}: C={c:g} val {val_acc[c] * 100:.2f} %"
              + ("  (lbfgs hit max_iter)" if c in warned else ""), flush=True)
    best = max(val_acc.values())
    chosen = min(c for c, a in val_acc.items() if a == best)
    test_acc = score(models[chosen], x["test"], y["test"])
    return {"val": val_acc, "C": chosen, "test": test_acc, "fit_s": time.perf_counter() - start,
            "not_converged": warned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default 2)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on N of the 15,000 CLINC150 training sentences (stratified)")
    parser.add_argument("--C", type=float, default=None, dest="c",
                        help="use this LogisticRegression C for both backends and skip the search on val")
    parser.add_argument("--grid", type=lambda s: tuple(float(v) for v in s.split(",")), default=DEFAULT_GRID,
                        help="comma-separated C values searched on val (default 1,3,10,30,100)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "nlp" / "onnx",
                        help="where the int8 ONNX file is built and kept (default var/nlp/onnx)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_clinc(args.limit_train, args.seed)

    import torch

    from nlp._onnx import OnnxEmbedder
    from nlp.embeddings import TorchEmbedder

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    print(f"threads {args.threads}, CPUs {os.cpu_count()}, load average {load_before:.2f}; "
          f"CLINC150 in-scope: {len(train_x)} train, {len(val_x)} val, {len(test_x)} test, "
          f"{np.mean([len(t.split()) for t in test_x]):.1f} words per sentence", flush=True)

    backends = {
        "torch": TorchEmbedder(threads=args.threads),
        "onnx-w8": OnnxEmbedder(threads=args.threads, cache_dir=args.cache_dir),
    }
    rng = np.random.default_rng(args.seed)
    latency_sentences = [test_x[i] for i in rng.choice(len(test_x), 100, replace=False)]
    texts = train_x + val_x + test_x  # embedded once per backend; every fit below reuses these vectors
    n_train, n_val = len(train_x), len(val_x)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(texts))}
    labels = {"train": train_y, "val": val_y, "test": test_y}
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

    cosines = np.sum(vectors["torch"] * vectors["onnx-w8"], axis=1)  # train + val + test
    sample = rng.choice(len(test_x), 300, replace=False)
    alone = np.vstack([backends["onnx-w8"].encode([test_x[i]]) for i in sample])
    consistency = np.sum(alone * vectors["onnx-w8"][bounds["test"][0] + sample], axis=1)

    results: dict[str, dict[str, object]] = {}
    for name in backends:
        x = {split: vectors[name][lo:hi] for split, (lo, hi) in bounds.items()}
        results[name] = select_and_test(name, x, labels, args.grid, args.c)
        print(f"  {name}: logistic regressions fitted in {results[name]['fit_s']:.1f} s", flush=True)

    t, o = rows["torch"], rows["onnx-w8"]
    rt, ro = results["torch"], results["onnx-w8"]
    diff = (ro["test"] - rt["test"]) * 100
    searched = args.c is None
    print()
    print(f"{'':34}{'torch':>12}{'onnx-w8':>12}{'ratio':>9}")
    print(f"{'load (first use)':34}{t['load_s']:>10.1f} s{o['load_s']:>10.1f} s")
    print(f"{'one sentence, median':34}{t['latency_ms']:>9.2f} ms{o['latency_ms']:>9.2f} ms"
          f"{t['latency_ms'] / o['latency_ms']:>8.2f}x")
    print(f"{'throughput, batches of 32':34}{t['per_s']:>8.0f} s/s{o['per_s']:>8.0f} s/s"
          f"{o['per_s'] / t['per_s']:>8.2f}x")
    label = "CLINC150 val acc, C=" if searched else "CLINC150 val acc, fixed C="
    for c in rt["val"]:
        print(f"{label + f'{c:g}':34}{rt['val'][c] * 100:>10.2f} %{ro['val'][c] * 100:>10.2f} %")
    print(f"{'C chosen on val' if searched else 'C (--C, no search)':34}{rt['C']:>12g}{ro['C']:>12g}")
    print(f"{'CLINC150 test acc (in-scope)':34}{rt['test'] * 100:>10.2f} %{ro['test'] * 100:>10.2f} %")
    print()
    verdict = "within" if abs(diff) <= TARGET_POINTS else "OUTSIDE"
    protocol = (f"C chosen per backend on val from {{{', '.join(f'{c:g}' for c in args.grid)}}}" if searched
                else f"C={args.c:g} given with --C, no search")
    print(f"test accuracy difference (onnx - torch): {diff:+.2f} points ({verdict} the {TARGET_POINTS} point "
          f"target; LogisticRegression lbfgs, {protocol}; fit on {n_train} train, "
          f"{n_val} val, scored on {len(test_x)} test)")
    for name, r in results.items():
        if r["not_converged"]:
            print(f"note: {name}: lbfgs stopped at max_iter=1000 for C="
                  + ", ".join(f"{c:g}" for c in r["not_converged"]))
    print(f"cosine torch vs onnx-w8 on {len(cosines)} sentences (train+val+test): mean {cosines.mean():.4f}, "
          f"min {cosines.min():.4f}, 1st percentile {np.percentile(cosines, 1):.4f}, "
          f"{np.mean(cosines < 0.99) * 100:.1f} % below 0.99")
    print(f"onnx-w8 alone vs in a batch of 32 on {len(sample)} sentences: mean {consistency.mean():.4f}, "
          f"min {consistency.min():.4f} (1.0: a vector does not depend on its batch)")
    load_after = os.getloadavg()[0]
    print(f"load average {load_before:.2f} before, {load_after:.2f} after"
          + ("  (other processes share the CPUs: timings are pessimistic)" if max(load_before, load_after)
             > args.threads + 0.5 else ""))


if __name__ == "__main__":
    main()
