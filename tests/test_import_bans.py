"""The design's import table is enforced by ruff (the ruff.toml beside each package): an import is
reported where the design forbids it, and the same import passes where it belongs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")

LAZY = "def f():\n    import {}\n"

CASES = [
    # (file it would be, source, ban ruff must report: None for none)
    ("snnapp/core/x.py", "import optuna\n", "TID251"),
    ("snnapp/core/x.py", LAZY.format("optuna"), "TID251"),  # not even inside a function
    ("snnapp/core/x.py", "from optuna.trial import TrialState\n", "TID251"),
    ("snnapp/tuning/x.py", "import optuna\n", None),
    ("snnapp/core/x.py", "from PyQt6.QtWidgets import QWidget\n", "TID251"),
    ("snnapp/app/x.py", "from PyQt6.QtWidgets import QWidget\n", None),
    ("snnapp/tuning/x.py", "import cv2\n", "TID251"),
    ("snnapp/app/x.py", "import cv2\n", None),
    ("snnapp/app/x.py", "import rich\n", "TID251"),
    ("snnapp/cli/x.py", "import rich\n", None),
    ("snnapp/cli/x.py", "import optuna\n", "TID253"),  # the CLI imports it inside a sub-command
    ("snnapp/cli/x.py", LAZY.format("optuna"), None),
    ("snnapp/core/x.py", "import torch\n", "TID253"),  # the edge install has no torch
    ("snnapp/core/x.py", "from snnapp.core.training import train\n", "TID253"),  # nor through the core
    ("snnapp/core/training/x.py", "import torch\n", None),
    ("snnapp/core/runtime/x.py", LAZY.format("torch"), "TID251"),  # only the torch backend imports it
    ("snnapp/core/runtime/_torch.py", "def f():\n    import torch  # noqa: TID251\n", None),
    ("snnapp/core/runtime/x.py", "import sounddevice\n", "TID253"),
    ("snnapp/core/runtime/x.py", LAZY.format("sounddevice"), None),  # the listen path's microphone
    ("snnapp/core/x.py", LAZY.format("sounddevice"), "TID251"),
    ("snnapp/app/x.py", "from snnapp.tuning import open_storage\n", "TID251"),
]


def _bans(path: str, source: str) -> list[str]:
    """The TID251/TID253 codes ruff reports for ``source`` checked as if it were the file ``path``."""
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251,TID253", "--output-format", "json",
         "--stdin-filename", path, "-"],
        input=source, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode in (0, 1), res.stderr
    return [d["code"] for d in json.loads(res.stdout)]


@pytest.mark.parametrize(("path", "source", "ban"), CASES, ids=[f"{p}:{s.split()[-1]}" for p, s, _ in CASES])
def test_ban(path: str, source: str, ban: str | None) -> None:
    assert _bans(path, source) == ([ban] if ban else [])
