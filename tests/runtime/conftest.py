"""Tiny untrained model folders (every mode, both neuron models), exported to ONNX once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from snnapp.core.encoders import EncoderConfig  # noqa: E402
from snnapp.core.modelio import ModelConfig, save_model  # noqa: E402
from snnapp.core.network import NetworkConfig, SpikingDigitNet  # noqa: E402
from snnapp.core.preprocess import AudioConfig  # noqa: E402
from snnapp.core.torch_model import weights_of  # noqa: E402

STEPS = 4


def make_model(folder: Path, mode: str, neuron: str = "lif", encoder: EncoderConfig = EncoderConfig(),
               seed: int = 0, **network) -> Path:
    """An untrained model whose layers all spike on random input (weights scaled up a little);
    ``network``: more :class:`NetworkConfig` settings."""
    torch.manual_seed(seed)
    audio = AudioConfig()
    per_step = audio.n_frames // STEPS * audio.n_mfcc * (2 if encoder.audio == "delta" else 1)
    net_cfg = NetworkConfig(mode=mode, num_steps=STEPS, image_channels=(4, 6), image_hidden=24,
                            image_in_channels=2 if encoder.image == "delta" else 1,
                            audio_in_features=per_step, audio_hidden=(32, 16), neuron=neuron, **network)
    net = SpikingDigitNet(net_cfg)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.mul_(2.5)
        net.out_bias.uniform_(0.1, 0.5)
    cfg = ModelConfig(net_cfg, encoder=encoder, audio=audio, temperature=2.0, training={"seed": seed})
    return save_model(folder, cfg, weights_of(net), {})


def random_inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images in [0, 1] ``[n, 28, 28]`` and normalised MFCC-like frames ``[n, 32, 20]``."""
    rng = np.random.default_rng(seed)
    images = np.clip(rng.random((n, 28, 28), dtype=np.float32) * 1.6 - 0.6, 0.0, 1.0)
    audio = rng.standard_normal((n, AudioConfig().n_frames, AudioConfig().n_mfcc)).astype(np.float32)
    return images, audio


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """``exported(mode, neuron)``: a model folder with ``model.onnx`` and ``model_window.onnx``."""
    from snnapp.core.export import export_onnx

    cache: dict[tuple[str, str], Path] = {}

    def get(mode: str, neuron: str = "lif") -> Path:
        if (mode, neuron) not in cache:
            folder = make_model(tmp_path_factory.mktemp("models") / f"{mode}-{neuron}", mode, neuron)
            export_onnx(folder, kind="step")
            export_onnx(folder, kind="window")
            cache[mode, neuron] = folder
        return cache[mode, neuron]

    return get
