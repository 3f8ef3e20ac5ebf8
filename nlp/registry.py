"""Model versions in a folder, each with its metadata; one of them is active.

Layout: ``<root>/<version>/model.joblib`` and ``metadata.json`` (data hash, metrics,
date, library versions, thresholds), plus ``<root>/ACTIVE`` naming the active version and
``<root>/HISTORY`` the versions activated before it (what a rollback returns to).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
REPORT_FILE = "report.json"  # a version's full evaluation report (nlp.training.write_report)
CONFUSION_FILE = "confusion.png"  # its intent confusion matrix, drawn from that report


class ModelError(Exception):
    """A model that cannot be used; the message names the version and the problem."""


class UnknownVersion(ModelError):
    """A version name that is none of the registry's."""


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created: str
    metrics: dict[str, Any]
    data_hash: str
    active: bool
    metadata: dict[str, Any]


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _pointer(self) -> Path:
        return self.root / "ACTIVE"

    def active_version(self) -> str | None:
        try:
            return self._pointer().read_text().strip() or None
        except FileNotFoundError:
            return None

    def versions(self) -> list[ModelVersion]:
        active = self.active_version()
        found = []
        if not self.root.is_dir():
            return found
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                meta = json.loads((folder / "metadata.json").read_text())
            except (OSError, ValueError):
                meta = {"created": "?", "metrics": {}, "data_hash": "?", "damaged": True}
            found.append(ModelVersion(folder.name, meta.get("created", "?"), meta.get("metrics", {}),
                                      meta.get("data_hash", "?"), folder.name == active, meta))
        return found

    def save(self, bundle: Any, metadata: dict[str, Any]) -> str:
        import joblib

        now = dt.datetime.now(dt.UTC)
        taken = {v.version for v in self.versions()}
        number = len(taken) + 1
        while (version := f"v{number:04d}") in taken:
            number += 1
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{version}.tmp"
        staging.mkdir(parents=True, exist_ok=True)
        joblib.dump(bundle, staging / "model.joblib")
        (staging / "metadata.json").write_text(json.dumps({"version": version, "created": now.isoformat(timespec="seconds"),
                                                           **metadata}, indent=1, default=str))
        staging.rename(self.root / version)
        return version

    def folder(self, version: str) -> Path:
        return self.root / version

    def get(self, version: str) -> ModelVersion:
        """One version (a name that is none of this registry's, a path included, is a ``ModelError``)."""
        found = next((v for v in self.versions() if v.version == version), None)
        if found is None:
            raise UnknownVersion(f"no model version {version!r}")
        return found

    def report(self, version: str) -> dict[str, Any] | None:
        """The version's evaluation report (None for a version saved without one)."""
        self.get(version)
        try:
            return json.loads((self.folder(version) / REPORT_FILE).read_text())
        except (OSError, ValueError):
            return None

    def confusion_png(self, version: str) -> Path | None:
        """The version's confusion-matrix picture (None for a version saved without one)."""
        self.get(version)
        path = self.folder(version) / CONFUSION_FILE
        return path if path.is_file() else None

    def load(self, version: str) -> Any:
        import joblib

        path = self.root / version / "model.joblib"
        if not path.is_file():
            raise ModelError(f"model {version}: {path} is missing")
        try:
            return joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - a damaged pickle can fail in many ways
            raise ModelError(f"model {version}: {path} is damaged ({type(exc).__name__}: {exc})") from exc

    def activate(self, version: str) -> None:
        self.load(version)  # refuse to activate a version that cannot be loaded
        history = self.activations()
        if not history or history[-1] != version:
            self._write("HISTORY", "".join(f"{v}\n" for v in [*history, version]))
        self._write("ACTIVE", version + "\n")

    def activations(self) -> list[str]:
        """The versions activated so far, oldest first, each rollback taking the newest off again
        (``<root>/HISTORY``; a registry older than it starts from its active version)."""
        try:
            history = self._history().read_text().split()
        except FileNotFoundError:
            history = []
        active = self.active_version()
        if active is not None and (not history or history[-1] != active):
            history.append(active)
        return history

    def rollback(self) -> str:
        """Activate the version that was active before the active one; returns it."""
        history = self.activations()
        if len(history) < 2:
            raise ModelError("no earlier active version to roll back to" if history else "no model is active")
        previous = history[-2]
        self.load(previous)
        self._write("HISTORY", "".join(f"{v}\n" for v in history[:-1]))
        self._write("ACTIVE", previous + "\n")
        return previous

    def _history(self) -> Path:
        return self.root / "HISTORY"

    def _write(self, name: str, text: str) -> None:
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.root / name)

    def load_active(self) -> tuple[str, Any]:
        """The active model; if it cannot be loaded, the newest older version that can (with a warning)."""
        active = self.active_version()
        if active is None:
            raise ModelError(f"no active model in {self.root}: run 'deskbot nlp train'")
        try:
            return active, self.load(active)
        except ModelError as exc:
            problem = exc
        for candidate in reversed([v.version for v in self.versions() if v.version < active]):
            try:
                bundle = self.load(candidate)
            except ModelError:
                continue
            log.error("%s; serving the previous version %s instead", problem, candidate)
            return candidate, bundle
        raise problem
