"""Spike encoders: preprocessed images and MFCC frames -> input for each time step.

numpy only, so that the edge runtime encodes without torch. Every encoder is deterministic:
the stochastic ones (rate, delta for images) draw from a generator seeded by the caller.

Shapes, time-major like the network:
- image ``[B, 28, 28]`` in [0, 1] -> ``[T, B, C, 28, 28]`` (C = 1, or 2 for ON/OFF);
- audio ``[B, n_frames, n_mfcc]`` -> ``[T, B, F]``, ``n_frames / T`` consecutive frames per step
  (F = frames per step x n_mfcc, twice that for ON/OFF).

Kinds:
- ``direct``: the analogue value is the input current at every step (images), or each step gets
  its own frames (audio). The first layer sees real values; spikes start after it. Fastest and most
  accurate; the default.
- ``rate``: Bernoulli spikes with probability = intensity (audio: a logistic squashing of the
  normalised MFCC).
- ``latency``: one spike per pixel, earlier for brighter pixels (time to first spike); images only,
  since audio frames already arrive over time.
- ``delta``: ON and OFF spikes. Images: the contrast of each pixel against its neighbourhood
  (centre minus surround), the paper's bright/dark encoding, rate coded. Audio: the change of each
  MFCC coefficient from one frame to the next, above a threshold.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.ndimage import uniform_filter

from snnapp.core._dictconfig import DictConfig, check_settings, setting
from snnapp.core.errors import ConfigError

EncoderKind = Literal["direct", "rate", "latency", "delta"]
ENCODERS: tuple[str, ...] = typing.get_args(EncoderKind)


@dataclass(frozen=True)
class EncoderConfig(DictConfig):
    """Which encoder each modality uses, and its parameters; saved in the model's config."""

    image: EncoderKind = setting("direct", "How images become input spikes: direct (analogue current), rate, "
                                           "latency (time to first spike) or delta (ON/OFF contrast).")
    audio: EncoderKind = setting("direct", "How MFCC frames become input spikes: direct, rate or delta "
                                           "(ON/OFF change between frames); latency is for images only.")
    latency_threshold: float = setting(0.05, "Below this value an input produces no latency spike.", ge=0.0, le=1.0)
    delta_gain: float = setting(4.0, "Gain from image contrast to ON/OFF spike probability.", gt=0.0)
    delta_threshold: float = setting(
        0.3, "Change of a normalised MFCC coefficient between frames that gives an audio ON/OFF spike.", gt=0.0)

    def __post_init__(self) -> None:
        check_settings(self, "encoder")


def image_channels(kind: str) -> int:
    return 2 if kind == "delta" else 1


def audio_features_per_step(kind: str, n_frames: int, n_mfcc: int, num_steps: int) -> int:
    return (2 if kind == "delta" else 1) * frames_per_step(n_frames, num_steps) * n_mfcc


def frames_per_step(n_frames: int, num_steps: int) -> int:
    if n_frames % num_steps:
        raise ConfigError(f"the audio's {n_frames} MFCC frames do not divide into {num_steps} time steps")
    return n_frames // num_steps


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _latency(x: np.ndarray, num_steps: int, threshold: float) -> np.ndarray:
    """One spike per element at step ``round((1 - x) * (T - 1))``; none below ``threshold``."""
    x = np.clip(x, 0.0, 1.0)
    when = np.rint((1.0 - x) * (num_steps - 1)).astype(np.int64)
    steps = np.arange(num_steps).reshape((num_steps,) + (1,) * x.ndim)
    return ((steps == when[None]) & (x[None] >= threshold)).astype(np.float32)


def encode_image(
    images: np.ndarray, num_steps: int, cfg: EncoderConfig, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """``[B, 28, 28]`` in [0, 1] -> ``[T, B, C, 28, 28]`` float32 input for each step."""
    x = np.asarray(images, dtype=np.float32)[:, None]  # [B, 1, H, W]
    kind = cfg.image
    if kind == "direct":
        return np.broadcast_to(x[None], (num_steps,) + x.shape).copy()
    if kind == "latency":
        return _latency(x, num_steps, cfg.latency_threshold)
    rng = _rng(seed)
    if kind == "rate":
        p = np.clip(x, 0.0, 1.0)
    else:  # delta: centre minus surround, the bright/dark contrast, ON and OFF channels
        # Edges repeat outwards: a uniform region has no contrast, up to the frame's border.
        surround = uniform_filter(x, size=(1, 1, 5, 5), mode="nearest")
        c = (x - surround) * cfg.delta_gain
        p = np.clip(np.concatenate([c, -c], axis=1), 0.0, 1.0)
    return (rng.random((num_steps,) + p.shape, dtype=np.float32) < p[None]).astype(np.float32)


def encode_audio(
    frames: np.ndarray, num_steps: int, cfg: EncoderConfig, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """``[B, n_frames, n_mfcc]`` -> ``[T, B, F]``: consecutive frames fall on consecutive steps."""
    x = np.asarray(frames, dtype=np.float32)
    b, n_frames, n_mfcc = x.shape
    frames_per_step(n_frames, num_steps)  # checks that the frames divide into the steps
    kind = cfg.audio
    if kind == "delta":
        d = np.diff(x, axis=1, prepend=x[:, :1])
        x = np.concatenate([(d > cfg.delta_threshold), (d < -cfg.delta_threshold)], axis=2).astype(np.float32)
    elif kind == "rate":
        p = 1.0 / (1.0 + np.exp(-x))
        x = (_rng(seed).random(p.shape, dtype=np.float32) < p).astype(np.float32)
    elif kind == "latency":
        raise ConfigError("latency encoding is for images; audio frames already arrive over time (use direct, rate or delta)")
    per_step = x.reshape(b, num_steps, -1)
    return np.ascontiguousarray(per_step.transpose(1, 0, 2))
