"""Model versions in a folder, each with its metadata; one of them is active.

Layout: ``<root>/<version>/model.joblib`` and ``metadata.json`` (data hash, metrics,
date, library versions, thresholds), plus ``<root>/ACTIVE`` naming the active version.
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


class ModelError(Exception):
    """A model that cannot be used; the message names the version and the problem."""


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
        tmp = self.root / ".ACTIVE.tmp"
        tmp.write_text(version + "\n")
        os.replace(tmp, self._pointer())

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
