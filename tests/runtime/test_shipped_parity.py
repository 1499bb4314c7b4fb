"""The shipped models give the same output spike counts through torch and onnxruntime on real
test inputs (1,000 per mode), through the one-step graph and the whole-window graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnapp.core.examples import load_examples
from snnapp.core.predict import shipped_model
from snnapp.core.runtime import Backend, open_backend

N = 1000
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["image", "audio", "multimodal"])
def test_shipped_model_parity_on_test_inputs(mode: str, data_dir: Path, cache_dir: Path) -> None:
    folder = shipped_model(mode)
    tb = open_backend(folder, "torch")
    ob_step = open_backend(folder, "onnx", threads=1, use_window=False)
    ob_window = open_backend(folder, "onnx", threads=1)
    cfg = tb.config
    ex = load_examples(mode, "test", data_dir, audio_cfg=cfg.audio, limit=N, cache_dir=cache_dir)
    images = None if ex.images is None else ex.images.astype(np.float32) / 255.0
    audio = None if ex.audio is None else (ex.audio[ex.pairs, 0] if ex.pairs is not None else ex.audio[:, 0])
    enc = tb.encode(images, audio)
    torch_counts, _, _ = Backend.simulate(tb, enc)
    step_counts, _, _ = ob_step.simulate(enc)
    window_counts, _, _ = ob_window.simulate(enc)
    for name, counts in (("step graph", step_counts), ("window graph", window_counts)):
        differ = int((counts != torch_counts).any(axis=1).sum())
        assert differ == 0, f"{mode}: {differ} of {len(ex)} inputs give other spike counts through the {name}"
    # the counts are the real thing: they classify these test inputs as well as the model card says
    acc = float((tb.readout(torch_counts, np.zeros_like(torch_counts)).digits == ex.labels).mean())
    assert acc > 0.97
