"""A tiny slice of the packaged training data: retraining on it with the hashing embedder takes seconds."""

from __future__ import annotations

from pathlib import Path

import yaml

PACKAGED = Path(__file__).resolve().parents[2] / "nlp" / "data"
INTENTS = ("password_reset", "vpn_connection", "printer_problem", "oos")


def write_tiny_data(folder: Path) -> Path:
    """The first 30 texts of a few packaged intents and the first 120 sentiment rows, in ``folder``."""
    (folder / "intents").mkdir(parents=True)
    for name in INTENTS:
        data = yaml.safe_load((PACKAGED / "intents" / f"{name}.yaml").read_text(encoding="utf-8"))
        data["examples"] = data["examples"][:30]
        (folder / "intents" / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rows = (PACKAGED / "sentiment.csv").read_text(encoding="utf-8").splitlines()[:121]
    (folder / "sentiment.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
