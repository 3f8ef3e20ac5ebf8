"""Out-of-scope detection on deskbot's own data: the detector against a max-probability cut.

    .venv/bin/python bench/intent_oos.py [--backend torch|onnx] [--threads 2]

Train on nlp/data's train split, pick thresholds on val, report on its fixed test split:
in-scope accuracy and out-of-scope recall and precision, for a plain max-probability cut
and for deskbot's detector (confidence + margin + nearest-neighbour similarity), both
with the same rule: the threshold that flags most out-of-scope texts at >= 85 % flag
precision. CLINC150 is measured by bench/nlp_clinc150.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _score(model, examples, vectors) -> dict[str, float]:  # noqa: ANN001
    report = model.evaluate(examples, vectors)
    return {"accuracy": report.accuracy, "oos_recall": report.oos_recall, "oos_precision": report.oos_precision,
            "macro_f1": report.macro_f1}


def _max_probability(model, val, val_v, test, test_v) -> dict[str, float]:  # noqa: ANN001
    from nlp.examples import OOS
    from nlp.intent import _oos_threshold

    def confidence(examples, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        probs, _ = model.scores([e.text for e in examples], vectors)
        return probs.max(axis=1), np.array(model.classes)[probs.argmax(axis=1)]

    val_conf, _ = confidence(val, val_v)
    threshold = _oos_threshold(val_conf, np.array([e.intent == OOS for e in val]), 0.85)
    conf, guess = confidence(test, test_v)
    flagged = conf < threshold
    truth_oos = np.array([e.intent == OOS for e in test])
    in_scope = ~truth_oos
    correct = (guess == np.array([e.intent for e in test])) & ~flagged
    return {"accuracy": float(correct[in_scope].mean()),
            "oos_recall": float((flagged & truth_oos).sum() / truth_oos.sum()),
            "oos_precision": float((flagged & truth_oos).sum() / max(1, flagged.sum()))}


def run(name: str, train, val, test, embedder) -> None:  # noqa: ANN001
    from nlp.intent import IntentModel

    started = time.perf_counter()
    vectors = {k: embedder.encode([e.text for e in part]) for k, part in (("train", train), ("val", val), ("test", test))}
    embedded = time.perf_counter() - started
    started = time.perf_counter()
    model = IntentModel.train(train, vectors["train"], val, vectors["val"])
    trained = time.perf_counter() - started
    ours = _score(model, test, vectors["test"])
    baseline = _max_probability(model, val, vectors["val"], test, vectors["test"])
    print(f"\n{name}: {len(train)} train / {len(val)} val / {len(test)} test texts "
          f"(embedded in {embedded:.0f} s, trained in {trained:.0f} s)")
    print(f"{'out-of-scope method':<38} {'in-scope acc.':>13} {'OOS recall':>11} {'OOS precision':>14}")
    for label, r in (("max-probability threshold", baseline), ("deskbot detector (prob + margin + kNN)", ours)):
        print(f"{label:<38} {100 * r['accuracy']:>12.1f}% {100 * r['oos_recall']:>10.1f}% {100 * r['oos_precision']:>13.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from nlp import load_training_data, make_embedder

    embedder = make_embedder(backend=args.backend, threads=args.threads, cache_dir=ROOT / "var" / "nlp")
    own = load_training_data(ROOT / "nlp" / "data")
    run("deskbot's own data", own.intents["train"], own.intents["val"], own.intents["test"], embedder)


if __name__ == "__main__":
    main()
