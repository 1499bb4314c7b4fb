"""The window under failure: a panel says what went wrong in words, the rest keeps working."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6")

from snnapp.app._settings import AppSettings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402

from .test_window import DIGITS, draw  # noqa: E402


@pytest.fixture
def win(qtbot, tmp_path):
    w = MainWindow(AppSettings(backend="onnx"), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "onnx" in w.engine_label.text(), timeout=60_000)
    yield w
    w.close()


def test_an_inference_that_throws_is_shown_and_the_next_one_works(qtbot, win, monkeypatch):
    backend = win.inference.engine.backends["image"]
    calls = {"n": 0}
    real_step = backend.step

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated accelerator fault")
        return real_step(*args, **kw)

    monkeypatch.setattr(backend, "step", flaky)
    draw(win.pad, DIGITS[7])
    qtbot.waitUntil(lambda: win.decision is not None, timeout=15_000)
    assert "simulated accelerator fault" in win.statusBar().currentMessage()
    assert "image" in win.decision.errors
    # the multimodal model still answered from the image alone, so there is a decision anyway
    assert win.decision.digit == 7 and win.decision.source == "multimodal"
    n = win.decisions
    win.pad.undo()
    draw(win.pad, DIGITS[7])
    qtbot.waitUntil(lambda: win.decisions > n and not win.decision.errors, timeout=15_000)
    assert win.decision.source == "image" and win.decision.digit == 7


def test_a_missing_microphone_and_camera_are_reported_in_their_panels(qtbot, win, tmp_path):
    win.mic.set_source(device="no such microphone")
    win.mic.start()
    qtbot.waitUntil(lambda: "no such microphone" in win.mic.status.text(), timeout=15_000)
    win.camera.set_source(str(tmp_path / "nowhere.mp4"))
    win.camera.start()
    qtbot.waitUntil(lambda: "nowhere.mp4" in win.camera.status.text(), timeout=15_000)
    win.camera.set_source("97")
    win.camera.start()
    qtbot.waitUntil(lambda: "camera 97" in win.camera.status.text(), timeout=15_000)
    draw(win.pad, DIGITS[1])  # the pad is unaffected
    qtbot.waitUntil(lambda: win.decision is not None, timeout=15_000)
    assert win.decision.digit == 1


def test_no_camera_chosen_says_how_to_choose_one(qtbot, win):
    win.camera.set_source("")
    win.camera.start()
    assert "Settings" in win.camera.status.text() and not win.camera.running


def test_torch_cuda_without_a_gpu_is_reported_and_onnx_still_works(qtbot, win):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    win.set_backend("torch cuda")
    qtbot.waitUntil(lambda: "CUDA" in win.statusBar().currentMessage(), timeout=30_000)
    assert win.engine_label.text().strip() == "no model loaded"
    win.set_backend("onnx")
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=30_000)
    draw(win.pad, DIGITS[4])
    qtbot.waitUntil(lambda: win.decision is not None and win.decision.digit == 4, timeout=15_000)
