"""DESIGN.md's package rules, checked by import-linter against the contracts in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_rules_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_importing_the_packages_creates_nothing(tmp_path: Path) -> None:
    # No engine, model or connection at import time: importing every module touches no database file.
    code = (
        "import pathlib, pkgutil, importlib, sys\n"
        "import bot, channels, nlp, desk\n"
        "for pkg in (bot, channels, nlp, desk):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.migrations' not in info.name: importlib.import_module(info.name)\n"
        "print(sorted(p.name for p in pathlib.Path('.').iterdir()))\n"
        "print('sentence_transformers' in sys.modules, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listing, heavy = result.stdout.strip().splitlines()
    assert listing == "[]"
    assert heavy == "False False"
