"""``snnapp export`` (ONNX and NIR) and ``snnapp predict --backend`` on tiny model folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.modelio import load_model

from .conftest import make_model

SAMPLES = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "samples"


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_export_then_predict_with_both_backends(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "audio", "audio")
    res = _invoke("export", folder)
    assert res.exit_code == 0, res.output
    assert "step graph" in res.stdout and "window graph" in res.stdout
    assert load_model(folder).onnx_path is not None
    wavs = sorted((SAMPLES / "audio").glob("*.wav"))[:4]
    rows = {}
    for backend in ("onnx", "torch"):
        args = ["predict", "--model", folder, "--json", "--backend", backend] + [a for w in wavs for a in ("--audio", w)]
        res = _invoke(*args)
        assert res.exit_code == 0, res.output
        rows[backend] = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["digit"] for r in rows["onnx"]] == [r["digit"] for r in rows["torch"]]
    np.testing.assert_allclose([r["probabilities"] for r in rows["onnx"]],
                               [r["probabilities"] for r in rows["torch"]], atol=1e-5)


def test_export_out_and_bad_format(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "image", "image")
    res = _invoke("export", folder, "--out", tmp_path / "x.onnx")
    assert res.exit_code == 0 and (tmp_path / "x.onnx").is_file() and "window" not in res.stdout
    res = _invoke("export", folder, "--format", "tflite")
    assert res.exit_code == 2 and "unknown format" in res.stderr
    res = _invoke("predict", "--model", folder, "--image", sorted((SAMPLES / "image").glob("*.png"))[0],
                  "--backend", "onnx")
    assert res.exit_code == 2 and "snnapp export" in res.stderr


@pytest.mark.parametrize("mode", ["image", "audio", "multimodal"])
def test_nir_export_reads_back(tmp_path: Path, mode: str) -> None:
    nir = pytest.importorskip("nir")
    folder = make_model(tmp_path / mode, mode)
    res = _invoke("export", folder, "--format", "nir")
    assert res.exit_code == 0, res.output
    graph = nir.read(str(folder / "model.nir"))
    load_model(folder)  # manifest refreshed
    assert isinstance(graph.nodes["output_lif"], nir.LIF) and ("output_lif", "output") in graph.edges
    assert ("image" in graph.nodes) == (mode != "audio") and ("audio" in graph.nodes) == (mode != "image")
    assert "subtraction" in res.stdout  # the approximation is stated
    lif = graph.nodes["output_lif"]
    beta = 1 - 1e-4 / lif.tau  # snnTorch's mapping back
    np.testing.assert_allclose(beta, 0.9, rtol=1e-5)


@pytest.mark.parametrize("pool_before_spike", [True, False])
def test_nir_export_follows_the_pooling_order(tmp_path: Path, pool_before_spike: bool) -> None:
    nir = pytest.importorskip("nir")
    folder = make_model(tmp_path / "m", "image", pool_before_spike=pool_before_spike)
    res = _invoke("export", folder, "--format", "nir")
    assert res.exit_code == 0, res.output
    graph = nir.read(str(folder / "model.nir"))
    order = ["image_conv1", "image_pool1", "image_conv1_lif"] if pool_before_spike else \
        ["image_conv1", "image_conv1_lif", "image_pool1"]
    assert all(edge in graph.edges for edge in zip(order[:-1], order[1:]))
    pool, lif = graph.nodes["image_pool2"], graph.nodes["image_conv2_lif"]
    assert isinstance(pool, nir.AvgPool2d if pool_before_spike else nir.SumPool2d)
    assert lif.tau.shape == ((6, 7, 7) if pool_before_spike else (6, 14, 14))
    assert ("currents" if pool_before_spike else "of spikes") in res.stdout


def test_nir_refuses_the_conductance_neuron(tmp_path: Path) -> None:
    pytest.importorskip("nir")
    res = _invoke("export", make_model(tmp_path / "c", "audio", "cond"), "--format", "nir")
    assert res.exit_code == 2 and "conductance" in res.stderr


def test_int8_export_runs_and_agrees_on_real_recordings(tmp_path: Path, data_dir: Path) -> None:
    """A trained model (a copy of the shipped audio model) on 100 FSDD test recordings: int8
    keeps its decisions. (Untrained weights put many decisions on near ties, which any rounding
    flips, so they say little about the quantisation.)"""
    import shutil

    from snnapp.core.data import list_fsdd
    from snnapp.core.preprocess import audio_features
    from snnapp.core.runtime import OnnxBackend

    folder = Path(shutil.copytree(Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "models" / "audio",
                                  tmp_path / "audio"))
    res = _invoke("export", folder, "--int8", "--no-window")
    assert res.exit_code == 0, res.output
    model = load_model(folder)
    q = folder / "model.int8.onnx"
    assert q.stat().st_size < (folder / "model.onnx").stat().st_size
    clips = list_fsdd(data_dir, "test")[::3][:100]
    audio = np.stack([audio_features(c.path, model.config.audio) for c in clips])
    d_float = OnnxBackend(model, threads=1).run(None, audio).digits
    d_int8 = OnnxBackend(model, threads=1, path=q).run(None, audio).digits
    assert (d_float == d_int8).mean() >= 0.95
