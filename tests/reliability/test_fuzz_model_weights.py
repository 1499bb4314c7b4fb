"""Weights that are not what the model needs: another shape, name, type or architecture,
non-finite values, other float widths, broken safetensors files and pickles.

Each is refused with a ModelError naming the weights file, or gives a model that runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from safetensors.numpy import save_file  # noqa: E402

from snnapp.core.errors import ModelError  # noqa: E402
from snnapp.core.modelio import (  # noqa: E402
    ONNX,
    WEIGHTS,
    load_model,
    write_manifest,
)
from snnapp.core.runtime import open_backend  # noqa: E402

from .model_folder_kit import (  # noqa: E402
    WINDOW,
    audio_input,
    copy_folder,
    load_or_error,
    run_or_error,
)

# ----------------------------------------------------------------------------------- weights

_dtypes = st.sampled_from([np.float32, np.float16, np.float64, np.int64, np.int8, np.uint8, bool])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), keep=st.floats(0, 1), dtype=_dtypes, scale=st.sampled_from([0.0, 1.0, 1e30, np.nan, np.inf]),
       rename=st.booleans(), reshape=st.booleans())
def test_weights_of_another_shape_name_or_type(models, tmp_path_factory, data, keep, dtype, scale, rename, reshape):
    """Weights edited in every way (and the manifest rewritten to match): a ModelError, or a model that runs."""
    folder = copy_folder(models["audio"], tmp_path_factory.mktemp("weights") / "model")
    for name in (ONNX, WINDOW):
        (folder / name).unlink()
    write_manifest(folder)
    weights = load_model(folder).weights
    out = {}
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for i, (k, v) in enumerate(sorted(weights.items())):
        if rng.random() > keep:
            continue
        shape = v.shape
        if reshape and rng.random() < 0.5:
            shape = tuple(int(s) for s in rng.integers(1, 40, size=rng.integers(0, 3)))
        with np.errstate(all="ignore"):
            a = (rng.standard_normal(shape) * scale).astype(dtype)
        out[(k + "_x") if rename and rng.random() < 0.3 else k] = np.ascontiguousarray(a)
    if not out:
        out = {"nothing": np.zeros(1, np.float32)}
    save_file(out, str(folder / WEIGHTS))
    write_manifest(folder)
    m = load_or_error(folder)
    if m is not None:
        run_or_error(m, "torch")


@pytest.mark.parametrize("mode", ["image", "multimodal", "wider"])
def test_weights_of_another_architecture(models, tmp_path: Path, mode: str):
    folder = copy_folder(models["audio"], tmp_path / "model")
    (folder / ONNX).unlink()
    (folder / WINDOW).unlink()
    shutil.copy(models[mode] / WEIGHTS, folder / WEIGHTS)
    write_manifest(folder)
    m = load_model(folder)  # the file itself is fine
    with pytest.raises(ModelError, match=r"do not fit the architecture|has shape"):
        open_backend(m, "torch")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(models, tmp_path: Path, value: float):
    folder = copy_folder(models["audio"], tmp_path / "model")
    weights = load_model(folder).weights
    weights["fc_audio.0.weight"] = weights["fc_audio.0.weight"].copy()
    weights["fc_audio.0.weight"][0, 0] = value
    save_file(weights, str(folder / WEIGHTS))
    write_manifest(folder)
    with pytest.raises(ModelError, match=rf"{WEIGHTS}: weight fc_audio.0.weight holds NaN"):
        load_model(folder)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_weights_in_other_float_widths_run(models, tmp_path: Path, dtype):
    folder = copy_folder(models["audio"], tmp_path / "model")
    (folder / ONNX).unlink()
    (folder / WINDOW).unlink()
    write_manifest(folder)
    save_file({k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in load_model(folder).weights.items()},
              str(folder / WEIGHTS))
    write_manifest(folder)
    run_or_error(folder, "torch")
    b = open_backend(folder, "torch")
    assert np.isfinite(b.run(None, audio_input()).probabilities).all()


def _safetensors(header: dict | bytes, body: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


@pytest.mark.parametrize("content", [
    b"", b"\x00" * 7, b"\xff" * 8 + b"{}", _safetensors(b"{not json"), _safetensors({"x": 1}),
    _safetensors({"x": {"dtype": "F32", "shape": [10**6], "data_offsets": [0, 4 * 10**6]}}, b"\x00" * 8),
    _safetensors({"x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 0]}}),
    _safetensors({"x": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4),
    _safetensors({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\x00" * 4),
    _safetensors({"x": {"dtype": "F32", "shape": [2], "data_offsets": [4, 0]}}, b"\x00" * 8),
    _safetensors({"__metadata__": {"format": [1, 2]}}),
    (2**63).to_bytes(8, "little") + b"{}", _safetensors(b"[" * 10000),
], ids=["empty", "short", "header_len_huge", "bad_json", "bad_entry", "offsets_past_end", "shape_overflow",
        "unknown_dtype", "negative_shape", "reversed_offsets", "bad_metadata", "header_len_2e63", "deep_header"])
def test_broken_safetensors(models, tmp_path: Path, content: bytes):
    folder = copy_folder(models["audio"], tmp_path / "model")
    (folder / WEIGHTS).write_bytes(content)
    write_manifest(folder)
    for verify in (True, False):
        with pytest.raises(ModelError, match=WEIGHTS):
            load_model(folder, verify=verify)


def test_pickled_weights_are_not_unpickled(models, tmp_path: Path):
    folder = copy_folder(models["audio"], tmp_path / "model")
    torch.save(load_model(folder).weights, folder / WEIGHTS)
    write_manifest(folder)
    with pytest.raises(ModelError, match=f"{WEIGHTS}: not a readable safetensors file"):
        load_model(folder)
