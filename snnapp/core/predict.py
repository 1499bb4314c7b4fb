"""Prediction from files: preprocess, encode, run the network, read out the digit.

Each input is preprocessed on its own, so one unreadable file gets its own error and the others
are still predicted. The network runs on a runtime backend (onnxruntime or torch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnapp.core.errors import Hint, InputError, ModelError, SnnappError
from snnapp.core.modelio import ModelFolder, load_model, shown
from snnapp.core.preprocess import audio_features, image_features

ASSETS = Path(__file__).resolve().parent.parent / "assets"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


def shipped_model(mode: str) -> Path:
    """The folder of the model shipped with the package for ``mode``."""
    path = ASSETS / "models" / mode
    if not path.is_dir():
        raise ModelError(f"{path}: no shipped {mode} model in this installation", hint=Hint("model"))
    return path


def files_in(folder: Path, suffixes: set[str]) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes``, sorted by name."""
    if not folder.is_dir():
        raise SnnappError(f"{shown(folder)}: no such folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


@dataclass
class Prediction:
    """One input's prediction. ``input`` is the file name as given (for JSON, which escapes what it
    must); print it in text with :func:`~snnapp.core.modelio.shown`, as the CLI does."""

    input: str
    digit: int | None = None
    probabilities: list[float] = field(default_factory=list)
    error: str | None = None
    model: str | None = None

    def to_dict(self) -> dict:
        d = {"input": self.input, "digit": self.digit, "probabilities": [round(p, 6) for p in self.probabilities]}
        if self.model:
            d["model"] = self.model
        if self.error:
            d["error"] = self.error
        return d


class Predictor:
    """A model folder ready to predict, on a runtime backend built once.

    ``backend``: ``auto`` (onnx where the folder has ``model.onnx``, else torch), ``onnx`` or
    ``torch``; ``device`` is the torch device, or for onnx the execution provider (cpu, cuda).
    """

    def __init__(self, model: str | Path | ModelFolder, device: str = "cpu", backend: str = "auto") -> None:
        from snnapp.core.runtime import open_backend

        self.folder = model if isinstance(model, ModelFolder) else load_model(model)
        self.config = self.folder.config
        self.backend = open_backend(self.folder, backend, device)

    def features(self, image: str | Path | None, audio: str | Path | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        img = image_features(image, self.config.image) if image is not None else None
        aud = audio_features(audio, self.config.audio) if audio is not None else None
        return img, aud

    def run(self, images: np.ndarray | None, audio: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``[B, 10]`` and digits ``[B]`` for preprocessed inputs (either may be None)."""
        result = self.backend.run(images, audio)
        return result.probabilities, result.digits

    def predict_files(self, images: list[Path] | None = None, audio: list[Path] | None = None) -> list[Prediction]:
        """One prediction per file, or per image+audio pair when both lists are given."""
        return list(self.iter_files(images, audio))

    def iter_files(self, images: list[Path] | None = None, audio: list[Path] | None = None) -> Iterator[Prediction]:
        """:meth:`predict_files` one input at a time: each prediction as soon as it is made, and memory
        that does not grow with the number of inputs (the list of rows costs about 0.5 KB per input).

        Pairs need a model of both modalities: a unimodal model given images and recordings together
        raises :class:`InputError` before anything is predicted, instead of using one of each pair
        and silently dropping the other.
        """
        if images and audio:
            if len(images) != len(audio):
                raise InputError(f"{len(images)} images and {len(audio)} recordings: pairs need as many of each")
            if self.config.mode != "multimodal":
                reads = "images" if self.config.mode == "image" else "audio"
                raise InputError(f"{shown(self.folder.path)}: an {self.config.mode} model reads only {reads}; "
                                 "image+audio pairs need a multimodal model (or give one kind of input)")
        n = len(images or audio or [])
        model = str(self.folder.path)
        for i in range(n):
            im = images[i] if images else None
            au = audio[i] if audio else None
            name = " + ".join(os.fsdecode(p) for p in (im, au) if p is not None)
            try:
                img, aud = self.features(im, au)
                p, d = self.run(None if img is None else img[None], None if aud is None else aud[None])
                yield Prediction(name, int(d[0]), p[0].tolist(), model=model)
            except SnnappError as exc:
                yield Prediction(name, error=str(exc))
