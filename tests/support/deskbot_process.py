"""A desk for a real ``deskbot`` process: the plumbing NLP in its data folder, the settings, a migrated database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from loopback import free_port

DESKBOT = str(Path(sys.executable).with_name("deskbot"))


def plumbing_desk(plumbing_nlp, folder: Path) -> dict[str, str]:  # noqa: ANN001 - the plumbing_nlp fixture
    """The environment of a ``deskbot`` run in ``folder`` (``DESKBOT_HTTP_PORT`` a free port): the plumbing model
    and KB index under ``folder/var``, its SQLite desk migrated, the web chat open to corp.example."""
    shutil.copytree(plumbing_nlp.registry.root, folder / "var" / "models")
    shutil.copytree(plumbing_nlp.kb_dir, folder / "var" / "kb_index")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(DESKBOT_HTTP_PORT=str(free_port()), DESKBOT_KB_DIR=str(plumbing_nlp.kb_articles),
               DESKBOT_NLP_BACKEND="hashing", COLUMNS="200", DESKBOT_WEBCHAT_ALLOWED_DOMAINS='["corp.example"]')
    subprocess.run([DESKBOT, "db", "upgrade"], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    return env
