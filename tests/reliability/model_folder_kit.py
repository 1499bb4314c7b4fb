"""Tiny model folders and the checks shared by the model-folder fuzz tests: a load returns a
verified folder or a ModelError naming it; a backend opened on it runs or raises a project error.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from snnapp.core.errors import ModelError, SnnappError  # noqa: E402
from snnapp.core.modelio import (  # noqa: E402
    CONFIG,
    MANIFEST,
    METRICS,
    ONNX,
    WEIGHTS,
    ModelConfig,
    load_model,
    save_model,
)
from snnapp.core.network import NetworkConfig, SpikingDigitNet  # noqa: E402
from snnapp.core.preprocess import AudioConfig  # noqa: E402
from snnapp.core.runtime import open_backend  # noqa: E402
from snnapp.core.torch_model import weights_of  # noqa: E402

WINDOW = "model_window.onnx"
FILES = [WEIGHTS, CONFIG, METRICS, MANIFEST, ONNX, WINDOW]


def make_folder(folder: Path, mode: str = "audio", hidden: tuple[int, ...] = (16,), image_hidden: int = 8,
                export: bool = False, seed: int = 0) -> Path:
    """A small untrained model saved as a folder, with its step and window ONNX graphs if ``export``."""
    net = NetworkConfig(mode=mode, num_steps=4, audio_in_features=160, audio_hidden=hidden,
                        image_channels=(2, 3), image_hidden=image_hidden)
    torch.manual_seed(seed)
    path = save_model(folder, ModelConfig(net, training={"seed": seed}), weights_of(SpikingDigitNet(net)),
                      {"val": {"accuracy": 0.1}})
    if export:
        from snnapp.core.export import export_onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(path, kind="step")
            export_onnx(path, kind="window")
    return path


def build_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny audio models with ONNX graphs (one of another width), and image and multimodal ones."""
    root = tmp_path_factory.mktemp("models")
    return {
        "audio": make_folder(root / "audio", export=True),
        "wider": make_folder(root / "wider", hidden=(32,), export=True, seed=1),
        "image": make_folder(root / "image", mode="image"),
        "multimodal": make_folder(root / "multimodal", mode="multimodal"),
    }


def copy_folder(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


def audio_input(n: int = 2) -> np.ndarray:
    cfg = AudioConfig()
    return np.random.default_rng(0).standard_normal((n, cfg.n_frames, cfg.n_mfcc)).astype(np.float32)


def load_or_error(folder: Path, verify: bool = True):
    try:
        return load_model(folder, verify=verify)
    except ModelError as err:
        assert str(folder) in str(err), err
        assert len(str(err)) < 2000
        return None


def run_or_error(folder, backend: str, graph_changed: bool = False) -> None:
    """Open a backend and run it; a project error is fine, anything else is not.

    ``graph_changed``: the ONNX graph's bytes were changed and the manifest rewritten to match, so
    the graph is "the model"; onnxruntime's own errors from running it are let through here (see
    test_damaged_graph_listed_in_the_manifest, which records that gap).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = open_backend(folder, backend)
            images = np.zeros((2, 28, 28), np.float32) if b.config.network.uses_image else None
            audio = audio_input() if b.config.network.uses_audio else None
            res = b.run(images, audio)
    except SnnappError:
        return
    except Exception as exc:
        if graph_changed and backend == "onnx" and type(exc).__module__.startswith("onnxruntime"):
            return
        raise
    assert res.probabilities.shape == (2, 10) and np.isfinite(res.probabilities).all()
    assert np.allclose(res.probabilities.sum(1), 1.0, atol=1e-4)
