"""The exported graphs: names, dynamic batch, provenance, atomic writes, stale exports refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from snnapp.cli._common import one_line
from snnapp.core.errors import ModelError
from snnapp.core.export import WINDOW_ONNX, export_onnx, step_io
from snnapp.core.modelio import load_model, write_manifest
from snnapp.core.runtime import OnnxBackend, open_backend
from snnapp.core.torch_model import build_net

from .conftest import make_model, random_inputs


def test_step_graph_names_and_dynamic_batch(exported) -> None:
    import onnxruntime as ort

    folder = exported("multimodal", "cond")
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    ins, outs = step_io(build_net(load_model(folder)))
    assert [i.name for i in sess.get_inputs()] == ins
    assert [o.name for o in sess.get_outputs()] == outs
    assert ins[:4] == ["image_t", "audio_t", "image_mask", "audio_mask"]
    assert {"out_spikes", "out_mem", "image_hidden", "audio_hidden", "output_s0_next", "output_s1_next"} <= set(outs)
    assert all(i.shape[0] == "batch" for i in sess.get_inputs())
    ob = OnnxBackend(load_model(folder), threads=1)
    for b in (1, 7):
        r = ob.run(*random_inputs(b))
        assert r.counts.shape == (b, 10) and r.digits.shape == (b,)
        np.testing.assert_allclose(r.probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_export_refreshes_manifest_and_card(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", "audio")
    (folder / "MODEL_CARD.md").write_text("old card")
    write_manifest(folder)  # the card is the folder's own, listed like every file in it
    res = export_onnx(folder)
    assert res.path == folder / "model.onnx" and res.kind == "step" and res.nodes > 0 and res.bytes > 0
    model = load_model(folder)  # the manifest covers model.onnx: verification passes
    assert model.onnx_path == folder / "model.onnx"
    assert (folder / "MODEL_CARD.md").read_text() != "old card"
    assert not list(folder.glob("*.part")) and not list(folder.glob(".*"))
    res = export_onnx(folder, kind="window")
    assert res.path == folder / WINDOW_ONNX
    load_model(folder)


def test_export_to_out_leaves_folder_alone(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", "image")
    before = sorted(p.name for p in folder.iterdir())
    res = export_onnx(folder, out=tmp_path / "elsewhere" / "net.onnx")
    assert res.path.is_file() and sorted(p.name for p in folder.iterdir()) == before
    assert open_backend(folder, "onnx", path=res.path).run(*random_inputs(2)).digits.shape == (2,)


def test_stale_export_is_refused(exported, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(exported("image"), tmp_path / "copy"))
    other = make_model(tmp_path / "other", "image", seed=1)
    shutil.copy(other / "weights.safetensors", folder / "weights.safetensors")
    write_manifest(folder)  # re-sign the manifest, as a retraining in place would
    with pytest.raises(ModelError, match="exported from other weights"):
        open_backend(folder, "onnx")


def test_missing_onnx_and_auto_choice(tmp_path: Path, exported) -> None:
    folder = make_model(tmp_path / "m", "audio")
    assert open_backend(folder).name == "torch"
    with pytest.raises(ModelError, match="no model.onnx") as info:
        open_backend(folder, "onnx")
    assert [h.kind for h in info.value.hints] == ["export", "backend"] and info.value.hints[1].value == "torch"
    assert "--" not in str(info.value) and "export the ONNX graphs of" in str(info.value)
    assert one_line(info.value).endswith(f"run `snnapp export {info.value.hints[0].value}`, or use --backend torch")
    assert open_backend(exported("audio")).name == "onnx"
    with pytest.raises(ModelError, match="unknown backend"):
        open_backend(folder, "tflite")
