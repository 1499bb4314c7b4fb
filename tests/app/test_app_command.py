"""``snnapp app`` as users start it: a real process, offscreen, a timed screenshot, a clean exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")


def _run_app(tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "snnapp.cli", "app", "--settings-file", str(tmp_path / "s.ini"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_screenshot_and_quit_after(tmp_path):
    shot = tmp_path / "shots" / "window.png"
    r = _run_app(tmp_path, "--screenshot", str(shot), "--quit-after", "4")
    assert r.returncode == 0, r.stderr
    from PIL import Image

    im = np.asarray(Image.open(shot).convert("L"))
    assert im.shape[0] >= 600 and im.shape[1] >= 1000
    assert im.std() > 10  # a drawn window, not a blank buffer


@pytest.mark.parametrize("args, words", [
    (["--screenshot", "x.png"], "--quit-after"),
    (["--audio-file", "missing.wav", "--quit-after", "1"], "missing.wav"),
    (["--backend", "tpu", "--quit-after", "1"], "unknown backend"),
])
def test_bad_options_are_refused_in_words(tmp_path, args, words):
    r = _run_app(tmp_path, *args)
    assert r.returncode == 2
    assert words in r.stderr and "Traceback" not in r.stderr
