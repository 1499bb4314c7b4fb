"""The window, offscreen: drawing gives the right digit, the rasters show the network's own spikes,
the backend can be switched while running, settings persist, and every thread ends at close."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from PyQt6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from snnapp.app._inference import Engine  # noqa: E402
from snnapp.app._pad import CANVAS  # noqa: E402
from snnapp.app._settings import AppSettings, load_settings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402
from snnapp.core.predict import shipped_model  # noqa: E402
from snnapp.core.preprocess import image_features  # noqa: E402
from snnapp.core.runtime import open_backend  # noqa: E402

# Strokes in canvas pixels (the pad is CANVAS x CANVAS), drawn the way a hand would.
DIGITS = {
    1: [[(140, 40), (140, 240)]],
    7: [[(70, 50), (210, 50), (120, 240)]],
    0: [[(140 + 60 * np.sin(a), 140 - 95 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 40)]],
    4: [[(170, 40), (70, 170), (210, 170)], [(170, 40), (170, 245)]],
}


def _mouse(widget, kind: QEvent.Type, x: float, y: float, pressed: bool) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    buttons = Qt.MouseButton.LeftButton if pressed else Qt.MouseButton.NoButton
    pos = QPointF(x, y)
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def draw(pad, strokes, step: float = 6.0) -> None:
    """Press, move in small steps along each polyline, release: real mouse events on the pad."""
    for pts in strokes:
        _mouse(pad, QEvent.Type.MouseButtonPress, *pts[0], True)
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            n = max(1, int(np.hypot(x1 - x0, y1 - y0) / step))
            for i in range(1, n + 1):
                _mouse(pad, QEvent.Type.MouseMove, x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n, True)
        _mouse(pad, QEvent.Type.MouseButtonRelease, *pts[-1], False)


@pytest.fixture
def window(qtbot, tmp_path):
    store = open_store(tmp_path / "settings.ini")
    win = MainWindow(AppSettings(backend="onnx"), store)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=60_000)
    yield win
    win.close()


def _wait_decision(qtbot, win, after: int) -> None:
    qtbot.waitUntil(lambda: win.decisions > after, timeout=30_000)


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_drawing_a_digit_predicts_it(qtbot, window, digit):
    assert window.pad.width() == CANVAS
    before = window.decisions
    draw(window.pad, DIGITS[digit])
    _wait_decision(qtbot, window, before)
    qtbot.waitUntil(lambda: window.inference._worker._pending is None, timeout=30_000)
    qtbot.wait(200)
    d = window.decision
    assert d.digit == digit, f"drew {digit}, network said {d.digit} ({np.round(d.fused, 2)})"
    assert d.source == "image" and d.image is not None and d.audio is None
    assert window.bars.values["fused"] is not None and int(np.argmax(window.bars.values["fused"])) == digit


def test_rasters_show_the_backends_own_spikes(qtbot, window):
    draw(window.pad, DIGITS[7])
    qtbot.waitUntil(lambda: window.decision is not None and window.raster.done, timeout=30_000)
    d = window.decision
    # The same drawing through a fresh backend, outside the app: the same spikes, step by step.
    b = open_backend(shipped_model("image"), "onnx")
    img = image_features(window.pad.array(), b.config.image)
    np.testing.assert_allclose(img, d.seen_image, atol=1e-6)
    frames = list(b.stream(img[None], None))
    out = np.stack([f.out_spikes[0] for f in frames])
    hidden = np.stack([f.hidden["image_hidden"][0] for f in frames])
    shown = window.raster.shown
    assert window.raster.revealed == len(frames) == d.trace.steps
    np.testing.assert_array_equal(shown["output spikes"], out)
    np.testing.assert_array_equal(shown["hidden"], hidden)
    np.testing.assert_allclose(shown["output membrane"], np.stack([f.out_mem[0] for f in frames]), atol=1e-5)
    assert shown["hidden"].sum() > 0 and shown["output spikes"].sum() > 0
    # what the image raster shows is the pixel input of every step
    np.testing.assert_allclose(shown["input image"], np.broadcast_to(img.reshape(1, -1), shown["input image"].shape))


def test_switching_backend_while_running(qtbot, window):
    draw(window.pad, DIGITS[1])
    _wait_decision(qtbot, window, 0)
    first = window.decision
    window.set_backend("torch cpu")
    qtbot.waitUntil(lambda: "torch" in window.engine_label.text(), timeout=60_000)
    engine: Engine = window.inference.engine
    assert {b.name for b in engine.backends.values()} == {"torch"}
    qtbot.waitUntil(lambda: window.decision is not first and window.decision.trace is not None, timeout=30_000)
    assert window.decision.digit == 1
    np.testing.assert_array_equal(window.decision.trace.out_spikes, first.trace.out_spikes)


def test_undo_clear_and_settings_persist(qtbot, window, tmp_path):
    draw(window.pad, DIGITS[4])
    assert window.pad.stroke_count == 2
    window.pad.undo()
    assert window.pad.stroke_count == 1
    window.pad.clear()
    assert window.pad.empty and window.image is None
    window.set_backend("torch cpu")
    window.close()
    again = load_settings(open_store(tmp_path / "settings.ini"))
    assert again.backend == "torch cpu"


def test_a_broken_model_folder_is_reported_and_the_rest_works(qtbot, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    win = MainWindow(AppSettings(backend="onnx", model_audio=str(broken)), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=60_000)
    assert "audio" in win.statusBar().currentMessage() and "broken" in win.statusBar().currentMessage()
    draw(win.pad, DIGITS[7])
    _wait_decision(qtbot, win, 0)
    assert win.decision.digit == 7
    win.close()
    assert not win.inference._thread.isRunning()


def test_settings_dialog_changes_steps_and_models(qtbot, window, tmp_path):
    from snnapp.app._settings_dialog import SettingsDialog

    dlg = SettingsDialog(window.settings, window)
    qtbot.addWidget(dlg)
    dlg.steps.setValue(8)
    dlg.backend.setCurrentText("torch cpu")
    dlg.models["multimodal"].setText("")
    new = dlg.result_settings()
    assert new.image_steps == 8 and new.backend == "torch cpu"
    window.change_settings(new)
    qtbot.waitUntil(lambda: "torch" in window.engine_label.text(), timeout=60_000)
    draw(window.pad, DIGITS[7])
    qtbot.waitUntil(lambda: window.decision is not None and window.decision.trace.steps == 8, timeout=30_000)
    assert window.decision.digit == 7
    assert load_settings(open_store(tmp_path / "settings.ini")).image_steps == 8
