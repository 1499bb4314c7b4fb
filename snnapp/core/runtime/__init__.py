"""Inference backends behind one interface (torch, onnxruntime), and listening with them.

``open_backend(folder, "onnx" | "torch" | "auto")`` gives a :class:`Backend`; ``run`` turns
preprocessed inputs into spike counts, probabilities and digits, ``stream`` yields each step's
spikes. :func:`listen` cuts audio chunks (:func:`mic_chunks`, :func:`file_chunks`) into utterances
with the :class:`Segmenter` (the one segmenter of every path: ``snnapp listen`` and the app) and
predicts each. Importing this package, using the onnx backend or listening imports no torch.
"""

from __future__ import annotations

from pathlib import Path

from snnapp.core.errors import Hint, ModelError
from snnapp.core.modelio import ModelFolder, load_model
from snnapp.core.vad import Segmenter, Utterance, VadConfig

from ._base import Backend, Encoded, Result, State, StepFrame
from ._listen import CHUNK_S, file_chunks, listen, mic_chunks
from ._onnx import OnnxBackend, available_providers
from ._torch import TorchBackend

BACKENDS = ("auto", "onnx", "torch")

__all__ = ["BACKENDS", "CHUNK_S", "Backend", "Encoded", "OnnxBackend", "Result", "Segmenter", "State", "StepFrame",
           "TorchBackend", "Utterance", "VadConfig", "available_providers", "default_backend", "file_chunks", "listen",
           "mic_chunks", "open_backend"]


def default_backend(folder: ModelFolder) -> str:
    """onnx where the folder has ``model.onnx``, else torch."""
    return "onnx" if folder.onnx_path is not None else "torch"


def open_backend(model: str | Path | ModelFolder, backend: str = "auto", device: str = "cpu", **options) -> Backend:
    """A ready backend for a model folder; ``options`` go to the backend (e.g. ``providers``, ``threads``)."""
    folder = model if isinstance(model, ModelFolder) else load_model(model)
    kind = default_backend(folder) if backend == "auto" else backend
    if kind == "onnx":
        return OnnxBackend(folder, device=device, **options)
    if kind == "torch":
        try:
            return TorchBackend(folder, device=device, **options)
        except ImportError:
            raise ModelError("the torch backend needs torch, which this installation lacks",
                             hint=Hint("backend", "onnx")) from None
    raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
