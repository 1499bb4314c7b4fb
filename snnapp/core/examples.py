"""The examples of each mode and split, as arrays, and their encoding into batches.

Splits: the validation set is carved (seeded, stratified) from each official training set; the
test sets (MNIST t10k, FSDD takes 0-4) are never used for model selection. Multimodal examples
pair each image with a clip of the same digit: drawn afresh each epoch for training, fixed by a
seed for validation and test, so numbers are comparable across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from snnapp.core.data import fixed_test_pairs, list_fsdd, load_mnist, stratified_split
from snnapp.core.encoders import EncoderConfig, encode_audio, encode_image
from snnapp.core.errors import DataError
from snnapp.core.features import compute_features
from snnapp.core.preprocess import AudioConfig

SPLITS = ("train", "val", "test")


@dataclass
class Examples:
    """One split of one mode. ``pairs[i]`` is the audio row paired with image ``i`` (multimodal)."""

    mode: str
    labels: np.ndarray  # [N] int64
    images: np.ndarray | None = None  # [N, 28, 28] uint8
    audio: np.ndarray | None = None  # [M, copies, n_frames, n_features] float32 (copy 0 is clean)
    audio_labels: np.ndarray | None = None  # [M]
    speakers: np.ndarray | None = None  # [M] speaker names
    pairs: np.ndarray | None = None  # [N] indices into the audio rows

    def __len__(self) -> int:
        return len(self.labels)


def _carve(labels: np.ndarray, split: str, val_fraction: float, seed: int) -> np.ndarray:
    tr, va = stratified_split(labels, val_fraction, seed)
    return np.sort(tr if split == "train" else va)


def load_examples(
    mode: str, split: str, data_dir: Path, *, audio_cfg: AudioConfig = AudioConfig(), val_fraction: float = 0.1,
    seed: int = 0, limit: int | None = None, audio_copies: int = 0, cache_dir: Path | None = None,
    held_out_speaker: str | None = None,
) -> Examples:
    """The examples of ``split`` for ``mode``; ``limit`` keeps the first N (quick runs).

    With ``held_out_speaker`` (audio only: leave-one-speaker-out), train and val come from all
    recordings of the other speakers and test is every recording of that speaker.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    official: Literal["train", "test"] = "test" if split == "test" else "train"
    images = img_labels = audio = aud_labels = speakers = None
    if mode in ("image", "multimodal"):
        images, img_labels = load_mnist(data_dir, official)
        if split != "test":
            keep = _carve(img_labels, split, val_fraction, seed)
            images, img_labels = images[keep], img_labels[keep]
    if mode in ("audio", "multimodal"):
        if held_out_speaker is None:
            clips = list_fsdd(data_dir, official)
        else:
            clips = [c for c in list_fsdd(data_dir, "all") if (c.speaker == held_out_speaker) == (split == "test")]
            if not clips:
                raise DataError(f"{data_dir}: no FSDD recording of speaker {held_out_speaker!r}")
        aud_labels = np.array([c.digit for c in clips], dtype=np.int64)
        if split != "test":
            keep = _carve(aud_labels, split, val_fraction, seed)
            clips = [clips[i] for i in keep]
            aud_labels = aud_labels[keep]
        copies = audio_copies if split == "train" else 0
        audio = compute_features([c.path for c in clips], audio_cfg, copies=copies, seed=seed, cache_dir=cache_dir)
        speakers = np.array([c.speaker for c in clips])
    if mode == "image":
        assert img_labels is not None
        ex = Examples(mode, img_labels.astype(np.int64), images=images)
    elif mode == "audio":
        assert aud_labels is not None
        ex = Examples(mode, aud_labels, audio=audio, audio_labels=aud_labels, speakers=speakers)
    else:
        assert img_labels is not None and aud_labels is not None
        pairs = None if split == "train" else fixed_test_pairs(img_labels, aud_labels, seed)
        ex = Examples(mode, img_labels.astype(np.int64), images=images, audio=audio,
                      audio_labels=aud_labels, speakers=speakers, pairs=pairs)
    return limit_examples(ex, limit)


def _head(a: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if a is None else a[:n]


def limit_examples(ex: Examples, limit: int | None) -> Examples:
    if limit is None or limit >= len(ex):
        return ex
    if ex.mode == "audio":
        return Examples(ex.mode, ex.labels[:limit], audio=_head(ex.audio, limit),
                        audio_labels=_head(ex.audio_labels, limit), speakers=_head(ex.speakers, limit))
    return Examples(ex.mode, ex.labels[:limit], images=_head(ex.images, limit), audio=ex.audio,
                    audio_labels=ex.audio_labels, speakers=ex.speakers, pairs=_head(ex.pairs, limit))


@dataclass
class Batch:
    image: Tensor | None  # [B, C, 28, 28] static, or [T, B, C, 28, 28]
    audio: Tensor | None  # [T, B, F]
    labels: Tensor
    audio_rows: np.ndarray | None = None


def make_batch(
    ex: Examples, idx: np.ndarray, num_steps: int, enc: EncoderConfig, device: torch.device, *,
    pairs: np.ndarray | None = None, rng: np.random.Generator | None = None, image_aug=None, audio_aug=None,
) -> Batch:
    """Encode the examples ``idx`` for the network. ``rng`` picks augmented audio copies and
    seeds stochastic encoders; ``image_aug`` (images) and ``audio_aug`` (audio features, with
    ``rng``) are applied before encoding (training)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    image = audio = rows = None
    if ex.images is not None:
        x = torch.from_numpy(ex.images[idx]).to(device, non_blocking=True).float().div_(255.0).unsqueeze(1)
        if image_aug is not None:
            x = image_aug(x)
        if enc.image == "direct":
            image = x
        else:
            image = torch.from_numpy(encode_image(x[:, 0].cpu().numpy(), num_steps, enc, rng)).to(device)
    if ex.audio is not None:
        if ex.mode == "audio":
            rows = idx
        else:
            given = pairs if pairs is not None else ex.pairs
            assert given is not None, "multimodal examples are paired"
            rows = given[idx]
        copies = ex.audio.shape[1]
        which = rng.integers(0, copies, size=len(rows)) if copies > 1 else np.zeros(len(rows), dtype=np.int64)
        frames = ex.audio[rows, which]
        if audio_aug is not None:
            frames = audio_aug(frames, rng)
        audio = torch.from_numpy(encode_audio(frames, num_steps, enc, rng)).to(device, non_blocking=True)
    labels = torch.from_numpy(ex.labels[idx]).to(device)
    return Batch(image, audio, labels, rows)
