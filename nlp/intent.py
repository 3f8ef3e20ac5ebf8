"""Intent classification with calibrated confidence and out-of-scope detection.

The classifier is a logistic regression on sentence embeddings. Out-of-scope is not a
max-probability cut: a second small model combines the classifier's confidence and
margin with the nearest-neighbour similarity to the training utterances, trained on
held-out (cross-validated) features and the labelled out-of-scope examples. Both
operating thresholds are chosen on the validation split for target precisions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

OOS = "oos"


class DataError(ValueError):
    """Training data that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class IntentExample:
    text: str
    intent: str  # "oos" for out of scope


def load_intent_examples(folder: Path) -> list[IntentExample]:
    examples: list[IntentExample] = []
    files = sorted(Path(folder).glob("*.yaml"))
    if not files:
        raise DataError(f"no intent files (*.yaml) in {folder}")
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("intent"), str) or not isinstance(data.get("examples"), list):
            raise DataError(f"{path}: expected 'intent: <name>' and 'examples: [list of texts]'")
        for i, text in enumerate(data["examples"]):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path}: example {i + 1} is not a non-empty text")
            examples.append(IntentExample(" ".join(text.split()), data["intent"]))
    return examples


def split_of(text: str) -> str:
    """``train``, ``val`` or ``test`` by a hash of the text: stable however the data grows."""
    bucket = int(hashlib.sha256(text.strip().lower().encode()).hexdigest(), 16) % 10
    return "test" if bucket < 2 else "val" if bucket < 4 else "train"


def split_examples(examples: Sequence[IntentExample]) -> dict[str, list[IntentExample]]:
    parts: dict[str, list[IntentExample]] = {"train": [], "val": [], "test": []}
    for example in examples:
        parts[split_of(example.text)].append(example)
    return parts


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # the best in-scope intent, even when out_of_scope is true
    confidence: float  # calibrated probability of that intent
    out_of_scope: bool
    in_scope_score: float  # the out-of-scope detector's probability that the text is in scope
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass
class IntentReport:
    accuracy: float  # in-scope accuracy, counting an in-scope text flagged out of scope as wrong
    macro_f1: float
    oos_precision: float
    oos_recall: float
    per_intent: dict[str, dict[str, float]]
    labels: list[str]
    confusion: list[list[int]]
    expected_calibration_error: float
    answer_threshold_precision: float  # accuracy of the in-scope predictions at or above the answer threshold
    answer_threshold_coverage: float  # share of in-scope texts at or above it
    support: int = 0

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class IntentModel:
    classes: list[str]
    classifier: object
    temperature: float
    train_vectors: np.ndarray
    detector: object
    oos_threshold: float  # in-scope score below this: out of scope
    answer_threshold: float  # confidence at or above which the policy may answer from the KB
    targets: dict[str, float] = field(default_factory=dict)

    # --- training -------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        train: Sequence[IntentExample],
        train_vectors: np.ndarray,
        val: Sequence[IntentExample],
        val_vectors: np.ndarray,
        *,
        oos_precision_target: float = 0.85,
        answer_precision_target: float = 0.95,
        seed: int = 0,
    ) -> IntentModel:
        from scipy.optimize import minimize_scalar
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        train_in = np.array([e.intent != OOS for e in train])
        labels = np.array([e.intent for e in train])
        if len(set(labels[train_in])) < 2:
            raise DataError("training needs at least two in-scope intents")
        X, y = train_vectors[train_in], labels[train_in]
        classifier = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
        classifier.fit(X, y)
        classes = [str(c) for c in classifier.classes_]

        # Calibration: one temperature on the validation split's in-scope texts.
        val_in = np.array([e.intent != OOS for e in val])
        val_logits = classifier.decision_function(val_vectors[val_in])
        val_truth = np.array([classes.index(e.intent) if e.intent in classes else -1 for e in val])[val_in]
        known = val_truth >= 0

        def nll(t: float) -> float:
            p = _softmax(val_logits[known] / t)
            return float(-np.log(p[np.arange(known.sum()), val_truth[known]] + 1e-12).mean())

        temperature = float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x) if known.any() else 1.0

        # Out-of-scope detector, trained on features of texts the classifier has not seen.
        folds = max(2, min(5, int(np.bincount(np.unique(y, return_inverse=True)[1]).min())))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        held_out_logits = cross_val_predict(
            LogisticRegression(C=10.0, max_iter=2000, random_state=seed), X, y, cv=cv, method="decision_function"
        )
        in_features = cls._features(_softmax(held_out_logits / temperature), _nearest(X, X, exclude_self=True))
        model = cls(classes, classifier, temperature, X.astype(np.float32), None, 0.5, 0.0,
                    {"oos_precision": oos_precision_target, "answer_precision": answer_precision_target})
        oos_train = train_vectors[~train_in]
        features = [in_features]
        targets = [np.ones(len(in_features))]
        if len(oos_train):
            features.append(model._features_for(oos_train))
            targets.append(np.zeros(len(oos_train)))
        val_oos = val_vectors[~val_in]
        if len(val_oos) and not len(oos_train):
            features.append(model._features_for(val_oos))
            targets.append(np.zeros(len(val_oos)))
        detector = LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed)
        detector.fit(np.vstack(features), np.concatenate(targets))
        model.detector = detector

        # Operating points on the validation split.
        val_probs, val_scores = model._scores(val_vectors)
        is_oos = ~val_in
        model.oos_threshold = _oos_threshold(val_scores, is_oos, oos_precision_target)
        accepted = val_in & (val_scores >= model.oos_threshold)
        predicted = np.array(classes)[val_probs.argmax(axis=1)]
        correct = np.array([p == e.intent for p, e in zip(predicted, val)])
        model.answer_threshold = _confidence_threshold(val_probs.max(axis=1)[accepted], correct[accepted],
                                                       answer_precision_target)
        return model

    @staticmethod
    def _features(probs: np.ndarray, nearest: np.ndarray) -> np.ndarray:
        top = np.sort(probs, axis=1)[:, ::-1]
        entropy = -(probs * np.log(probs + 1e-12)).sum(axis=1) / np.log(probs.shape[1])
        return np.column_stack([top[:, 0], top[:, 0] - top[:, 1], nearest[:, 0], nearest.mean(axis=1), entropy])

    def _probs(self, vectors: np.ndarray) -> np.ndarray:
        return _softmax(self.classifier.decision_function(vectors) / self.temperature)

    def _features_for(self, vectors: np.ndarray) -> np.ndarray:
        return self._features(self._probs(vectors), _nearest(vectors, self.train_vectors))

    def _scores(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = self._probs(vectors)
        features = self._features(probs, _nearest(vectors, self.train_vectors))
        return probs, self.detector.predict_proba(features)[:, 1]

    # --- use --------------------------------------------------------------------------

    def predict(self, vectors: np.ndarray) -> list[IntentPrediction]:
        if len(vectors) == 0:
            return []
        probs, scores = self._scores(np.asarray(vectors, dtype=np.float32))
        out = []
        for row, score in zip(probs, scores):
            order = np.argsort(row)[::-1][:3]
            out.append(IntentPrediction(
                intent=self.classes[order[0]],
                confidence=round(float(row[order[0]]), 4),
                out_of_scope=bool(score < self.oos_threshold),
                in_scope_score=round(float(score), 4),
                alternatives=tuple((self.classes[i], round(float(row[i]), 4)) for i in order[1:]),
            ))
        return out

    def evaluate(self, examples: Sequence[IntentExample], vectors: np.ndarray) -> IntentReport:
        from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

        predictions = self.predict(vectors)
        truth = [e.intent if e.intent in self.classes else OOS for e in examples]
        guess = [OOS if p.out_of_scope else p.intent for p in predictions]
        labels = sorted(set(self.classes)) + [OOS]
        p, r, f, s = precision_recall_fscore_support(truth, guess, labels=labels, zero_division=0)
        in_scope = [i for i, t in enumerate(truth) if t != OOS]
        oos_truth = np.array([t == OOS for t in truth])
        oos_guess = np.array([g == OOS for g in guess])
        confidence = np.array([pr.confidence for pr in predictions])
        hit = np.array([pr.intent == t for pr, t in zip(predictions, truth)])
        answered = [i for i in in_scope if not predictions[i].out_of_scope and confidence[i] >= self.answer_threshold]
        return IntentReport(
            accuracy=float(np.mean([guess[i] == truth[i] for i in in_scope])) if in_scope else 0.0,
            macro_f1=float(f1_score(truth, guess, labels=sorted(set(self.classes)), average="macro", zero_division=0)),
            oos_precision=float((oos_truth & oos_guess).sum() / max(1, oos_guess.sum())),
            oos_recall=float((oos_truth & oos_guess).sum() / max(1, oos_truth.sum())),
            per_intent={lab: {"precision": float(a), "recall": float(b), "f1": float(c), "support": int(d)}
                        for lab, a, b, c, d in zip(labels, p, r, f, s)},
            labels=labels,
            confusion=confusion_matrix(truth, guess, labels=labels).tolist(),
            expected_calibration_error=_ece(confidence[in_scope], hit[in_scope]) if in_scope else 0.0,
            answer_threshold_precision=float(hit[answered].mean()) if answered else 0.0,
            answer_threshold_coverage=len(answered) / max(1, len(in_scope)),
            support=len(examples),
        )


def _nearest(queries: np.ndarray, reference: np.ndarray, *, k: int = 5, exclude_self: bool = False) -> np.ndarray:
    """The ``k`` highest cosine similarities of each query to the reference rows, best first."""
    out = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), 2048):
        sims = queries[start : start + 2048] @ reference.T
        if exclude_self:  # queries are the reference rows themselves
            rows = np.arange(len(sims))
            sims[rows, rows + start] = -1.0
        top = np.partition(sims, -k, axis=1)[:, -k:]
        out[start : start + len(sims)] = -np.sort(-top, axis=1)
    return out


def _oos_threshold(scores: np.ndarray, is_oos: np.ndarray, precision_target: float) -> float:
    """The threshold flagging the most out-of-scope texts while the flag stays precise enough."""
    if not is_oos.any():
        return float(np.quantile(scores, 0.01))
    best, best_recall = float(scores[is_oos].min()) - 1e-6, -1.0
    for t in np.unique(scores):
        flagged = scores < t
        if not flagged.any():
            continue
        precision = (flagged & is_oos).sum() / flagged.sum()
        recall = (flagged & is_oos).sum() / is_oos.sum()
        if precision >= precision_target and recall > best_recall:
            best, best_recall = float(t), recall
    return best


def _confidence_threshold(confidence: np.ndarray, correct: np.ndarray, precision_target: float) -> float:
    """The lowest confidence above which predictions are at least ``precision_target`` right."""
    if not len(confidence):
        return 1.0
    for t in np.unique(confidence):
        above = confidence >= t
        if correct[above].mean() >= precision_target:
            return float(t)
    return 1.0


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)
