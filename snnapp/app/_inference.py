"""What the window asks of the network: per-modality and fused decisions with their spike traces.

Qt-free, so it can be tested and timed on its own. Three model slots (image, audio,
multimodal) each hold a runtime backend; the image bars come from the image model, the audio
bars from the audio model, and the fused decision from the multimodal model when both inputs are
present (else from the one modality there is). Every run goes step by step through
``Backend.frames``, so the trace the rasters draw is exactly what the network computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnapp.core.encoders import encode_image
from snnapp.core.errors import SnnappError
from snnapp.core.preprocess import audio_features, image_features
from snnapp.core.runtime import Backend, Encoded, Result, open_backend

from ._messages import error_text

SLOTS = ("image", "audio", "multimodal")


@dataclass
class Trace:
    """Every step of one run, time-major: inputs and hidden spikes flattened to ``[T, units]``."""

    model: str
    inputs: dict[str, np.ndarray]
    hidden: dict[str, np.ndarray]
    out_spikes: np.ndarray  # [T, 10]
    out_mem: np.ndarray  # [T, 10]

    @property
    def steps(self) -> int:
        return int(self.out_spikes.shape[0])


@dataclass
class Decision:
    """Probabilities per modality and fused (None where that input or model is absent), one trace."""

    image: np.ndarray | None = None
    audio: np.ndarray | None = None
    fused: np.ndarray | None = None
    digit: int | None = None
    confidence: float = 0.0
    source: str = ""  # which model made the fused decision
    trace: Trace | None = None
    latency_ms: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)
    seen_image: np.ndarray | None = None  # [28, 28]: what the network saw
    seen_audio: np.ndarray | None = None  # [n_frames, n_features]

    @property
    def disagree(self) -> bool:
        """True when both modalities are present and point at different digits."""
        return self.image is not None and self.audio is not None and \
            int(np.argmax(self.image)) != int(np.argmax(self.audio))


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).reshape(-1)


def run_traced(backend: Backend, enc: Encoded) -> tuple[Result, Trace]:
    """Run an encoded single input step by step and keep every step for the rasters."""
    inputs: dict[str, list[np.ndarray]] = {}
    hidden: dict[str, list[np.ndarray]] = {}
    spikes, mems = [], []
    for frame in backend.frames(enc):
        if enc.image is not None:
            inputs.setdefault("image", []).append(_flat(enc.image[frame.t, 0]))
        if enc.audio is not None:
            inputs.setdefault("audio", []).append(_flat(enc.audio[frame.t, 0]))
        for name, h in frame.hidden.items():
            hidden.setdefault(name, []).append(_flat(h[0]))
        spikes.append(_flat(frame.out_spikes[0]))
        mems.append(_flat(frame.out_mem[0]))
    out_spikes, out_mem = np.stack(spikes), np.stack(mems)
    result = backend.readout(out_spikes.sum(0, keepdims=True), out_mem[-1:])
    trace = Trace(str(backend.folder.path), {k: np.stack(v) for k, v in inputs.items()},
                  {k: np.stack(v) for k, v in hidden.items()}, out_spikes, out_mem)
    return result, trace


class Engine:
    """The loaded models and the backend they run on; :meth:`infer` is the whole inference."""

    def __init__(self, models: dict[str, str | Path | None], backend: str = "auto", device: str = "cpu",
                 image_steps: int | None = None) -> None:
        self.backend_kind, self.device, self.image_steps = backend, device, image_steps
        self.backends: dict[str, Backend] = {}
        self.errors: dict[str, str] = {}
        self._kept: dict[tuple, tuple[object, np.ndarray]] = {}  # features of the inputs seen last
        for slot in SLOTS:
            path = models.get(slot)
            if path is None:
                continue
            try:
                # "onnx" means onnx where the folder has the graphs; a folder without them
                # (a fresh fine-tuned model) runs on torch rather than not at all
                kind = "auto" if backend == "onnx" else backend
                self.backends[slot] = open_backend(path, kind, device)
            except SnnappError as exc:
                self.errors[slot] = error_text(exc)
            except Exception as exc:  # a backend library failing in its own way (e.g. a provider)
                self.errors[slot] = f"{path}: {type(exc).__name__}: {exc}"

    def warm_up(self) -> None:
        """Run each model once on a blank input: the first MFCC call compiles librosa's kernels (seconds)."""
        rate = 8000
        blank = (np.full(rate // 2, 1e-3, np.float32), rate)
        for slot, b in list(self.backends.items()):
            errors: dict[str, str] = {}
            img = np.zeros((28, 28), np.float32)
            img[8:20, 12:16] = 1.0
            self._run(slot, img if b.config.network.uses_image else None,
                      blank if b.config.network.uses_audio else None, {}, errors)

    def describe(self) -> str:
        """One line: which backend each slot runs on."""
        parts = [f"{s}: {b.name}" for s, b in self.backends.items()]
        return ", ".join(parts) or "no model loaded"

    def _features(self, b: Backend, image: np.ndarray | None, audio: tuple[np.ndarray, int] | None,
                  cache: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Each model's own preprocessing (its config), computed once per distinct config."""
        cfg = b.config
        img = aud = None
        if image is not None and cfg.network.uses_image:
            img = self._feature(("image", repr(cfg.image)), image, lambda: image_features(image, cfg.image), cache)
        if audio is not None and cfg.network.uses_audio:
            aud = self._feature(("audio", repr(cfg.audio)), audio[0],
                                lambda: audio_features(audio[0], cfg.audio, audio[1]), cache)
        return img, aud

    def _feature(self, key: tuple, source: object, compute, cache: dict) -> np.ndarray:
        """Features of ``source``, computed once: an utterance stays the input while many drawings come."""
        kept = self._kept.get(key)
        if kept is None or kept[0] is not source:
            kept = self._kept[key] = (source, compute())
        cache[key] = kept[1]
        return kept[1]

    def _encode(self, b: Backend, image: np.ndarray | None, audio: np.ndarray | None) -> Encoded:
        cfg = b.config
        if image is not None and cfg.mode == "image" and self.image_steps:
            return Encoded(encode_image(image[None], self.image_steps, cfg.encoder), None)
        return b.encode(None if image is None else image[None], None if audio is None else audio[None])

    def _run(self, slot: str, image: np.ndarray | None, audio: tuple[np.ndarray, int] | None,
             cache: dict, errors: dict[str, str]) -> tuple[Result, Trace, np.ndarray | None, np.ndarray | None] | None:
        b = self.backends.get(slot)
        if b is None:
            return None
        try:
            img, aud = self._features(b, image, audio, cache)
            return (*run_traced(b, self._encode(b, img, aud)), img, aud)
        except SnnappError as exc:
            errors[slot] = error_text(exc)
        except Exception as exc:  # the window must survive any failure of a backend
            errors[slot] = f"{type(exc).__name__}: {exc}"
        return None

    def infer(self, image: np.ndarray | None, audio: tuple[np.ndarray, int] | None) -> Decision:
        """A picture (any size, drawn or photographed) and ``(samples, rate)`` of one utterance -> a decision.

        Either may be None. Each model preprocesses with its own saved parameters.
        """
        t0 = time.perf_counter()
        d = Decision()
        cache: dict = {}
        runs: dict[str, tuple] = {}
        both = image is not None and audio is not None
        if image is not None and (r := self._run("image", image, None, cache, d.errors)):
            runs["image"] = r
            d.image = r[0].probabilities[0]
        if audio is not None and (r := self._run("audio", None, audio, cache, d.errors)):
            runs["audio"] = r
            d.audio = r[0].probabilities[0]
        if both or (image is not None and "image" not in runs) or (audio is not None and "audio" not in runs):
            # both inputs: fuse; one input whose own model is missing: the multimodal model alone
            if r := self._run("multimodal", image, audio, cache, d.errors):
                runs["multimodal"] = r
                if not both:
                    setattr(d, "image" if image is not None else "audio", r[0].probabilities[0])
        for slot in ("multimodal", "image", "audio"):
            if slot in runs:
                result, d.trace, d.seen_image, d.seen_audio = runs[slot]
                d.fused, d.source = result.probabilities[0], slot
                d.digit = int(result.digits[0])
                d.confidence = float(d.fused[d.digit])
                break
        if d.seen_image is None and image is not None:
            d.seen_image = next((v for k, v in cache.items() if k[0] == "image"), None)
        if d.seen_audio is None and audio is not None:
            d.seen_audio = next((v for k, v in cache.items() if k[0] == "audio"), None)
        d.latency_ms = 1000 * (time.perf_counter() - t0)
        return d
