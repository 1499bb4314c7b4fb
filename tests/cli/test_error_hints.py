"""The command line says an error's hint as its own options: ``use --device cpu``, ``pass --model DIR``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.cli._common import as_options, one_line
from snnapp.core.errors import ConfigError, Hint, ModelError

SAMPLES = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "samples"


@pytest.mark.parametrize("hint, words", [
    (Hint("device", "cpu"), "use --device cpu"),
    (Hint("backend", "onnx"), "use --backend onnx"),
    (Hint("export", "models/mine"), "run `snnapp export models/mine`"),
    (Hint("model"), "pass --model DIR"),
    (Hint("data_dir", "a writable folder"), "set --data-dir (or SNNAPP_DATA_DIR) to a writable folder"),
    (Hint("download", "mnist"), "run `snnapp data download mnist`"),
    (Hint("resume"), "train without --resume"),
    (Hint("out"), "use another --out"),
    (Hint("audio_file"), "replay a file with --audio-file"),
    (Hint("mic"), "pass --device with an index or a name"),
    (Hint("study"), "choose another --study name"),
    (Hint("sampler"), "leave out --sampler"),
    (Hint("objectives", "bayes, random or grid"), "use --method bayes, random or grid with --objectives"),
    (Hint("install", "snnapp[train]"), "pip install 'snnapp[train]'"),
    (Hint("delete", "/tmp/x.ckpt"), "delete /tmp/x.ckpt"),
    (Hint("say", "run it with its own settings"), "run it with its own settings"),
])
def test_each_hint_is_said_as_the_commands_options(hint, words):
    assert as_options(hint) == words


def test_the_one_line_puts_the_options_after_what_went_wrong():
    exc = ConfigError("the checkpoint belongs to a run with other settings", hint=(Hint("resume"), Hint("out")))
    assert one_line(exc) == ("the checkpoint belongs to a run with other settings; train without --resume, "
                             "or use another --out")
    assert "--" not in str(exc)
    assert one_line(ValueError("plain")) == "plain"


def test_a_device_without_cuda_is_one_line_naming_the_option(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image = sorted((SAMPLES / "image").glob("*.png"))[0]
    res = CliRunner().invoke(app, ["predict", "--image", str(image), "--backend", "torch", "--device", "cuda"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == "error: device 'cuda' asked for, but torch sees no CUDA GPU here; use --device cpu"


def test_a_sampler_for_another_method_is_one_line_naming_the_option(tmp_path):
    pytest.importorskip("optuna")
    res = CliRunner().invoke(app, ["tune", "--method", "random", "--sampler", "gp",
                                   "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == "error: a sampler applies to bayes only, not to random; leave out --sampler"


def test_a_model_error_of_the_core_keeps_its_kind_through_the_cli():
    exc = ModelError("x: no model.onnx", hint=(Hint("export", "x"), Hint("backend", "torch")))
    assert one_line(exc) == "x: no model.onnx; run `snnapp export x`, or use --backend torch"
