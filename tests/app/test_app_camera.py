"""The camera path through the window: a video file of a handwritten digit on paper, played through
OpenCV's capture as the camera, gives the right digit; the panel reports the end of the file."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("PyQt6")

from snnapp.app._settings import AppSettings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402
from tests.app.paper_kit import render, write_video  # noqa: E402


@pytest.mark.parametrize("label", [3, 4])
def test_video_file_as_camera_gives_the_digit(qtbot, tmp_path, digits, label):  # noqa: F811
    rng = np.random.default_rng(label)
    frames = [render(digits[label], rng, angle=rng.uniform(-6, 6), shift=(rng.uniform(-40, 40), 0))[0]
              for _ in range(30)]
    video = write_video(tmp_path / f"{label}.avi", frames, 15)
    win = MainWindow(AppSettings(backend="onnx", camera=str(video)), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=60_000)
    win.camera.start()
    qtbot.waitUntil(lambda: win.decision is not None, timeout=30_000)
    qtbot.waitUntil(lambda: "end of" in win.camera.status.text(), timeout=30_000)
    assert win.camera.frames_seen >= 10
    assert win.decision.digit == label and win.decision.source == "image"
    assert win.camera.last_detection is not None
    win.close()
    assert not win.camera.running
