"""Seeded, stratified splits and the pairing of images with spoken digits of the same label.

Everything here is a pure function of its inputs and a seed (or a caller's generator), so that a
validation set or a test pairing is the same on every machine and every run.
"""

from __future__ import annotations

import math

import numpy as np

from snnapp.core.errors import DataError


def _as_labels(labels: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    return arr


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), sorted, disjoint, covering all of ``labels``.

    Each class gives ``round(count * val_fraction)`` of its items (halves rounded up) to the
    validation set, chosen by a generator seeded with ``seed``, so class proportions are kept.
    """
    arr = _as_labels(labels, "labels")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train_parts: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    val_parts: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    for cls in np.unique(arr):
        members = rng.permutation(np.flatnonzero(arr == cls))
        n_val = math.floor(len(members) * val_fraction + 0.5)
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train = np.sort(np.concatenate(train_parts)).astype(np.int64)
    val = np.sort(np.concatenate(val_parts)).astype(np.int64)
    return train, val


def _audio_by_label(image_labels: np.ndarray, audio_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    images = _as_labels(image_labels, "image_labels")
    audio = _as_labels(audio_labels, "audio_labels")
    groups: dict[int, np.ndarray] = {}
    for label in np.unique(images):
        members = np.flatnonzero(audio == label)
        if members.size == 0:
            raise DataError(f"no audio clip has label {int(label)}, so images of that label cannot be paired")
        groups[int(label)] = members
    return images, audio, groups


def draw_pairs(image_labels: np.ndarray, audio_labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each image, the index of an audio clip with the same label, drawn uniformly.

    Meant to be called afresh every training epoch with the trainer's generator, so that each
    image meets many different speakers over the course of training.
    """
    images, _, groups = _audio_by_label(image_labels, audio_labels)
    pairs = np.empty(images.shape[0], dtype=np.int64)
    for label, members in groups.items():
        where = np.flatnonzero(images == label)
        pairs[where] = members[rng.integers(0, members.size, size=where.size)]
    return pairs


def fixed_test_pairs(image_labels: np.ndarray, audio_labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each image, an audio clip of the same label, the same for the same seed.

    The clips of each label are shuffled once and then cycled over that label's images, so every
    clip is used equally often (counts differ by at most one) and no clip dominates the result.
    """
    images, _, groups = _audio_by_label(image_labels, audio_labels)
    rng = np.random.default_rng(seed)
    pairs = np.empty(images.shape[0], dtype=np.int64)
    for label in sorted(groups):
        members = rng.permutation(groups[label])
        where = np.flatnonzero(images == label)
        pairs[where] = members[np.arange(where.size) % members.size]
    return pairs
