"""int8 ONNX models for small devices: dynamic quantisation of the step graph, measured.

onnxruntime's dynamic quantisation stores the weights of MatMul/Gemm (and Conv) as int8 and
quantises activations per call. Spikes are 0/1, so the hidden layers' inputs quantise exactly;
the weights do not, which can move a membrane across the threshold: ``compare`` measures
accuracy, size and batch-1 latency of both models on a data split so that the int8 model is
offered only where it keeps accuracy (the issue's bar: within 0.2 points).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from snnapp.core.modelio import ONNX, ModelFolder, disk_error, load_model, write_into

INT8_ONNX = "model.int8.onnx"


def quantize(folder: str | Path | ModelFolder) -> Path:
    """Write ``model.int8.onnx`` beside ``model.onnx`` (metadata kept) and refresh the manifest."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = folder if isinstance(folder, ModelFolder) else load_model(folder)
    src = model.path / ONNX
    # quantize_dynamic works on paths and writes "<input>-inferred.onnx" beside its input: on a copy
    # in a temporary folder, so the model folder only ever gets the finished file, in one step
    with tempfile.TemporaryDirectory(prefix="snnapp-int8-") as work:
        copy, tmp = Path(work) / ONNX, Path(work) / INT8_ONNX
        try:
            shutil.copyfile(src, copy)
            quantize_dynamic(str(copy), str(tmp), weight_type=QuantType.QInt8)
        except OSError as exc:
            raise disk_error(tmp, exc) from exc
        q, meta = onnx.load(str(tmp)), onnx.load(str(copy)).metadata_props
    del q.metadata_props[:]
    q.metadata_props.extend(meta)
    dest = write_into(model.path, INT8_ONNX, q.SerializeToString())
    return dest


@dataclass
class Variant:
    name: str
    bytes: int
    accuracy: float
    latency_ms: float


def _latency(backend, images, audio, repeats: int = 50) -> float:
    one = (None if images is None else images[:1], None if audio is None else audio[:1])
    for _ in range(3):
        backend.run(*one)
    t0 = time.perf_counter()
    for _ in range(repeats):
        backend.run(*one)
    return 1000 * (time.perf_counter() - t0) / repeats


def compare(folder: str | Path, data_dir: Path, split: str = "test", limit: int | None = None,
            threads: int = 1) -> list[Variant]:
    """Accuracy, file size and batch-1 latency (step graph) of the float and the int8 model."""
    from snnapp.core.examples import load_examples
    from snnapp.core.runtime import OnnxBackend

    model = load_model(folder)
    cfg = model.config
    ex = load_examples(cfg.mode, split, data_dir, audio_cfg=cfg.audio, limit=limit,
                       val_fraction=cfg.training.get("val_fraction", 0.1), seed=cfg.training.get("seed", 0))
    images = None if ex.images is None else ex.images.astype(np.float32) / 255.0
    audio = None if ex.audio is None else (ex.audio[ex.pairs, 0] if ex.pairs is not None else ex.audio[:, 0])
    out = []
    for name, path in (("float32", model.path / ONNX), ("int8", model.path / INT8_ONNX)):
        b = OnnxBackend(model, threads=threads, use_window=False, path=path)
        digits = np.concatenate([b.run(None if images is None else images[i:i + 256],
                                       None if audio is None else audio[i:i + 256]).digits
                                 for i in range(0, len(ex), 256)])
        out.append(Variant(name, path.stat().st_size, float((digits == ex.labels).mean()),
                           _latency(b, images, audio)))
    return out


def as_rows(variants: list[Variant]) -> list[dict]:
    return [asdict(v) for v in variants]
