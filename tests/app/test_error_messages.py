"""The app says an error's hint in its own words (its Settings, its controls), never as an option of
the command line."""

from __future__ import annotations

import os

import pytest

from snnapp.app._messages import error_text, in_app_words
from snnapp.core.errors import ConfigError, DataError, Hint, InputError, ModelError
from snnapp.core.predict import shipped_model

KINDS = [Hint("device", "cpu"), Hint("device", "cuda:1"), Hint("backend", "onnx"), Hint("backend", "torch"),
         Hint("export", "models/mine"), Hint("model"), Hint("data_dir", "a writable folder"),
         Hint("download", "mnist"), Hint("resume"), Hint("out"), Hint("audio_file"), Hint("mic"), Hint("study"),
         Hint("sampler"), Hint("objectives", "bayes, random or grid"), Hint("install", "snnapp[train]"),
         Hint("delete", "/tmp/x"), Hint("say", "put the WAV files there")]


@pytest.mark.parametrize("hint", KINDS, ids=lambda h: f"{h.kind}-{h.value}")
def test_no_hint_is_said_as_a_command_line_option(hint):
    words = in_app_words(hint)
    assert words and "--" not in words and "`" not in words


def test_the_app_names_its_settings():
    assert error_text(ModelError("device 'cuda' asked for, but torch sees no CUDA GPU here",
                                 hint=Hint("device", "cpu"))) == \
        "device 'cuda' asked for, but torch sees no CUDA GPU here; choose a CPU backend (torch cpu or onnx) in Settings"
    assert error_text(InputError("microphone 'USB': no such input device", hint=Hint("mic"))) == \
        "microphone 'USB': no such input device; choose another microphone in Settings"
    assert error_text(ModelError("x: no model.onnx", hint=(Hint("export", "x"), Hint("backend", "torch")))) == \
        "x: no model.onnx; export the ONNX graphs of x again, or choose a torch backend in Settings"
    assert error_text(DataError("no data")) == "no data"
    assert error_text(RuntimeError()) == "RuntimeError"


def test_an_engine_on_a_missing_gpu_says_so_in_the_apps_words(monkeypatch):
    torch = pytest.importorskip("torch")
    from snnapp.app._inference import Engine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    engine = Engine({"image": str(shipped_model("image"))}, "torch", "cuda")
    assert "image" not in engine.backends
    assert engine.errors["image"] == ("device 'cuda' asked for, but torch sees no CUDA GPU here; "
                                      "choose a CPU backend (torch cpu or onnx) in Settings")


def test_the_window_shows_the_apps_words_in_its_status_bar(qtbot, tmp_path, monkeypatch):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    pytest.importorskip("PyQt6")
    pytest.importorskip("pyqtgraph")
    torch = pytest.importorskip("torch")
    from snnapp.app._settings import AppSettings, open_store
    from snnapp.app._window import MainWindow

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    win = MainWindow(AppSettings(backend="torch cuda"), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: "choose a CPU backend" in win.statusBar().currentMessage(), timeout=60_000)
        assert "--device" not in win.statusBar().currentMessage()
    finally:
        win.close()


def test_a_config_error_without_a_hint_is_its_message():
    assert error_text(ConfigError("bad value")) == "bad value"
