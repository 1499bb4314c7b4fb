"""Teach it your handwriting / voice through the window: guided collection, fine-tuning on a thread
through the core, the new model selected; cancelling leaves the model in use unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6")
pytest.importorskip("torch")

from snnapp.app._settings import AppSettings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402
from snnapp.core.data import load_mnist  # noqa: E402

from .test_window import DIGITS, draw  # noqa: E402


@pytest.fixture
def win(qtbot, tmp_path, data_dir: Path):
    w = MainWindow(AppSettings(backend="onnx"), open_store(tmp_path / "s.ini"), data_dir=str(data_dir))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "onnx" in w.engine_label.text(), timeout=60_000)
    yield w
    w.close()


def _mnist_by_digit(data_dir: Path) -> dict[int, list[np.ndarray]]:
    images, labels = load_mnist(data_dir, "test")
    return {d: [255 - images[i] for i in np.flatnonzero(labels == d)[:4]] for d in range(10)}  # ink dark on light


def test_teach_handwriting_end_to_end(qtbot, win, tmp_path, data_dir):
    dlg = win.open_teach("image", folder=tmp_path / "hand", per_digit=2, models_dir=tmp_path / "models", epochs=1)
    qtbot.addWidget(dlg)
    pool = _mnist_by_digit(data_dir)
    drawn = 0
    while not dlg.session.complete:
        digit = dlg.session.next_digit
        if digit in DIGITS and drawn < 2:  # some by hand on the dialog's own pad
            draw(dlg.pad, DIGITS[digit])
            dlg.accept_drawing()
            drawn += 1
        else:
            dlg._add(pool[digit].pop().astype(np.float32) / 255.0, None)
    assert dlg.session.done == 20 and drawn == 2 and dlg.train_button.isEnabled()
    assert len(dlg.session.files()) == 20  # every example is on disk
    dlg.start_training()
    qtbot.waitUntil(lambda: dlg.result is not None or "stopped" in dlg.info.text(), timeout=300_000)
    assert dlg.result is not None, dlg.info.text()
    folder = str(dlg.result.model_dir)
    assert Path(folder).parent == tmp_path / "models" and (Path(folder) / "config.json").is_file()
    assert "before" in dlg.info.text() and "after" in dlg.info.text()
    # the window now uses the new model for the image slot, and predicts with it
    assert win.settings.model_image == folder
    qtbot.waitUntil(lambda: win.inference.engine is not None and
                    str(win.inference.engine.backends["image"].folder.path) == folder, timeout=60_000)
    draw(win.pad, DIGITS[7])
    qtbot.waitUntil(lambda: win.decision is not None and win.decision.source == "image", timeout=30_000)
    assert win.decision.digit == 7


def test_teach_voice_collects_utterances_and_cancel_keeps_the_model(qtbot, win, tmp_path, data_dir):
    import soundfile as sf

    dlg = win.open_teach("audio", folder=tmp_path / "voice", per_digit=2, models_dir=tmp_path / "models", epochs=3)
    qtbot.addWidget(dlg)
    rec = data_dir / "fsdd" / "recordings"
    take = {d: 0 for d in range(10)}
    while not dlg.session.complete:
        d = dlg.session.next_digit
        x, rate = sf.read(rec / f"{d}_nicolas_{take[d]}.wav", dtype="float32")
        take[d] += 1
        win.mic.utterance.emit(x, rate)  # as the microphone panel delivers them
    assert dlg.session.done == 20
    dlg.undo()
    assert dlg.session.done == 19 and not dlg.train_button.isEnabled()
    d = dlg.session.next_digit
    x, rate = sf.read(rec / f"{d}_nicolas_4.wav", dtype="float32")
    win.mic.utterance.emit(x, rate)
    assert dlg.session.complete
    before = win.settings.model_audio
    dlg.start_training()
    qtbot.waitUntil(lambda: "epoch" in dlg.info.text() or "loading" in dlg.info.text(), timeout=120_000)
    dlg.cancel_training()
    qtbot.waitUntil(lambda: "stopped" in dlg.info.text(), timeout=120_000)
    assert "cancelled" in dlg.info.text()
    assert win.settings.model_audio == before
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
