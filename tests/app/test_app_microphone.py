"""The real microphone path through the window: PortAudio capture of a PulseAudio null sink's
monitor, a spoken digit played into it, the window's decision; then fused with a drawing."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6")
pytest.importorskip("sounddevice")

from snnapp.app._settings import AppSettings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402

from .test_microphone import clips, predict  # noqa: E402,F401  (fixtures reused)
from .test_window import DIGITS, draw  # noqa: E402


def test_spoken_digit_through_the_microphone_then_fused_with_a_drawing(qtbot, tmp_path, pulse_vmic, clips):  # noqa: F811
    win = MainWindow(AppSettings(backend="onnx"), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=60_000)
    win.mic.start()
    qtbot.waitUntil(lambda: win.mic.levels > 0, timeout=15_000)  # the first capture callback comes late
    seven = next(c for c in clips if c.digit == 7)
    pulse_vmic.play(seven.path)
    qtbot.waitUntil(lambda: win.decision is not None and win.decision.audio is not None, timeout=15_000)
    d = win.decision
    assert d.digit == 7 and d.source == "audio" and d.image is None
    assert win.mic.utterances == 1 and d.seen_audio is not None

    # The utterance stays the audio input: drawing a 7 now fuses both in the multimodal model.
    draw(win.pad, DIGITS[7])
    qtbot.waitUntil(lambda: win.decision.source == "multimodal", timeout=15_000)
    fused = win.decision
    assert fused.digit == 7 and not fused.disagree
    assert set(fused.trace.inputs) == {"image", "audio"}
    assert fused.confidence >= max(fused.image.max(), fused.audio.max()) - 0.05

    # A drawn 1 against the spoken 7: the bars show the disagreement.
    win.pad.clear()
    draw(win.pad, DIGITS[1])
    qtbot.waitUntil(lambda: win.decision.source == "multimodal" and win.decision.disagree, timeout=15_000)
    assert "image says 1, audio says 7" in win.bars.detail.text()
    win.close()
    assert not win.mic.running
    assert np.isfinite(win.decision.latency_ms)
