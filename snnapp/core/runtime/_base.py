"""The one inference interface: preprocessed inputs in, spike counts, probabilities and digits out.

A backend implements a single time step over explicit state (``step``); encoding, the loop over
time and the readout are shared here, in numpy, so torch and onnxruntime differ only in the step
and give the same numbers. ``frames`` yields every step's spikes for the app's rasters.
numpy only: nothing here imports torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from snnapp.core.encoders import encode_audio, encode_image
from snnapp.core.errors import ModelError
from snnapp.core.modelio import ModelFolder, shown
from snnapp.core.network import decide, probabilities

State = dict[str, np.ndarray]


@dataclass
class StepFrame:
    """One time step: output spikes and membrane ``[B, 10]``, hidden spikes, the new state."""

    t: int
    out_spikes: np.ndarray
    out_mem: np.ndarray
    hidden: dict[str, np.ndarray]
    state: State = field(repr=False)


@dataclass
class Result:
    """Spike counts ``[B, 10]``, probabilities ``[B, 10]``, digits ``[B]``, final membrane ``[B, 10]``."""

    counts: np.ndarray
    probabilities: np.ndarray
    digits: np.ndarray
    final_mem: np.ndarray


@dataclass
class Encoded:
    """Encoded input of every step: ``image [T, B, C, 28, 28]`` and ``audio [T, B, F]`` (or None)."""

    image: np.ndarray | None
    audio: np.ndarray | None

    def _given(self) -> np.ndarray:
        given = self.image if self.image is not None else self.audio
        if given is None:
            raise ValueError("an encoded input holds an image, audio or both")
        return given

    @property
    def batch(self) -> int:
        return self._given().shape[1]

    @property
    def steps(self) -> int:
        return self._given().shape[0]


class Backend(ABC):
    """A model folder ready to run; subclasses implement :meth:`step` and :meth:`state_shapes`."""

    name: str = "?"

    def __init__(self, folder: ModelFolder) -> None:
        self.folder = folder
        self.config = folder.config

    # ------------------------------------------------------------------ what a backend provides
    @abstractmethod
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of every state tensor, by name, in the network's order."""

    @abstractmethod
    def step(self, image_t: np.ndarray | None, audio_t: np.ndarray | None, state: State) -> StepFrame:
        """One time step from ``state``; ``image_t [B, C, 28, 28]``, ``audio_t [B, F]``."""

    # ------------------------------------------------------------------ shared
    def initial_state(self, batch: int) -> State:
        """The resting state: zeros (both neuron models rest at v = 0, not refractory)."""
        return {n: np.zeros((batch,) + s, dtype=np.float32) for n, s in self.state_shapes().items()}

    def encode(self, images: np.ndarray | None, audio: np.ndarray | None, seed: int = 0) -> Encoded:
        """Spike-encode preprocessed inputs (``[B, 28, 28]``, ``[B, n_frames, n_features]``) the model can use."""
        cfg = self.config
        T = cfg.network.num_steps
        img = encode_image(images, T, cfg.encoder, seed) if images is not None and cfg.network.uses_image else None
        aud = encode_audio(audio, T, cfg.encoder, seed) if audio is not None and cfg.network.uses_audio else None
        if img is None and aud is None:
            raise ModelError(f"{shown(self.folder.path)}: a {cfg.mode} model cannot use the inputs given")
        net = cfg.network
        for got, want, what in ((None if aud is None else aud.shape[2], net.audio_in_features, "audio inputs"),
                                (None if img is None else img.shape[2], net.image_in_channels, "image channels")):
            if got is not None and got != want:  # preprocessing settings that do not fit the weights
                raise ModelError(f"{shown(self.folder.path)}: its config's preprocessing and encoder give {got} {what} "
                                 f"per step, but the network takes {want}; config.json does not fit the weights")
        return Encoded(img, aud)

    def frames(self, enc: Encoded, state: State | None = None) -> Iterator[StepFrame]:
        """Run the encoded input step by step, yielding each step (for rasters and streaming)."""
        state = self.initial_state(enc.batch) if state is None else state
        for t in range(enc.steps):
            frame = self.step(None if enc.image is None else enc.image[t],
                              None if enc.audio is None else enc.audio[t], state)
            frame.t = t
            state = frame.state
            yield frame

    def simulate(self, enc: Encoded, state: State | None = None) -> tuple[np.ndarray, np.ndarray, State]:
        """Spike counts ``[B, 10]``, final output membrane and final state of an encoded input."""
        counts = np.zeros((enc.batch, 10), dtype=np.float32)
        mem, last = np.zeros_like(counts), state
        for frame in self.frames(enc, state):
            counts += frame.out_spikes
            mem, last = frame.out_mem, frame.state
        assert last is not None  # a network runs one step at least
        return counts, mem, last

    def readout(self, counts: np.ndarray, final_mem: np.ndarray) -> Result:
        probs = probabilities(counts, final_mem, self.config.temperature)
        return Result(counts, probs, decide(counts, final_mem), final_mem)

    def run(self, images: np.ndarray | None, audio: np.ndarray | None, seed: int = 0) -> Result:
        """Encode, run all T steps from rest, read out: the whole inference of a batch."""
        counts, mem, _ = self.simulate(self.encode(images, audio, seed))
        return self.readout(counts, mem)

    def stream(self, images: np.ndarray | None, audio: np.ndarray | None, seed: int = 0) -> Iterator[StepFrame]:
        """Per-step spikes of a batch from rest, for rasters; sum ``out_spikes`` for the counts."""
        return self.frames(self.encode(images, audio, seed))
