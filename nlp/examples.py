"""Labelled intent texts: the packaged YAML files, an admin's CSV or JSON file, and the hash split into train, val
and test that every training and benchmark cuts the same way."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def load_labelled_file(path: Path) -> list[IntentExample]:
    """Labelled texts from any file an admin has: CSV with columns ``text,label`` or a JSON list of
    ``[text, label]`` pairs; the label ``oos`` marks an out-of-scope text."""
    import csv
    import json

    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    rows: list[tuple[str, object, object]] = []  # (where, text, label)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of [text, label] pairs")
        for i, item in enumerate(data):
            if not (isinstance(item, list) and len(item) == 2):
                raise DataError(f"{path}: item {i + 1} is not a [text, label] pair")
            rows.append((f"item {i + 1}", item[0], item[1]))
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(raw.splitlines())
        if reader.fieldnames is None or not {"text", "label"} <= {f.strip().lower() for f in reader.fieldnames}:
            raise DataError(f"{path}: the first line must name the columns 'text' and 'label'")
        names = {f.strip().lower(): f for f in reader.fieldnames}
        for row in reader:
            rows.append((f"line {reader.line_num}", row.get(names["text"]), row.get(names["label"])))
    else:
        raise DataError(f"{path}: use a .csv file (columns text,label) or a .json list of [text, label] pairs")
    examples, problems = [], []  # every problem of the file at once, before any embedding
    for where, text, label in rows:
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: the text is empty")
        elif not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: the label is empty")
        else:
            examples.append(IntentExample(" ".join(text.split()), label.strip()))
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DataError(f"{path}: {len(problems)} unusable row(s): {shown}")
    if not examples:
        raise DataError(f"{path}: no labelled texts")
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
