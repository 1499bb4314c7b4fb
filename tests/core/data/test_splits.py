from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnapp.core.data import draw_pairs, fixed_test_pairs, stratified_split
from snnapp.core.errors import DataError

LABELS = np.repeat(np.arange(10), [100, 90, 80, 70, 60, 50, 40, 30, 20, 10])


def test_split_is_deterministic_disjoint_and_complete() -> None:
    train, val = stratified_split(LABELS, 0.2, seed=3)
    again_train, again_val = stratified_split(LABELS, 0.2, seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(LABELS.size))


def test_split_keeps_class_proportions() -> None:
    _, val = stratified_split(LABELS, 0.2, seed=0)
    counts = Counter(LABELS[val].tolist())
    assert counts == {c: n // 5 for c, n in enumerate([100, 90, 80, 70, 60, 50, 40, 30, 20, 10])}


def test_seed_changes_the_split() -> None:
    assert not np.array_equal(stratified_split(LABELS, 0.2, 0)[1], stratified_split(LABELS, 0.2, 1)[1])


def test_split_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError):
        stratified_split(LABELS, 1.0, 0)
    with pytest.raises(ValueError):
        stratified_split(LABELS.reshape(2, -1), 0.1, 0)


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=0, max_size=60),
    fraction=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_properties(labels: list[int], fraction: float, seed: int) -> None:
    arr = np.array(labels, dtype=np.int64)
    train, val = stratified_split(arr, fraction, seed)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(arr.size))
    for cls in set(labels):
        n = labels.count(cls)
        assert abs(int(np.sum(arr[val] == cls)) - n * fraction) <= 0.5 + 1e-9


IMAGE_LABELS = np.tile(np.arange(10), 50)  # 500 images
AUDIO_LABELS = np.repeat(np.arange(10), 7)  # 70 clips, 7 per digit


def test_drawn_pairs_match_labels_and_vary() -> None:
    rng = np.random.default_rng(0)
    first = draw_pairs(IMAGE_LABELS, AUDIO_LABELS, rng)
    second = draw_pairs(IMAGE_LABELS, AUDIO_LABELS, rng)
    assert first.shape == IMAGE_LABELS.shape
    np.testing.assert_array_equal(AUDIO_LABELS[first], IMAGE_LABELS)
    np.testing.assert_array_equal(AUDIO_LABELS[second], IMAGE_LABELS)
    assert not np.array_equal(first, second)  # fresh pairs each epoch
    np.testing.assert_array_equal(first, draw_pairs(IMAGE_LABELS, AUDIO_LABELS, np.random.default_rng(0)))


def test_drawn_pairs_use_every_clip() -> None:
    pairs = draw_pairs(IMAGE_LABELS, AUDIO_LABELS, np.random.default_rng(1))
    assert set(pairs.tolist()) == set(range(AUDIO_LABELS.size))


def test_fixed_pairs_are_reproducible_and_balanced() -> None:
    pairs = fixed_test_pairs(IMAGE_LABELS, AUDIO_LABELS, seed=0)
    np.testing.assert_array_equal(pairs, fixed_test_pairs(IMAGE_LABELS, AUDIO_LABELS, seed=0))
    np.testing.assert_array_equal(AUDIO_LABELS[pairs], IMAGE_LABELS)
    uses = np.bincount(pairs, minlength=AUDIO_LABELS.size)
    for digit in range(10):
        per_clip = uses[AUDIO_LABELS == digit]
        assert per_clip.sum() == 50 and per_clip.max() - per_clip.min() <= 1
    assert not np.array_equal(pairs, fixed_test_pairs(IMAGE_LABELS, AUDIO_LABELS, seed=1))


def test_label_without_audio_is_an_error() -> None:
    with pytest.raises(DataError, match="label 9"):
        fixed_test_pairs(IMAGE_LABELS, AUDIO_LABELS[AUDIO_LABELS != 9])
    with pytest.raises(DataError, match="label 9"):
        draw_pairs(IMAGE_LABELS, AUDIO_LABELS[AUDIO_LABELS != 9], np.random.default_rng(0))
